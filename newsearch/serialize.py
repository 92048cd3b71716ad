"""The one JSON form of newsearch's results, shared by ``--json`` and the HTTP API.

Everything is built from the dataclasses themselves (``models.py``, ``IndexInfo``), so a field
added there appears in every JSON output, and in the API's OpenAPI document, at once. No click,
rich or web framework here: both presentations import this module.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from datetime import date, datetime
from typing import Any

#: Decimals of a float in JSON: scores are sums of idf-weighted terms; more digits say nothing
#: and differ between platforms in the last bits.
FLOAT_DIGITS = 4

#: Key order per class name: the order the JSON had before it was generated, which the README
#: documents. Fields not named here follow in their dataclass order.
_ORDER: dict[str, tuple[str, ...]] = {
    "Hit": (
        "rank",
        "path",
        "title",
        "date",
        "categories",
        "tags",
        "url",
        "source_url",
        "score",
        "match",
        "snippet",
        "highlights",
        "title_highlights",
    ),
    "IndexInfo": (
        "path",
        "posts",
        "segments",
        "size_bytes",
        "first_date",
        "last_date",
        "categories",
        "tags",
        "timezone",
        "mode",
        "drafts",
        "analysis",
        "generation",
    ),
    # ``pages`` is a property, computed from total and limit.
    "SearchResults": ("query", "total", "page", "limit", "pages", "hits"),
}

#: Properties that are part of a class's JSON although they are not fields.
_PROPERTIES: dict[str, tuple[str, ...]] = {"SearchResults": ("pages",)}

#: Fields left out while they are None: parts of a result that exist only when asked for
#: (``facets`` with facets=True, ``terms`` for similar posts, ``explain`` with explain=True,
#: ``suggestion`` when a near variant of the query finds many more posts).
_OMIT_NONE: dict[str, frozenset[str]] = {
    "SearchResults": frozenset({"facets", "terms", "suggestion"}),
    "Hit": frozenset({"explain"}),
}

#: Fields that never reach JSON: what a post was like in its file (``recovered``, ``warnings``)
#: is not kept in the index, so for an indexed post they would always say "nothing".
_OMIT: dict[str, frozenset[str]] = {"Post": frozenset({"recovered", "warnings"})}


@functools.cache
def _keys(cls: type) -> tuple[str, ...]:
    return tuple(field_names(cls))


def field_names(cls: type) -> list[str]:
    """The JSON keys of a dataclass, in order (fields left out while None included)."""
    name = cls.__name__
    omit = _OMIT.get(name, frozenset())
    names = [f.name for f in dataclasses.fields(cls) if f.name not in omit]
    names += _PROPERTIES.get(name, ())
    order = _ORDER.get(name, ())
    first = [n for n in order if n in names]
    return first + [n for n in names if n not in first]


def optional_fields(cls: type) -> frozenset[str]:
    """The JSON keys of a dataclass that are left out while the field is None."""
    return _OMIT_NONE.get(cls.__name__, frozenset())


def to_data(value: Any) -> Any:
    """``value`` as plain JSON values: dataclasses become objects, datetimes ISO 8601 strings,
    tuples lists, enums their values, floats rounded to FLOAT_DIGITS."""
    kind: type = type(value)
    # The common kinds first, by exact type: a page of hits is a few hundred small values.
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is tuple or kind is list:
        return [to_data(v) for v in value]
    if kind is float:
        return round(value, FLOAT_DIGITS)
    if kind is dict:
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        omit_none = optional_fields(kind)
        out: dict[str, Any] = {}
        for key in _keys(kind):
            item = getattr(value, key)
            if item is None and key in omit_none:
                continue
            out[key] = to_data(item)
        return out
    if isinstance(value, enum.Enum):
        return to_data(value.value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v) for v in value]
    return str(value)


def dumps(value: Any, *, indent: int | None = None) -> bytes:
    """``value`` as JSON in UTF-8, whatever a post holds.

    A lone surrogate (a file name that is not UTF-8) cannot be encoded: it is written as its
    JSON escape, which keeps the output valid UTF-8 and valid JSON.
    """
    text = json.dumps(to_data(value), ensure_ascii=False, indent=indent, allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


__all__ = ["FLOAT_DIGITS", "dumps", "field_names", "optional_fields", "to_data"]
