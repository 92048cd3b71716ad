"""Keep an index up to date with its corpus folder: index again when posts are written, moved or
deleted (``newsearch index --watch``, ``newsearch serve --watch``).

watchfiles reports changes; each round goes through the same incremental ``build_index`` as
``newsearch index``. A file still being written is waited for: a changed file is indexed only
once its size and mtime have stayed the same for ``settle`` seconds, so a half-written post is
never indexed half (a writer that pauses longer than that is seen as done; the next write is a
change like any other and is indexed again).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from typing import Any, Protocol

from .corpus import POST_SUFFIXES
from .indexer import build_index
from .models import IndexReport

#: Seconds a changed file must keep its size and mtime before it is indexed.
SETTLE = 1.0
#: A file that changes all the time (a log?) is indexed anyway after this many seconds.
MAX_WAIT = 60.0
#: watchfiles groups changes over this many milliseconds before it reports them.
DEBOUNCE_MS = 300
#: How often (milliseconds) the loop looks again at files that have not settled yet.
POLL_MS = 250


class StopEvent(Protocol):
    def is_set(self) -> bool: ...


class PostFilter:
    """Which changes may matter to the index: post files, and folders (moved or deleted).

    Hidden entries and Jekyll's ``_site`` are skipped as the corpus reader skips them; the index
    folder is skipped so that an index kept inside its corpus does not wake its own watcher.
    """

    def __init__(self, corpus_dir: str, index_dir: str):
        self.corpus = os.path.abspath(corpus_dir)
        self.index = os.path.abspath(index_dir)

    def __call__(self, change: Any, path: str) -> bool:
        path = os.path.abspath(path)
        if path == self.index or path.startswith(self.index + os.sep):
            return False
        rel = os.path.relpath(path, self.corpus)
        parts = rel.split(os.sep)
        if rel.startswith("..") or any(p.startswith(".") or p == "_site" for p in parts):
            return False
        name = parts[-1]
        if name.lower().endswith(POST_SUFFIXES):
            return True
        if os.path.isdir(path):
            return True
        # Gone, and named like a folder: a folder of posts moved away or deleted.
        return not os.path.exists(path) and "." not in name


def unsettled(paths: set[str], seen: dict[str, tuple[int, int]], settle: float) -> list[str]:
    """The files among ``paths`` that may still be being written.

    A file is settled when its size and mtime are what they were at the last look and its mtime
    is at least ``settle`` seconds old; a file that is gone is settled (a deletion is never
    half done). ``seen`` keeps what each file looked like.
    """
    now = time.time()
    out = []
    for path in sorted(paths):
        try:
            st = os.stat(path)
        except OSError:
            seen.pop(path, None)
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        sig = (st.st_size, st.st_mtime_ns)
        if seen.get(path) != sig or now - st.st_mtime < settle:
            out.append(path)
        seen[path] = sig
    return out


def watch_corpus(
    corpus_dir: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    on_report: Callable[[IndexReport], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    stop_event: StopEvent | None = None,
    settle: float = SETTLE,
    **build_options: Any,
) -> None:
    """Index ``corpus_dir`` into ``index_dir`` now and after every change, until ``stop_event``
    is set (or Ctrl+C).

    ``build_options`` go to ``build_index`` (jobs, user_dict, timezone, ...; ``rebuild`` only for
    the first round). A round that fails (``on_error``) is tried again at the next change.
    """
    import watchfiles

    corpus = os.path.abspath(os.fspath(corpus_dir))
    index = os.path.abspath(os.fspath(index_dir))
    options = {"wait_for_lock": True, **build_options}
    pending: dict[str, float] = {}
    seen: dict[str, tuple[int, int]] = {}
    first = True

    def build() -> None:
        nonlocal first
        try:
            report = build_index(corpus, index, **options)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(exc)
        else:
            if on_report is not None:
                on_report(report)
        finally:
            first = False
            options.pop("rebuild", None)

    # The watcher is running from the first round of the loop on, so the first build (which
    # catches up with what changed while nothing watched) runs inside it: a change made during
    # a build is reported in the next round.
    changes_seen = watchfiles.watch(
        corpus,
        watch_filter=PostFilter(corpus, index),
        debounce=DEBOUNCE_MS,
        step=50,
        rust_timeout=POLL_MS,
        yield_on_timeout=True,
        stop_event=stop_event,
        raise_interrupt=False,
    )
    for changes in changes_seen:
        if first:
            build()
            if on_ready is not None:
                on_ready()
        now = time.monotonic()
        for _, path in changes:
            pending.setdefault(os.path.abspath(path), now)
        if not pending:
            continue
        waiting = unsettled(set(pending), seen, settle)
        if waiting and now - min(pending[p] for p in waiting) < MAX_WAIT:
            continue
        pending.clear()
        seen.clear()
        build()


__all__ = ["MAX_WAIT", "SETTLE", "PostFilter", "unsettled", "watch_corpus"]
