"""The narrow layer over Whoosh's storage: everything that knows Whoosh's on-disk format (the
``whoosh3`` codec: blocks of pickled, zlib-compressed postings, a table of contents per commit)
lives in this package, so that a maintained fork of Whoosh could replace it without touching the
rest of newsearch.

- ``folder``: the index folder, its marker and write lock, the one way files are written,
  clean-up;
- ``checksums``: chunk checksums, computed while a file is written, verified as it is read;
- ``toc``: commits (tables of contents), read, checked and written;
- ``writer``: segments written from analysed documents, whole posting lists at a time;
- ``reader``: a commit as a ``Snapshot``, with bulk, zero-copy reads;
- ``merge``: several segments copied into one.
"""

from __future__ import annotations

from ..whoosh_import import import_whoosh

import_whoosh()

from .folder import (
    INDEX_NAME,
    LOCK_FILE,
    MARKER,
    FolderKind,
    WriteLock,
    clean_up,
    ensure_marker,
    folder_kind,
    remove_own_files,
    storage_for,
    write_marker,
)
from .merge import merge_segments
from .reader import EMPTY, Postings, SegmentView, Snapshot, VocabularyPart
from .toc import (
    Commit,
    commit_exists,
    commit_id,
    latest_generation,
    latest_generation_in,
    new_index_id,
    read_commit,
    write_commit,
)
from .writer import SegmentBuilder, SegmentWriter

__all__ = [
    "EMPTY",
    "INDEX_NAME",
    "LOCK_FILE",
    "MARKER",
    "Commit",
    "Postings",
    "SegmentBuilder",
    "SegmentView",
    "SegmentWriter",
    "Snapshot",
    "VocabularyPart",
    "WriteLock",
    "clean_up",
    "commit_exists",
    "commit_id",
    "ensure_marker",
    "FolderKind",
    "folder_kind",
    "latest_generation",
    "latest_generation_in",
    "merge_segments",
    "new_index_id",
    "read_commit",
    "remove_own_files",
    "storage_for",
    "write_commit",
    "write_marker",
]
