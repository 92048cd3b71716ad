"""The Whoosh schema of a newsearch index, its version, and how a Post becomes a document.

The schema is pickled into every commit of the index, so the classes here are part of the on-disk
format: keep their import paths stable and bump SCHEMA_VERSION when the fields change.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .whoosh_import import import_whoosh

import_whoosh()

from whoosh import columns, fields, formats

from .analysis import AnalysisSettings, Analyzer, TermCounts
from .dates import corpus_zone, from_timestamp, in_zone, iso_text, timestamp
from .models import Post, ReadingMode

#: Bump when the fields or their encoding change: older indexes must then be rebuilt.
SCHEMA_VERSION = 6

#: The date column's value for a post without a date.
NO_DATE = -(2**62)

WORD_FIELDS = ("title", "text")
SUB_FIELDS = {"title": "title_sub", "text": "text_sub"}
JOIN_FIELDS = {"title": "title_join", "text": "text_join"}
KEYWORD_FIELDS = ("categories", "tags")


class OrdinalPositions(formats.Positions):
    """Word positions as a little-endian uint32 array: encoded and decoded at C speed."""

    def encode(self, poslist: list[int]) -> bytes:
        return encode_positions(poslist)

    def decode_positions(self, valuestring: bytes) -> list[int]:
        return decode_positions(valuestring)

    def decode_frequency(self, valuestring: bytes) -> int:
        return len(valuestring) // 4

    def decode_weight(self, valuestring: bytes) -> float:
        boost: float = self.field_boost
        return len(valuestring) // 4 * boost

    def decode_position_boosts(self, valuestring: bytes) -> list[tuple[int, float]]:
        return [(p, 1.0) for p in decode_positions(valuestring)]


_BIG_ENDIAN = sys.byteorder == "big"


def encode_positions(poslist: list[int]) -> bytes:
    a = array("I", poslist)
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tobytes()


def decode_positions(data: bytes) -> list[int]:
    a = array("I", data)
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tolist()


class _Prewritten(fields.FieldType):
    """A field whose postings newsearch writes itself (store.SegmentBuilder), never Whoosh."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        raise TypeError("newsearch writes the postings of this field itself")


class WordField(_Prewritten):
    """Precise words with ordinal positions (title, text)."""

    def __init__(self, stored: bool = False):
        super().__init__(OrdinalPositions(), None, scorable=True, stored=stored)


class SubwordField(_Prewritten):
    """Search-mode sub-words with their counts (no positions): they add to the ranking only."""

    def __init__(self) -> None:
        super().__init__(formats.Frequency(), None, scorable=True, stored=False)


class JoinField(_Prewritten):
    """Two- and three-character words across word boundaries: which posts have them."""

    def __init__(self) -> None:
        super().__init__(formats.Existence(), None, scorable=False, stored=False)


class KeywordField(_Prewritten):
    """Exact-match keywords (categories, tags), normalised; the stored value keeps the spelling."""

    def __init__(self) -> None:
        super().__init__(formats.Existence(), None, scorable=False, stored=True)


class NewsearchSchema(fields.Schema):
    """Whoosh's schema plus what newsearch needs to read the index the way it was written."""

    #: Schema version of the newsearch that wrote the index.
    newsearch_version: int = 0
    #: The analysis settings and the corpus time zone, as a plain dict (see ``settings()``).
    newsearch_settings: dict[str, Any] | None = None

    def settings(self) -> IndexSettings:
        return IndexSettings.from_dict(self.newsearch_settings or {})


