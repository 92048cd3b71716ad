"""Request parameters of the API and the page, checked and bounded before the library sees them.

Both the JSON API and the HTML page take the same parameters as ``newsearch search``; a value
that cannot be used is a ``BadRequest`` (HTTP 400) with a message that says which and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import (
    IndexNotFoundError,
    NewsearchError,
    NotAnIndexError,
    PostNotFoundError,
    QueryError,
    RebuildRequiredError,
)
from ..models import SORTS, Sort, is_sort

#: Longest query text accepted, in characters. A query uses its first 32 keywords anyway; this
#: keeps a request from making the server segment megabytes of text.
MAX_QUERY = 500
#: Most results on one page.
MAX_LIMIT = 100
#: Highest page number accepted (a page past the end is empty, not an error).
MAX_PAGE = 100_000
#: Most values of one repeatable filter (category, tag), and the longest value.
MAX_VALUES = 20
MAX_VALUE_LENGTH = 200
#: Longest post path accepted in /api/posts/ and /api/similar/.
MAX_PATH = 1000

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class BadRequest(Exception):
    """A parameter of a request that cannot be used (HTTP 400)."""


def status_of(exc: Exception) -> int:
    """The HTTP status of a bad parameter or a library error."""
    if isinstance(exc, BadRequest | QueryError):
        return 400
    if isinstance(exc, PostNotFoundError):
        return 404
    if isinstance(exc, IndexNotFoundError | NotAnIndexError | RebuildRequiredError):
        return 503  # no index to answer from (yet): the request itself may be fine
    if isinstance(exc, NewsearchError):
        return 400
    return 500


@dataclass(frozen=True)
class SearchRequest:
    """The parameters of one search, as ``SearchIndex.search`` takes them."""

    q: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    sort: Sort = "relevance"
    page: int = 1
    limit: int = 10
    facets: bool = False
    explain: bool = False
    pinyin: bool = True
    synonyms: bool = True

    @property
    def has_filters(self) -> bool:
        return bool(self.categories or self.tags or self.since or self.until)

    @property
    def is_empty(self) -> bool:
        return not self.q.strip() and not self.has_filters

    def kwargs(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "page": self.page,
            "categories": self.categories,
            "tags": self.tags,
            "since": self.since,
            "until": self.until,
            "sort": self.sort,
            "facets": self.facets,
            "explain": self.explain,
            "pinyin": self.pinyin,
            "synonyms": self.synonyms,
        }


class Params:
    """Query parameters as a mapping of lists (what Starlette's QueryParams gives)."""

    def __init__(self, items: Sequence[tuple[str, str]]):
        self._items: dict[str, list[str]] = {}
        for key, value in items:
            self._items.setdefault(key, []).append(value)

    def one(self, name: str) -> str | None:
        values = self._items.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f"{name} is given {len(values)} times; give it once")
        return values[0]

    def many(self, name: str) -> tuple[str, ...]:
        values = [v for v in self._items.get(name, ()) if v.strip()]
        if len(values) > MAX_VALUES:
            raise BadRequest(f"at most {MAX_VALUES} values of {name}")
        for v in values:
            if len(v) > MAX_VALUE_LENGTH:
                raise BadRequest(f"a {name} is at most {MAX_VALUE_LENGTH} characters long")
        return tuple(dict.fromkeys(values))


def integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    raw = params.one(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def flag(params: Params, name: str, default: bool = False) -> bool:
    raw = params.one(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise BadRequest(f"{name} must be true or false, not {raw!r}")


def text(params: Params, name: str, limit: int) -> str | None:
    raw = params.one(name)
    if raw is not None and len(raw) > limit:
        raise BadRequest(f"{name} is at most {limit} characters long ({len(raw)} given)")
    return raw


#: The forms of a date bound (2022, 2022-05, 2022-05-27); an empty value is no bound (what a
#: form sends for an empty field). The library checks the calendar (no 2022-02-30).
DATE_PATTERN = r"^((1[0-9]|2[0-9])[0-9]{2}(-(0?[1-9]|1[0-2])(-(0?[1-9]|[12][0-9]|3[01]))?)?)?$"


def date_bound(params: Params, name: str) -> str | None:
    raw = text(params, name, 40)
    if not raw:
        return None
    if not re.match(DATE_PATTERN, raw):
        raise BadRequest(f"bad date {raw!r} for {name}: use YYYY, YYYY-MM or YYYY-MM-DD")
    return raw


def search_request(
    items: Sequence[tuple[str, str]], *, facets: bool | None = None
) -> SearchRequest:
    """The search that a request asks for (BadRequest if a parameter cannot be used).

    Dates and the sort order are checked here for their form; the library checks the rest (a
    month 13 is a QueryError, which the server answers with 400 as well).
    """
    params = Params(items)
    sort = params.one("sort")
    sort = "relevance" if sort is None else sort
    if not is_sort(sort):
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    return SearchRequest(
        q=text(params, "q", MAX_QUERY) or "",
        categories=params.many("category"),
        tags=params.many("tag"),
        since=date_bound(params, "since"),
        until=date_bound(params, "until"),
        sort=sort,
        page=integer(params, "page", 1, 1, MAX_PAGE),
        limit=integer(params, "limit", 10, 1, MAX_LIMIT),
        facets=flag(params, "facets") if facets is None else facets,
        explain=flag(params, "explain"),
        pinyin=flag(params, "pinyin", True),
        synonyms=flag(params, "synonyms", True),
    )


#: Longest prefix accepted by /api/suggest, and most completions.
MAX_PREFIX = 100
MAX_SUGGESTIONS = 20


def suggest_request(items: Sequence[tuple[str, str]]) -> tuple[str, int]:
    """The prefix and limit of /api/suggest (an empty or missing q has no completions)."""
    params = Params(items)
    return (
        text(params, "q", MAX_PREFIX) or "",
        integer(params, "limit", 10, 1, MAX_SUGGESTIONS),
    )


def post_path(path: str) -> str:
    """A post path from the address, checked for length only: it is looked up in the index and
    never touches the file system, so ``..`` or an absolute path simply finds no post."""
    if len(path) > MAX_PATH:
        raise BadRequest(f"a post path is at most {MAX_PATH} characters long")
    return path
