"""The OpenAPI document of the JSON API, served at ``/openapi.json``.

The paths and parameters are written here; the response schemas are made from the dataclasses
and ``serialize`` (their type hints, the keys it writes, which it leaves out while None), so the
document says what the API sends, field for field, and a new field is documented when it exists.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from typing import Any

from .. import __version__, serialize
from ..engine import IndexInfo
from ..models import SORTS, Post, SearchResults, Suggestions
from . import params as P

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Hit": {
        "rank": "Position in the whole result list, from 1.",
        "path": "The post's path relative to the corpus folder: its identity.",
        "date": "ISO 8601 with the time zone, or null when the post has no date.",
        "url": "The post's permalink on its site.",
        "source_url": "The link to the original source at the end of the post, if any.",
        "score": "BM25F score (rounded to 4 decimals).",
        "match": "How the post matched: literal, all words, some words, pinyin (a Latin keyword "
        "read as pinyin), synonym, filter or similar.",
        "snippet": "About 100-160 characters of the text, cut at sentence ends.",
        "highlights": "[start, end) character offsets of matches in snippet.",
        "title_highlights": "[start, end) character offsets of matches in title.",
        "explain": "The parts of the score, as a tree whose values add up (with explain=true).",
    },
    "SearchResults": {
        "query": "The query as given (for similar posts: the key terms searched for).",
        "total": "Number of matching posts.",
        "pages": "Number of pages of `limit` hits.",
        "facets": "Counts by category and by month (YYYY-MM, or 'undated'); with facets=true.",
        "terms": "The post's key terms (similar posts only).",
        "suggestion": "Did you mean: the query with a keyword replaced by an indexed word that "
        "reads the same (or is one character apart), when the query finds none or few posts and "
        "that one many more. Never searched instead.",
    },
    "Suggestions": {
        "prefix": "The text completed, as given.",
        "suggestions": "Completions, most posts first.",
    },
    "Suggestion": {
        "text": "What to search: the keywords typed before the last one, then the completion.",
        "posts": "How many posts hold the word (or have the title).",
        "kind": "word (starts with the prefix), pinyin (its reading does) or title.",
    },
}


def _schema_of(tp: Any, refs: dict[str, type]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    if tp is object or tp is Any:
        return {}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = (
            _schema_of(options[0], refs)
            if len(options) == 1
            else {"anyOf": [_schema_of(a, refs) for a in options]}
        )
        if len(options) < len(args):
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if origin in (tuple, list, set, frozenset):
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [_schema_of(a, refs) for a in args]
            return {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        return {"type": "array", "items": _schema_of(args[0], refs) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1], refs)}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        refs[tp.__name__] = tp
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    raise TypeError(f"no JSON schema for {tp!r}")


def dataclass_schema(cls: type, refs: dict[str, type]) -> dict[str, Any]:
    """The JSON schema of what ``serialize`` writes for an instance of ``cls``."""
    hints = typing.get_type_hints(cls)
    names = serialize.field_names(cls)
    omit_none = serialize.optional_fields(cls)
    notes = DESCRIPTIONS.get(cls.__name__, {})
    props: dict[str, Any] = {}
    for name in names:
        if name in hints:
            tp = hints[name]
        else:  # a property
            tp = typing.get_type_hints(getattr(cls, name).fget)["return"]
        if name in omit_none:
            # Left out while None: the key is optional and, when there, never null.
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
        schema = _schema_of(tp, refs)
        if name in notes:
            schema = {**schema, "description": notes[name]}
        props[name] = schema
    return {
        "type": "object",
        "properties": props,
        "required": [n for n in names if n not in omit_none],
        "additionalProperties": False,
    }


ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What was wrong, in one sentence."},
        "status": {"type": "integer"},
    },
    "required": ["error", "status"],
}


def _param(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _values_param(name: str, description: str) -> dict[str, Any]:
    """A parameter that may be repeated (``?tag=a&tag=b``)."""
    schema = {
        "type": "array",
        "items": {"type": "string", "maxLength": P.MAX_VALUE_LENGTH},
        "maxItems": P.MAX_VALUES,
    }
    return _param(name, schema, description, style="form", explode=True)


DATE = {"type": "string", "maxLength": 40, "pattern": P.DATE_PATTERN}

SEARCH_PARAMETERS = [
    _param(
        "q",
        {"type": "string", "maxLength": P.MAX_QUERY},
        'The query, in newsearch\'s syntax (words, "phrases", -exclusions, A OR B, title:X, '
        "category:X, tag:X). Without q and filters there are no results.",
        example="工业经济",
    ),
    _values_param("category", "Only posts in this category (repeat for any of several)."),
    _values_param("tag", "Only posts with this tag (repeat for any of several)."),
    _param("since", DATE, "Only posts from this date on: 2022, 2022-05 or 2022-05-27."),
    _param("until", DATE, "Only posts up to this date (included), same forms."),
    _param("sort", {"type": "string", "enum": list(SORTS), "default": "relevance"}, "Order."),
    _param(
        "page",
        {"type": "integer", "minimum": 1, "maximum": P.MAX_PAGE, "default": 1},
        "Page of results (past the last page: no hits).",
    ),
    _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": P.MAX_LIMIT, "default": 10},
        "Hits per page.",
    ),
    _param(
        "facets",
        {"type": "boolean", "default": False},
        "Also count the matches by category and by month.",
    ),
    _param(
        "explain",
        {"type": "boolean", "default": False},
        "Give each hit an `explain` tree: the parts of its score (terms, fields, boosts).",
    ),
    _param(
        "pinyin",
        {"type": "boolean", "default": True},
        "A Latin keyword also finds the words it reads as in pinyin (gongxinbu, gxb: 工信部); "
        "false: only its letters.",
    ),
    _param(
        "synonyms",
        {"type": "boolean", "default": True},
        "Keywords also find their synonyms (those kept with the index); false: none.",
    ),
]

SUGGEST_PARAMETERS = [
    _param(
        "q",
        {"type": "string", "maxLength": P.MAX_PREFIX},
        "What is typed so far: its last keyword is completed (from the index's words, by "
        "their characters or their pinyin), or the whole of it (from titles).",
        example="工信",
    ),
    _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": P.MAX_SUGGESTIONS, "default": 10},
        "How many completions.",
    ),
]

PATH_PARAMETER = {
    "name": "path",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": P.MAX_PATH},
    "description": "The post's path as search results give it.",
    # A post of the sample corpus: an example that finds something there.
    "example": "finews/2022-05-27-NW202205272394760297.md",
}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    what = {
        400: "A parameter cannot be used (a bad date, a bad option, a value out of bounds).",
        404: "No post with this path in the index.",
        503: "There is no index yet (or it cannot be read); try again later.",
    }
    ref = {"$ref": "#/components/schemas/Error"}
    return {str(c): _response(what[c], ref) for c in codes}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    refs: dict[str, type] = {}

    def ref(cls: type) -> dict[str, Any]:
        return _schema_of(cls, refs)

    paths = {
        "/api/search": {
            "get": {
                "summary": "Search the posts",
                "description": "The same search as `newsearch search`, the same JSON as --json.",
                "operationId": "search",
                "parameters": SEARCH_PARAMETERS,
                "responses": {
                    "200": _response("A page of hits.", ref(SearchResults)),
                    **_errors(400, 503),
                },
            }
        },
        "/api/suggest": {
            "get": {
                "summary": "Completions of what is typed in a search box",
                "description": "The same as `newsearch suggest --json`: the index's words and "
                "titles that start with the text, or whose pinyin does, most posts first.",
                "operationId": "suggest",
                "parameters": SUGGEST_PARAMETERS,
                "responses": {
                    "200": _response("Completions.", ref(Suggestions)),
                    **_errors(400, 503),
                },
            }
        },
        "/api/posts/{path}": {
            "get": {
                "summary": "One post, with its full text",
                "operationId": "post",
                "parameters": [PATH_PARAMETER],
                "responses": {"200": _response("The post.", ref(Post)), **_errors(400, 404, 503)},
            }
        },
        "/api/similar/{path}": {
            "get": {
                "summary": "The posts most like one post",
                "description": "Its key terms (by tf-idf) searched with BM25F; `terms` lists them.",
                "operationId": "similar",
                "parameters": [
                    PATH_PARAMETER,
                    _param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": P.MAX_LIMIT, "default": 10},
                        "How many posts.",
                    ),
                ],
                "responses": {
                    "200": _response("Similar posts.", ref(SearchResults)),
                    **_errors(400, 404, 503),
                },
            }
        },
        "/api/info": {
            "get": {
                "summary": "The index: posts, dates, categories, tags, size, analysis",
                "operationId": "info",
                "responses": {"200": _response("About the index.", ref(IndexInfo)), **_errors(503)},
            }
        },
    }
    schemas: dict[str, Any] = {}
    done: set[str] = set()
    while set(refs) - done:
        for name in sorted(set(refs) - done):
            schemas[name] = dataclass_schema(refs[name], refs)
            done.add(name)
    schemas["Error"] = ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "newsearch",
            "version": __version__,
            "description": "Full-text search of a Chinese news archive (read-only).",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


__all__ = ["SEARCH_PARAMETERS", "SUGGEST_PARAMETERS", "dataclass_schema", "document"]
