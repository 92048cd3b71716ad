"""The index folder: what marks it as a newsearch index, its write lock, durable writes, and the
removal of files that no commit refers to."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.index import clean_files

from ..errors import IndexLockedError
from ..schema import SCHEMA_VERSION

INDEX_NAME = "MAIN"
#: A file that marks a folder as a newsearch index; ``--rebuild`` deletes nothing without it.
MARKER = "NEWSEARCH"
LOCK_FILE = "newsearch.lock"


def folder_kind(folder: str) -> str:
    """``missing``, ``empty``, ``newsearch`` (has the marker) or ``foreign``."""
    if not os.path.exists(folder):
        return "missing"
    if not os.path.isdir(folder):
        return "foreign"
    if os.path.isfile(os.path.join(folder, MARKER)):
        return "newsearch"
    # The lock file and a marker being written: a first build is starting there.
    ours = {LOCK_FILE, MARKER + ".tmp"}
    visible = [n for n in os.listdir(folder) if not n.startswith(".") and n not in ours]
    return "foreign" if visible else "empty"


def write_marker(folder: str) -> None:
    path = os.path.join(folder, MARKER)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"format": "newsearch", "schema_version": SCHEMA_VERSION}, fh)
        fh.write("\n")
    os.replace(tmp, path)


def storage_for(folder: str, readonly: bool = False) -> FileStorage:
    # Searches read segments through reader._SegmentFiles; Whoosh's own mmap path would copy
    # every file it opens in a segment.
    return FileStorage(folder, readonly=readonly, supports_mmap=False)


def durable(path: str) -> None:
    """Flush a file (or a folder's entries) to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot flush a folder
    finally:
        os.close(fd)


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def clean_up(storage: FileStorage, folder: str, generation: int, segments: list[Any]) -> None:
    """Delete what no commit refers to: old tables of contents, orphan segments, temp files.

    Only safe while holding the write lock and with no worker writing a segment.
    """
    clean_files(storage, INDEX_NAME, generation, segments)
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.endswith(".tmp") and os.path.isdir(path):
            _rmtree(path)
        elif name.startswith(f"_{INDEX_NAME}_") and ".toc." in name:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


class WriteLock:
    """One writer per index: an OS lock on a file, released by the OS when the process dies.

    POSIX record locks (``lockf``) belong to the process, so worker processes forked while the
    lock is held do not inherit it, and a killed indexer never leaves a lock behind. Because they
    belong to the process, two writers in one process are kept apart here (and a second lock
    never opens, then closes, the file: closing any descriptor would free the first lock).
    """

    _held: set[str] = set()
    _guard = threading.Lock()

    def __init__(self, folder: str):
        self.path = os.path.join(os.path.realpath(folder), LOCK_FILE)
        self._fd: int | None = None

    def acquire(self, wait: bool = False, poll: float = 0.2) -> None:
        while True:
            with WriteLock._guard:
                if self.path not in WriteLock._held:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                    if _try_lock(fd):
                        self._fd = fd
                        WriteLock._held.add(self.path)
                        return
                    os.close(fd)
            if not wait:
                folder = os.path.dirname(self.path)
                raise IndexLockedError(
                    f"another newsearch process is writing to the index in {folder}"
                    " (use --wait to wait for it)"
                )
            time.sleep(poll)

    def release(self) -> None:
        with WriteLock._guard:
            if self._fd is not None:
                _unlock(self._fd)
                os.close(self._fd)
                self._fd = None
                WriteLock._held.discard(self.path)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