@dataclass(frozen=True)
class IndexSettings:
    """Analysis settings, the corpus time zone and how the folder is read: what a build must
    agree with (a change of the analysis or of the reading rebuilds the index)."""

    analysis: AnalysisSettings
    timezone: str
    #: How the corpus folder is read: ``mode`` ("jekyll site" or "folder of posts"), the site's
    #: ``permalink`` and ``drafts``. An index of an older newsearch has none: a folder of posts.
    reading: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    #: Groups of equivalent terms, applied at query time (changing them re-analyses nothing).
    synonyms: tuple[tuple[str, ...], ...] = ()

    @property
    def reading_mode(self) -> ReadingMode:
        return cast(ReadingMode, str(self.reading.get("mode") or "folder of posts"))

    @property
    def drafts(self) -> bool:
        return bool(self.reading.get("drafts", False))

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {
            # Kept for the index format; the version read is the schema's (``newsearch_version``).
            "schema_version": SCHEMA_VERSION,
            "analysis_version": a.version,
            "segmenter": a.segmenter,
            "table": dict(a.table),
            "user_dict": a.user_dict,
            "timezone": self.timezone,
            "reading": dict(self.reading),
            "synonyms": [list(g) for g in self.synonyms],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexSettings:
        analysis = AnalysisSettings(
            version=int(d.get("analysis_version", 0)),
            segmenter=str(d.get("segmenter", "")),
            table=dict(d.get("table", {})),
            user_dict=d.get("user_dict"),
        )
        reading = d.get("reading")
        synonyms = d.get("synonyms") or []
        return cls(
            analysis,
            str(d.get("timezone", "")),
            dict(reading) if isinstance(reading, dict) else {},
            tuple(tuple(str(t) for t in g) for g in synonyms if isinstance(g, list | tuple)),
        )


def make_schema(settings: IndexSettings) -> NewsearchSchema:
    schema = NewsearchSchema(
        path=fields.ID(stored=True, unique=True),
        title=WordField(stored=True),
        title_sub=SubwordField(),
        title_join=JoinField(),
        text=WordField(stored=True),
        text_sub=SubwordField(),
        text_join=JoinField(),
        categories=KeywordField(),
        tags=KeywordField(),
        url=fields.STORED(),
        source_url=fields.STORED(),
        date=fields.STORED(),
        # Per-document values read in bulk: filters, sorting, facets, incremental state.
        date_ts=fields.COLUMN(columns.NumericColumn("q", default=NO_DATE)),
        month=fields.COLUMN(columns.NumericColumn("i", default=0)),
        state=fields.COLUMN(columns.VarBytesColumn()),
    )
    schema.newsearch_version = SCHEMA_VERSION
    schema.newsearch_settings = settings.to_dict()
    return schema


# --- Post -> document --------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    """What identifies the indexed version of a file: cheap stat values plus a content hash."""

    size: int
    mtime_ns: int
    sha1: str

    def to_bytes(self) -> bytes:
        return f"{self.size}\0{self.mtime_ns}\0{self.sha1}".encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> FileState | None:
        try:
            size, mtime, sha1 = data.decode().split("\0")
            return cls(int(size), int(mtime), sha1)
        except ValueError:
            return None


def encode_state(path: str, state: FileState) -> bytes:
    """A document's ``state`` column value: its path, then its file state."""
    return path.encode("utf-8", "surrogatepass") + b"\0" + state.to_bytes()


def decode_state(raw: bytes) -> tuple[str, FileState | None]:
    path, _, rest = raw.partition(b"\0")
    return path.decode("utf-8", "surrogatepass"), FileState.from_bytes(rest)


def content_hash(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


@dataclass
class Document:
    """One post ready for a segment: stored values, column values and analysed fields."""

    path: str
    stored: dict[str, Any]
    words: dict[str, TermCounts]
    keywords: dict[str, list[str]]
    date_ts: int
    month: int
    state: bytes
    text_bytes: int = 0


def make_document(post: Post, analyzer: Analyzer, state: FileState, timezone: str) -> Document:
    """Analyse a post into what the index stores for it."""
    if post.date is not None:
        # The reader gives dates in the corpus zone already; a Post made by hand may not be.
        local = in_zone(post.date, corpus_zone(timezone)) or post.date
        date_ts = timestamp(local)  # rounded down, before 1970 too
        month = local.year * 12 + local.month - 1
        date_iso = iso_text(local)
    else:
        date_ts, month, date_iso = NO_DATE, 0, None
    normalize = analyzer.normalize
    keywords = {
        "categories": _keyword_terms(post.categories, normalize),
        "tags": _keyword_terms(post.tags, normalize),
    }
    stored = {
        "path": post.path,
        "title": post.title,
        "text": post.text,
        "url": post.url,
        "source_url": post.source_url,
        "date": date_iso,
        "categories": list(post.categories),
        "tags": list(post.tags),
    }
    return Document(
        path=post.path,
        stored=stored,
        words={"title": analyzer.terms(post.title), "text": analyzer.terms(post.text)},
        keywords=keywords,
        date_ts=date_ts,
        month=month,
        state=encode_state(post.path, state),
        text_bytes=utf8_length(post.text) + utf8_length(post.title),
    )


def utf8_length(text: str, piece: int = 1 << 20) -> int:
    """The length of ``text`` in UTF-8, without encoding a long text all at once."""
    if text.isascii():
        return len(text)
    return sum(
        len(text[i : i + piece].encode("utf-8", "surrogatepass"))
        for i in range(0, len(text), piece)
    )


def keyword_term(value: str, normalize: Any) -> str:
    """The indexed form of a category or tag: normalised, whitespace trimmed."""
    return str(normalize(value.strip()))


def _keyword_terms(values: tuple[str, ...], normalize: Any) -> list[str]:
    out: dict[str, None] = {}
    for v in values:
        t = keyword_term(v, normalize)
        if t:
            out.setdefault(t, None)
    return list(out)


def month_label(month: int) -> str:
    year, m = divmod(month, 12)
    return f"{year:04d}-{m + 1:02d}"


def ts_to_datetime(ts: int, timezone: str) -> datetime | None:
    if ts == NO_DATE:
        return None
    return from_timestamp(ts, corpus_zone(timezone))
