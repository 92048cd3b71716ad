"""Commits: the table of contents that names an index's segments, read, checked and written.

A commit is one atomic rename of a new table of contents (``_MAIN_<generation>.toc``); the
newest one is the index.
"""

from __future__ import annotations

import os
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, EmptyIndexError

from ..analysis import ANALYSIS_VERSION
from ..errors import IndexNotFoundError, NotAnIndexError, RebuildRequiredError
from ..schema import SCHEMA_VERSION, NewsearchSchema
from .folder import INDEX_NAME, durable, folder_kind, storage_for


def read_toc(folder: str, storage: FileStorage | None = None) -> TOC:
    """The last commit of the index in ``folder``, checked to be a newsearch index we can read."""
    kind = folder_kind(folder)
    if kind in ("missing", "empty"):
        raise IndexNotFoundError(f"no index in {folder} (build one with: newsearch index)")
    if kind == "foreign":
        raise NotAnIndexError(f"{folder} is not a newsearch index")
    storage = storage or storage_for(folder, readonly=True)
    try:
        toc = TOC.read(storage, INDEX_NAME)
    except EmptyIndexError as exc:
        raise IndexNotFoundError(f"the index in {folder} has no commit yet") from exc
    except Exception as exc:  # a truncated or foreign table of contents
        raise NotAnIndexError(f"the index in {folder} cannot be read ({exc}); rebuild it") from exc
    schema = toc.schema
    if not isinstance(schema, NewsearchSchema):
        raise NotAnIndexError(f"{folder} holds a Whoosh index that newsearch did not write")
    analysis = schema.settings().analysis.version
    if schema.newsearch_version != SCHEMA_VERSION or analysis != ANALYSIS_VERSION:
        raise RebuildRequiredError(
            f"the index in {folder} was built by another newsearch version (index format "
            f"{schema.newsearch_version}, analysis {analysis}; this newsearch {SCHEMA_VERSION}, "
            f"{ANALYSIS_VERSION}): rebuild it with: newsearch index --rebuild"
        )
    return toc


def latest_generation(storage: FileStorage) -> int:
    """The generation of the newest table of contents in the folder (-1: none)."""
    return int(TOC._latest_generation(storage, INDEX_NAME))


def latest_generation_in(folder: str) -> int:
    """The same for a folder, or -1 when it cannot be listed."""
    try:
        return latest_generation(storage_for(folder, readonly=True))
    except Exception:
        return -1


def commit(
    storage: FileStorage, schema: NewsearchSchema, segments: list[Any], generation: int
) -> None:
    """Make ``segments`` the index: one atomic rename of a new table of contents.

    The segments' files are on disk before (see ``durable``); the new table of contents and the
    folder entry that names it are flushed after, so a power cut keeps a whole commit too.
    """
    TOC(schema, segments, generation).write(storage, INDEX_NAME)
    durable(os.path.join(storage.folder, TOC._filename(INDEX_NAME, generation)))
    durable(storage.folder)
