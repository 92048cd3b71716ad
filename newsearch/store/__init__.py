"""The narrow layer over Whoosh's storage: everything that knows Whoosh's on-disk format (the
``whoosh3`` codec: blocks of pickled, zlib-compressed postings, a table of contents per commit)
lives in this package, so that a maintained fork of Whoosh could replace it without touching the
rest of newsearch.

- ``folder``: the index folder, its marker and write lock, durable writes, clean-up;
- ``toc``: commits (tables of contents), read, checked and written;
- ``writer``: segments written from analysed documents, whole posting lists at a time;
- ``reader``: a commit as a ``Snapshot``, with bulk, zero-copy reads;
- ``merge``: several segments copied into one.
"""

from __future__ import annotations

from .folder import (
    INDEX_NAME,
    LOCK_FILE,
    MARKER,
    WriteLock,
    clean_up,
    durable,
    folder_kind,
    storage_for,
    write_marker,
)
from .merge import merge_segments
from .reader import EMPTY, Postings, SegmentView, Snapshot
from .toc import commit, latest_generation, latest_generation_in, read_toc
from .writer import SegmentBuilder, SegmentWriter

__all__ = [
    "EMPTY",
    "INDEX_NAME",
    "LOCK_FILE",
    "MARKER",
    "Postings",
    "SegmentBuilder",
    "SegmentView",
    "SegmentWriter",
    "Snapshot",
    "WriteLock",
    "clean_up",
    "commit",
    "durable",
    "folder_kind",
    "latest_generation",
    "latest_generation_in",
    "merge_segments",
    "read_toc",
    "storage_for",
    "write_marker",
]
