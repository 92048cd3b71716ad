"""The index a server process answers from: opened when it first exists, moved to each new commit.

Every request asks ``LiveIndex.get()`` for the index. It opens the index the first time one
exists (until then requests get ``IndexNotFoundError``: 503) and calls ``SearchIndex.refresh()``
when the index folder has changed since it last looked, so the next request after a commit sees
it. A refresh that fails (a commit or a merge under way, a rebuild that has not finished) keeps
the commit already open: a request never fails because the index is being written.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ..engine import SearchIndex
from ..errors import IndexNotFoundError, NewsearchError

log = logging.getLogger("newsearch.serve")

#: A folder changed less than this many seconds before it was looked at may change again within
#: the same tick of the file system's clock without its stat changing: refresh every time then.
CLOCK_MARGIN = 2.0


def _signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


class LiveIndex:
    """One SearchIndex per process, kept on the newest commit."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self._ix: SearchIndex | None = None
        self._seen: tuple[int, int, int, int] | None = None
        self._lock = threading.Lock()

    def get(self) -> SearchIndex:
        """The index at its newest commit (IndexNotFoundError while there is none)."""
        # Reading the table of contents costs about a millisecond, a sixth of a search: look
        # at the folder first (a commit renames a new table of contents into it, which changes
        # the folder's mtime; a rebuild that swaps the folder changes its inode).
        now = time.time()
        sig = _signature(self.path)
        with self._lock:
            ix = self._ix
            if ix is None:
                return self._open(sig, now)
            if sig is not None and sig == self._seen:
                return ix
            try:
                ix.refresh()
            except (NewsearchError, OSError) as exc:
                # Rebuilt, removed, or caught between two files of a commit: keep answering from
                # the commit that is open, and look again at the next request.
                log.warning("index not refreshed (%s); answering from generation kept", exc)
                return ix
            self._remember(sig, now)
            return ix

    def _open(self, sig: tuple[int, int, int, int] | None, now: float) -> SearchIndex:
        try:
            ix = SearchIndex(self.path)
        except IndexNotFoundError as exc:
            raise IndexNotFoundError(
                f"{exc}; the server answers as soon as an index exists there"
            ) from exc
        self._ix = ix
        self._remember(sig, now)
        return ix

    def _remember(self, sig: tuple[int, int, int, int] | None, now: float) -> None:
        # Trust the folder's stat only if it was taken well after its last change.
        recent = sig is None or now - sig[2] / 1e9 < CLOCK_MARGIN
        self._seen = None if recent else sig

    def close(self) -> None:
        with self._lock:
            if self._ix is not None:
                self._ix.close()
                self._ix = None
