"""newsearch: Chinese full-text search for folders of Jekyll news posts.

Build an index from a corpus folder, then search it::

    import newsearch
    newsearch.build_index("corpus", "index")
    with newsearch.open_index("index") as ix:
        for hit in ix.search("工业经济", limit=5):
            print(hit.title, hit.snippet)
"""

from __future__ import annotations

from .corpus import read_corpus, read_post
from .engine import IndexInfo, SearchIndex, open_index
from .errors import (
    BuildError,
    CorpusError,
    IndexLockedError,
    IndexNotFoundError,
    NewsearchError,
    NotAnIndexError,
    PostNotFoundError,
    QueryError,
    RebuildRequiredError,
)
from .indexer import Progress, build_index
from .models import Hit, IndexReport, Post, Problem, ReadResult, SearchResults

__version__ = "0.1.0"

__all__ = [
    "BuildError",
    "CorpusError",
    "Hit",
    "IndexInfo",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "NewsearchError",
    "NotAnIndexError",
    "Post",
    "PostNotFoundError",
    "Problem",
    "Progress",
    "QueryError",
    "ReadResult",
    "RebuildRequiredError",
    "SearchIndex",
    "SearchResults",
    "build_index",
    "open_index",
    "read_corpus",
    "read_post",
    "__version__",
]
