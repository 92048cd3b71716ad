"""newsearch: Chinese full-text search for folders of Jekyll news posts.

Build an index from a corpus folder, then search it::

    import newsearch
    newsearch.build_index("corpus", "index")
    with newsearch.open_index("index") as ix:
        for hit in ix.search("工业经济", limit=5):
            print(hit.title, hit.snippet)

Names are imported on first use, so that ``import newsearch`` stays cheap for a command that
only searches.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_index": "indexer",
    "Progress": "models",
    "open_index": "engine",
    "SearchIndex": "engine",
    "IndexInfo": "models",
    "check_index": "store.check",
    "CheckReport": "models",
    "CheckProblem": "models",
    "read_corpus": "corpus",
    "read_post": "corpus",
    "Explanation": "models",
    "Hit": "models",
    "IndexReport": "models",
    "Post": "models",
    "Problem": "models",
    "ReadResult": "models",
    "SearchResults": "models",
    "NewsearchError": "errors",
    "ArgumentTypeError": "errors",
    "BuildError": "errors",
    "CorpusError": "errors",
    "IndexClosedError": "errors",
    "IndexDamagedError": "errors",
    "IndexLockedError": "errors",
    "IndexWriteError": "errors",
    "IndexNotFoundError": "errors",
    "InvalidArgumentError": "errors",
    "NotAnIndexError": "errors",
    "PostError": "errors",
    "PostNotFoundError": "errors",
    "QueryError": "errors",
    "RebuildRequiredError": "errors",
}

__all__ = [
    "ArgumentTypeError",
    "BuildError",
    "CheckProblem",
    "CheckReport",
    "CorpusError",
    "Explanation",
    "Hit",
    "IndexClosedError",
    "IndexDamagedError",
    "IndexInfo",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexWriteError",
    "InvalidArgumentError",
    "NewsearchError",
    "NotAnIndexError",
    "Post",
    "PostError",
    "PostNotFoundError",
    "Problem",
    "Progress",
    "QueryError",
    "ReadResult",
    "RebuildRequiredError",
    "SearchIndex",
    "SearchResults",
    "__version__",
    "build_index",
    "check_index",
    "open_index",
    "read_corpus",
    "read_post",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'newsearch' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .corpus import read_corpus, read_post
    from .engine import SearchIndex, open_index
    from .errors import (
        ArgumentTypeError,
        BuildError,
        CorpusError,
        IndexClosedError,
        IndexDamagedError,
        IndexLockedError,
        IndexNotFoundError,
        IndexWriteError,
        InvalidArgumentError,
        NewsearchError,
        NotAnIndexError,
        PostError,
        PostNotFoundError,
        QueryError,
        RebuildRequiredError,
    )
    from .indexer import build_index
    from .models import (
        CheckProblem,
        CheckReport,
        Explanation,
        Hit,
        IndexInfo,
        IndexReport,
        Post,
        Problem,
        Progress,
        ReadResult,
        SearchResults,
    )
    from .store.check import check_index
