"""Query text to a query: keywords, "exact phrases", -exclusions, OR, title:/category:/tag:.

Parsing never fails: anything that is not valid syntax (a lone quote, ``title:`` with nothing after
it, a dangling OR) is searched as text. Dates and other options are checked here too.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final, Literal

from .dates import corpus_zone
from .errors import QueryError
from .models import SORTS, Sort, is_sort

#: Quote pairs a Chinese keyboard produces as well as ASCII double quotes.
_QUOTES = {'"': '"', "“": "”", "”": "”", "「": "」", "『": "』", "＂": "＂"}
_FIELDS: dict[str, ClauseKind] = {
    "title": "title",
    "category": "category",
    "cat": "category",
    "tag": "tag",
    "标题": "title",
    "分类": "category",
    "标签": "tag",
}
_FIELD_RE = re.compile(r"^([A-Za-z\u4e00-\u9fff]+)[:：](.*)$", re.S)
_SPACE = re.compile(r"\s+")

#: Clause kinds. ``text`` ranks by words and literal matches; the others must match.
ClauseKind = Literal["text", "phrase", "title", "category", "tag"]
TEXT: Final = "text"
PHRASE: Final = "phrase"
TITLE: Final = "title"
CATEGORY: Final = "category"
TAG: Final = "tag"
REQUIRED_KINDS: frozenset[ClauseKind] = frozenset({PHRASE, TITLE, CATEGORY, TAG})


@dataclass(frozen=True)
class Clause:
    """One piece of a query: what to look for and how."""

    kind: ClauseKind
    text: str


@dataclass(frozen=True)
class ParsedQuery:
    """Positive groups (each a tuple of OR alternatives) and exclusions."""

    groups: tuple[tuple[Clause, ...], ...] = ()
    excluded: tuple[Clause, ...] = ()

    @property
    def clauses(self) -> tuple[Clause, ...]:
        return tuple(c for g in self.groups for c in g)


def parse_query(text: str) -> ParsedQuery:
    """Parse a query string; never raises."""
    items = _split(text or "")
    groups: list[list[Clause]] = []
    excluded: list[Clause] = []
    join_next = False
    for raw, quoted in items:
        if not quoted and raw == "OR":
            if groups and not join_next:
                join_next = True
                continue
            # A leading or doubled OR is just the word.
        negative = False
        body, body_quoted = raw, quoted
        if not quoted and raw.startswith("-") and len(raw) > 1:
            negative = True
            body = raw[1:]
            if len(body) >= 2 and body[0] in _QUOTES and body.endswith(_QUOTES[body[0]]):
                body, body_quoted = body[1:-1], True
        clause = _clause(body, body_quoted)
        if clause is None:
            join_next = False
            continue
        if negative:
            excluded.append(clause)
            join_next = False
            continue
        if join_next and groups:
            groups[-1].append(clause)
        else:
            groups.append([clause])
        join_next = False
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))


def _clause(body: str, quoted: bool) -> Clause | None:
    body = body.strip()
    if not body:
        return None
    if quoted:
        return Clause(PHRASE, body)
    m = _FIELD_RE.match(body)
    if m and m.group(1).lower() in _FIELDS and m.group(2).strip():
        kind = _FIELDS[m.group(1).lower()]
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] in _QUOTES and value.endswith(_QUOTES[value[0]]):
            value = value[1:-1].strip()
        if value:
            return Clause(kind, value)
    return Clause(TEXT, body)


def _split(text: str) -> list[tuple[str, bool]]:
    """Whitespace-separated items; a quoted span (with its closing quote) is one item.

    A prefix glued to a quote stays with it (``-"a b"``, ``title:"a b"``). An unclosed quote is
    dropped and the rest is read as plain text.
    """
    items: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    buf: list[str] = []

    def flush() -> None:
        if buf:
            items.append(("".join(buf), False))
            buf.clear()

    while i < n:
        ch = text[i]
        if ch.isspace():
            flush()
            i += 1
            continue
        if ch in _QUOTES:
            close = text.find(_QUOTES[ch], i + 1)
            if close == -1:
                i += 1  # an unbalanced quote is not syntax
                continue
            inner = text[i + 1 : close]
            prefix = "".join(buf)
            buf.clear()
            if (
                prefix in ("-", "")
                or prefix.rstrip(":：").lower() in _FIELDS
                or prefix.startswith("-")
            ):
                if prefix == "":
                    items.append((inner, True))
                else:
                    items.append((prefix + ch + inner + _QUOTES[ch], False))
            else:
                if prefix:
                    items.append((prefix, False))
                items.append((inner, True))
            i = close + 1
            continue
        buf.append(ch)
        i += 1
    flush()
    return [(t, q) for t, q in items if t.strip() or q]


# --- options -----------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?\s*$")


def parse_date_bound(
    value: str | date | datetime | None, timezone: str, *, end: bool
) -> datetime | None:
    """``2022``, ``2022-05`` or ``2022-05-27`` in the corpus time zone, as an inclusive bound.

    A start bound is the first instant of the period, an end bound its last (so ``9999`` and
    ``9999-12-31`` are bounds like any other).
    """
    if value is None or value == "":
        return None
    tz = corpus_zone(timezone)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time.max if end else time.min, tz)
    m_ = _DATE_RE.match(str(value))
    if not m_:
        raise QueryError(f"bad date {value!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
    y = int(m_.group(1))
    mo = int(m_.group(2)) if m_.group(2) else None
    d = int(m_.group(3)) if m_.group(3) else None
    try:
        if mo is None:
            first, last = date(y, 1, 1), date(y, 12, 31)
        elif d is None:
            first = date(y, mo, 1)
            last = date(y, mo, calendar.monthrange(y, mo)[1])
        else:
            first = last = date(y, mo, d)
    except ValueError as exc:
        raise QueryError(f"bad date {value!r}: {exc}") from exc
    # The last instant is built directly: the first instant of the next period may not exist.
    return datetime.combine(last, time.max, tz) if end else datetime.combine(first, time.min, tz)


def check_sort(sort: str) -> Sort:
    if not is_sort(sort):
        raise QueryError(f"unknown sort order {sort!r}: use one of {', '.join(SORTS)}")
    return sort
