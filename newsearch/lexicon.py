"""The index's words over a whole snapshot: how many posts hold each, their pinyin readings, the
readings of their characters, and the posts' titles, for pinyin search, did-you-mean and
suggestions as you type.

Everything comes from the segments' readings files (``store/readings.py``), read when first
needed and kept for the snapshot; nothing here computes a reading (no pypinyin at query time).
Counts are summed over segments and include posts deleted since their segment was written,
until a merge drops them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .store import Snapshot
from .store.readings import SegmentReadings

#: Key of the lexicon in a snapshot's memo.
_MEMO = "lexicon"
#: Pinyin matches are indexed words of at least this many characters: a single syllable reads
#: as dozens of characters (homophones everywhere).
MIN_PINYIN_CHARS = 2
#: A prefix range larger than this is served from words sorted by count (the first matches are
#: the best ones) instead of being ranked whole.
_RANGE_LIMIT = 2000
#: Readings combinations tried for the homophones of one word (polyphonic characters multiply).
_MAX_COMBINATIONS = 64
_END = "\U0010ffff"


def _prefix_range(keys: Sequence[str], prefix: str) -> tuple[int, int]:
    return bisect_left(keys, prefix), bisect_left(keys, prefix + _END)


class _Sorted:
    """Keys sorted for prefix ranges, each with a value and a count; and the same entries by
    count, in buckets by first character, for large ranges.

    Tuples, not lists, as everything the lexicon keeps: a snapshot keeps it for its life, and
    the garbage collector stops walking a tuple of strings or numbers once it has seen one,
    never a list (the lexicon's lists were a third of a full collection at 144,264 posts)."""

    def __init__(self, entries: Iterable[tuple[str, str, int]]):
        rows = sorted(entries)
        self.keys = tuple(k for k, _, _ in rows)
        self.values = tuple(v for _, v, _ in rows)
        self.counts = tuple(c for _, _, c in rows)
        self._by_count: dict[str, tuple[tuple[str, str, int], ...]] | None = None

    def _buckets(self) -> dict[str, tuple[tuple[str, str, int], ...]]:
        if self._by_count is None:
            buckets: dict[str, list[tuple[str, str, int]]] = {}
            for k, v, c in zip(self.keys, self.values, self.counts, strict=True):
                buckets.setdefault(k[:1], []).append((k, v, c))
            self._by_count = {
                first: tuple(sorted(rows, key=lambda r: (-r[2], r[1])))
                for first, rows in buckets.items()
            }
        return self._by_count

    def top(
        self, prefix: str, limit: int, keep: Callable[[str], bool] | None = None
    ) -> list[tuple[str, int]]:
        """The values whose keys start with ``prefix``, most posts first: (value, count)."""
        if not prefix:
            return []
        lo, hi = _prefix_range(self.keys, prefix)
        if hi - lo <= _RANGE_LIMIT:
            rows = [
                (self.values[i], self.counts[i])
                for i in range(lo, hi)
                if keep is None or keep(self.values[i])
            ]
            best = heapq.nsmallest(limit, rows, key=lambda r: (-r[1], r[0]))
        else:
            best = []
            for k, v, c in self._buckets().get(prefix[0], ()):
                if k.startswith(prefix) and (keep is None or keep(v)):
                    best.append((v, c))
                    if len(best) >= limit:
                        break
        return best


class Lexicon:
    """The words, readings and titles of one snapshot (see the module docstring)."""

    def __init__(self, snap: Snapshot):
        self.snap = snap
        self._lock = threading.RLock()
        self._parts: list[tuple[int, SegmentReadings]] | None = None
        self._counts: dict[str, int] | None = None
        self._readings: dict[str, tuple[str, str]] | None = None
        self._by_reading: dict[str, tuple[str, ...]] | None = None
        self._by_initials: dict[str, tuple[str, ...]] | None = None
        self._chars: dict[str, tuple[str, ...]] | None = None
        self._words: _Sorted | None = None
        self._reversed: tuple[str, ...] | None = None
        self._pinyin: _Sorted | None = None
        self._initials: _Sorted | None = None
        self._titles: _Sorted | None = None

    @classmethod
    def of(cls, snap: Snapshot) -> Lexicon:
        lexicon: Lexicon = snap.memo(_MEMO, lambda: cls(snap))
        return lexicon

    def _make(self, name: str, build: Callable[[], Any]) -> Any:
        value = getattr(self, name)
        if value is None:
            with self._lock:
                value = getattr(self, name)
                if value is None:
                    value = build()
                    setattr(self, name, value)
        return value

    # --- what the segments hold -------------------------------------------------------------

    def parts(self) -> list[tuple[int, SegmentReadings]]:
        """(first docnum, readings) of each segment that has a readings file."""

        def build() -> list[tuple[int, SegmentReadings]]:
            out = []
            for view in self.snap.segments:
                got = view.readings()
                if got is not None:
                    out.append((view.offset, got))
            return out

        parts: list[tuple[int, SegmentReadings]] = self._make("_parts", build)
        return parts

    def counts(self) -> dict[str, int]:
        """word -> posts that hold it (as a word of its own, or only inside longer words)."""

        def build() -> dict[str, int]:
            parts = self.parts()
            if len(parts) == 1:
                return dict(zip(parts[0][1].words, parts[0][1].counts, strict=True))
            out: dict[str, int] = {}
            get = out.get
            for _, p in parts:
                for w, c in zip(p.words, p.counts, strict=True):
                    out[w] = get(w, 0) + c
            return out

        counts: dict[str, int] = self._make("_counts", build)
        return counts

    def count(self, word: str) -> int:
        return self.counts().get(word, 0)

    def readings(self) -> dict[str, tuple[str, str]]:
        """Han word -> (toneless reading, initials)."""

        def build() -> dict[str, tuple[str, str]]:
            out: dict[str, tuple[str, str]] = {}
            for _, p in self.parts():
                for w, r, i in zip(p.words, p.readings, p.initials, strict=True):
                    if r:
                        out[w] = (r, i)
            return out

        readings: dict[str, tuple[str, str]] = self._make("_readings", build)
        return readings

    def _index(self, which: int) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for w, pair in self.readings().items():
            if len(w) >= MIN_PINYIN_CHARS:
                out.setdefault(pair[which], []).append(w)
        counts = self.counts()
        return {
            key: tuple(sorted(words, key=lambda w: (-counts.get(w, 0), w)))
            for key, words in out.items()
        }

    def chars(self) -> dict[str, tuple[str, ...]]:
        def build() -> dict[str, tuple[str, ...]]:
            out: dict[str, tuple[str, ...]] = {}
            for _, p in self.parts():
                for c, rs in p.chars.items():
                    have = out.get(c)
                    out[c] = rs if have is None else tuple(dict.fromkeys(have + rs))
            return out

        chars: dict[str, tuple[str, ...]] = self._make("_chars", build)
        return chars

    # --- pinyin -----------------------------------------------------------------------------

    def by_reading(self, letters: str) -> tuple[str, ...]:
        """Words of two characters or more whose toneless reading is ``letters``, most posts
        first."""
        index: dict[str, tuple[str, ...]] = self._make("_by_reading", lambda: self._index(0))
        return index.get(letters, ())

    def by_initials(self, letters: str) -> tuple[str, ...]:
        """Words whose syllables start with ``letters``, one letter each, most posts first."""
        index: dict[str, tuple[str, ...]] = self._make("_by_initials", lambda: self._index(1))
        return index.get(letters, ())

    def homophones(self, word: str) -> list[str]:
        """Other indexed words of the same length that can read as ``word`` does (any reading
        of each of its characters), most posts first."""
        chars = self.chars()
        options = [chars.get(c) for c in word]
        if not all(options):
            return []
        out: dict[str, None] = {}
        combos = itertools.islice(itertools.product(*options), _MAX_COMBINATIONS)  # type: ignore[arg-type]
        for combo in combos:
            for w in self.by_reading("".join(combo)):
                if len(w) == len(word) and w != word:
                    out.setdefault(w, None)
        counts = self.counts()
        return sorted(out, key=lambda w: (-counts.get(w, 0), w))

    def one_apart(self, word: str) -> list[str]:
        """Indexed words of the same length that differ from ``word`` in one character."""
        n = len(word)
        if n < 2:
            return []
        words = self._sorted_words().keys
        out: dict[str, None] = {}
        for i in range(1, n):
            # Words starting with word[:i]: those that differ at a later position.
            lo, hi = _prefix_range(words, word[:i])
            if hi - lo > 50_000:
                continue
            for k in range(lo, hi):
                w = words[k]
                if len(w) == n and w != word and _one_apart(w, word):
                    out.setdefault(w, None)
        # Words that differ in the first character: the same ending, found reversed.
        rev = self._reversed_words()
        tail = word[:0:-1]
        lo, hi = _prefix_range(rev, tail)
        for k in range(lo, hi):
            w = rev[k][::-1]
            if len(w) == n and w != word:
                out.setdefault(w, None)
        counts = self.counts()
        return sorted(out, key=lambda w: (-counts.get(w, 0), w))

    # --- prefixes ---------------------------------------------------------------------------

    def _sorted_words(self) -> _Sorted:
        def build() -> _Sorted:
            return _Sorted((w, w, c) for w, c in self.counts().items())

        words: _Sorted = self._make("_words", build)
        return words

    def _reversed_words(self) -> tuple[str, ...]:
        def build() -> tuple[str, ...]:
            return tuple(sorted(w[::-1] for w in self.counts()))

        rev: tuple[str, ...] = self._make("_reversed", build)
        return rev

    def complete_words(self, prefix: str, limit: int) -> list[tuple[str, int]]:
        """Indexed words that start with ``prefix`` (normalised), most posts first."""
        return self._sorted_words().top(prefix, limit)

    def complete_pinyin(self, letters: str, limit: int, initials: bool) -> list[tuple[str, int]]:
        """Words whose reading (or, with ``initials``, whose initials) start with ``letters``."""
        counts = self.counts()

        def build_readings() -> _Sorted:
            return _Sorted((r, w, counts.get(w, 0)) for w, (r, _) in self.readings().items())

        def build_initials() -> _Sorted:
            return _Sorted(
                (i, w, counts.get(w, 0))
                for w, (_, i) in self.readings().items()
                if len(w) >= MIN_PINYIN_CHARS
            )

        found = self._make("_pinyin", build_readings).top(letters, limit)
        if initials:
            found += self._make("_initials", build_initials).top(letters, limit)
        best: dict[str, int] = {}
        for w, c in found:
            best[w] = c
        return heapq.nsmallest(limit, best.items(), key=lambda r: (-r[1], r[0]))

    def complete_titles(
        self, prefix: str, limit: int, normalize: Callable[[str], str]
    ) -> list[tuple[str, int]]:
        """Titles of live posts that start with ``prefix`` (normalised): (title, posts)."""

        def build() -> _Sorted:
            per: dict[tuple[str, str], int] = {}
            for base, p in self.parts():
                deleted = self._deleted(base)
                for d, title in zip(p.title_docs, p.titles, strict=True):
                    if d not in deleted:
                        key = (normalize(title), title)
                        per[key] = per.get(key, 0) + 1
            return _Sorted((k, t, c) for (k, t), c in per.items())

        titles: _Sorted = self._make("_titles", build)
        return titles.top(prefix, limit)

    def _deleted(self, base: int) -> frozenset[int]:
        for view in self.snap.segments:
            if view.offset == base:
                return view.deleted
        return frozenset()


def _one_apart(a: str, b: str) -> bool:
    return sum(1 for x, y in zip(a, b, strict=True) if x != y) == 1


__all__ = ["MIN_PINYIN_CHARS", "Lexicon"]
