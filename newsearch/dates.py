"""Dates of a corpus: its time zone, exact timestamps, and the forms in which dates are shown.

One zone decides everything about a date: how a date written without an offset is read, which
day and month filters and facets put a post in, its permalink, and how it is shown (terminal,
JSON, ``show``, ``info``). That zone is the corpus zone below: an IANA zone whose offsets are
whole minutes, so that every date can be written in RFC 3339.

* Before a zone's first change of offset, tzdata gives local mean time (Shanghai ``+08:05:43``
  until 1901). The corpus zone uses instead the standard offset the zone changed to (``+08:00``),
  the offset the rest of the archive uses: a post of 1900 reads and shows like one of 2022.
* Any other offset that is not a whole number of minutes (Monrovia ``-00:44:30`` until 1972)
  is rounded to the nearest minute.
* Timestamps are whole seconds, rounded down (a date before 1970 too), computed without floats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CorpusZone",
    "corpus_zone",
    "day_text",
    "from_timestamp",
    "in_zone",
    "iso_text",
    "minute_text",
    "timestamp",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)
#: Where the search for a zone's first transition stops (every zone has left local mean time).
_SEARCH_END = datetime(2100, 1, 1)


def _whole_minutes(offset: timedelta) -> timedelta:
    seconds = offset // _SECOND
    return timedelta(minutes=(seconds + 30) // 60)


class CorpusZone(tzinfo):
    """An IANA zone with whole-minute offsets (see the module's notes)."""

    def __init__(self, key: str):
        self.key = key
        self._zone = ZoneInfo(key)
        #: The UTC instant (naive) when local mean time ends, and the offset used before it.
        self._until, self._early = _first_transition(self._zone)
        self._until_local = self._until + self._early if self._until is not None else None

    def _before(self, local: datetime) -> bool:
        return self._until_local is not None and local.replace(tzinfo=None) < self._until_local

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        if self._before(dt):
            return self._early
        offset = self._zone.utcoffset(dt.replace(tzinfo=None))
        return None if offset is None else _whole_minutes(offset)

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None or self._before(dt):
            return _ZERO
        return self._zone.dst(dt.replace(tzinfo=None))

    def tzname(self, dt: datetime | None) -> str | None:
        if dt is None:
            return self.key
        if self._before(dt):
            assert self._until is not None
            return self._zone.tzname(self._until)
        return self._zone.tzname(dt.replace(tzinfo=None))

    def fromutc(self, dt: datetime) -> datetime:
        naive = dt.replace(tzinfo=None)
        if self._until is not None and naive < self._until:
            return (naive + self._early).replace(tzinfo=self)
        local = self._zone.fromutc(naive.replace(tzinfo=self._zone))
        offset = local.utcoffset()
        assert offset is not None
        shift = _whole_minutes(offset) - offset
        return (local.replace(tzinfo=None) + shift).replace(tzinfo=self, fold=local.fold)

    def __repr__(self) -> str:
        return f"CorpusZone({self.key!r})"

    def __str__(self) -> str:
        return self.key

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return corpus_zone, (self.key,)


def _offset_at(zone: ZoneInfo, utc: datetime) -> timedelta:
    offset = zone.fromutc(utc.replace(tzinfo=zone)).utcoffset()
    assert offset is not None
    return offset


def _first_transition(zone: ZoneInfo) -> tuple[datetime | None, timedelta]:
    """When a zone's first offset (local mean time) gives way to another, and the standard
    offset it gives way to, rounded to the minute (summer time excluded: in Amsterdam the first
    change is to summer time, from an offset that stays standard). ``(None, offset)`` for a zone
    whose offset never changes."""
    first = _offset_at(zone, datetime(1, 1, 2))
    # No zone left local mean time before 1800; from then on, steps short enough not to step
    # over a summer.
    lo = datetime(1800, 1, 1) if _offset_at(zone, datetime(1800, 1, 1)) == first else None
    if lo is None:  # pragma: no cover - no such zone in tzdata today
        lo, step = datetime(1, 1, 2), timedelta(days=365)
    else:
        step = timedelta(days=56)
    while lo < _SEARCH_END:
        hi = lo + step
        if _offset_at(zone, hi) != first:
            while hi - lo > _SECOND:  # the first second with the new offset
                mid = (lo + (hi - lo) // 2).replace(microsecond=0)
                if _offset_at(zone, mid) != first:
                    hi = mid
                else:
                    lo = mid
            after = zone.fromutc(hi.replace(tzinfo=zone))
            standard = (after.utcoffset() or _ZERO) - (after.dst() or _ZERO)
            return hi, _whole_minutes(standard)
        lo = hi
    return None, _whole_minutes(first)


@cache  # one per zone name: a few hundred at most
def corpus_zone(name: str) -> CorpusZone:
    """The corpus zone of an IANA name; ValueError if there is no such zone."""
    try:
        return CorpusZone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone: {name!r}") from exc


def in_zone(date: datetime, zone: tzinfo) -> datetime | None:
    """``date`` in ``zone``, or None when the local date falls outside years 1 to 9999."""
    if date.tzinfo is zone:
        return date
    try:
        return date.astimezone(zone)
    except (OverflowError, ValueError):
        return None


def timestamp(date: datetime) -> int:
    """Whole seconds since 1970 (UTC), rounded down: exact for any year, before 1970 too."""
    return (date - EPOCH) // _SECOND


def from_timestamp(ts: int, zone: tzinfo) -> datetime:
    """The date of a timestamp in ``zone`` (as far as years 1 to 9999 go)."""
    try:
        return (EPOCH + timedelta(seconds=ts)).astimezone(zone)
    except OverflowError:
        # The UTC date is in year 0 or 10000 while the local one is not: go through the offset
        # at the edge (constant there, since no zone changes its offset near year 1 or 9999).
        edge = datetime(1, 1, 2) if ts < 0 else datetime(9999, 12, 30)
        offset = edge.replace(tzinfo=zone).utcoffset() or _ZERO
        local = datetime(1970, 1, 1) + (timedelta(seconds=ts) + offset)
        return local.replace(tzinfo=zone)


def day_text(date: datetime) -> str:
    """``2022-05-27``, the year always with four digits (``0001-01-01``)."""
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}"


def minute_text(date: datetime) -> str:
    """``2022-05-27 17:34``."""
    return f"{day_text(date)} {date.hour:02d}:{date.minute:02d}"


def iso_text(date: datetime) -> str:
    """RFC 3339 (``2022-05-27T17:34:38+08:00``): the offset is whole minutes in the corpus zone."""
    return date.isoformat()
