"""Snippets of long posts from word positions: where the query's words and literal pieces are in
a post is read from the index, the best window is chosen among word positions, and only the
piece of text around it is read, cut into words and searched (``highlight.passage_snippet``).

A post of megabytes then costs a snippet about what a post of a few KB does: the positions of a
few words, one piece of about 4K characters decompressed and cut into words (to find where a
word position is), and a passage of about 1,100 characters searched. Posts stored whole (below
``analysis.LONG_TEXT`` characters) get their snippet from the whole text, as they always did.

Where an item of the query is, in the order tried (the first that finds it is used: a window
needs the item's places in the post, the passage's text then has every occurrence near them):

1. the positions where the words it is made of, as the query cuts it, stand one after the
   other (a query word: its positions; a literal piece: only separators, which literal
   matching ignores, stand between its words);
2. the positions of the words that contain it (a sub-word, ``亚迪`` in ``比亚迪``), when there
   are at most ``_MAX_TERMS`` such words in the index;
3. its occurrences in the text, read in the pieces whose filter of character pairs may hold it
   (``analysis.pair_filter``), at most ``_TEXT_CHECKS`` pieces a post: a piece that runs
   across words cut otherwise than in the query (``振工业经`` in ``提振|工业|经济``), or that
   joins the end of one word to the start of the next (``业经`` in ``工业|经济``).

Highlights come from the passage's text, never from positions.
"""

from __future__ import annotations

import re
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from .analysis import BOUNDARY, Analyzer, literal_pattern, may_hold, pair_probe
from .highlight import SNIPPET_MAX, HighlightQuery, Passage, Snippet, passage_snippet
from .matching import Matcher
from .store.texts import LongText

#: The field whose positions locate a snippet (titles are short: highlighted whole).
FIELD = "text"
#: Words in a window scored in position space: about a snippet's length of Chinese text.
WINDOW_WORDS = 64
#: Windows scored per query item are limited so that scoring costs about this many lookups.
_SCORING_BUDGET = 4096
#: Words containing an item looked at (more: the item is looked for in the text).
_MAX_TERMS = 64
#: Pieces of text read to find items in the text, per post (about 0.4 ms each).
_TEXT_CHECKS = 6
#: Words of an item whose pieces of text are looked at before all pieces are.
_ANCHORS = 3
#: Lists of positions shorter than this are merged into one for scoring windows.
_SHORT = 512
#: Query plans kept (one per distinct query).
_PLANS = 64

_NONE: array[int] = array("I")
_HAN_RUN = re.compile("[\u4e00-\u9fd5]+")


@dataclass(frozen=True)
class _Item:
    """One query item: a literal piece (weight 3) or a query word (weight 1), as old
    ``make_snippet`` weighs them."""

    weight: float
    #: The words the item is made of, as the query cuts it.
    words: tuple[str, ...]
    #: The item as literal matching sees it (a token string).
    piece: str
    #: The text whose containing words also locate it ("" when it cannot be inside a word).
    inner: str


class Passages:
    """Snippets of the long posts of one snapshot (one per SearchIndex commit)."""

    def __init__(self, matcher: Matcher, analyzer: Analyzer):
        self.matcher = matcher
        self.analyzer = analyzer
        self._plans: dict[HighlightQuery, list[_Item]] = {}
        self._inner: dict[str, tuple[str, ...] | None] = {}

    def snippet(
        self, docnum: int, text: LongText, hq: HighlightQuery, max_len: int = SNIPPET_MAX
    ) -> Snippet:
        """The snippet of a long post: the same kind of window, with exact highlights, as
        ``highlight.make_snippet`` gives, read from one piece of the text."""
        post = _Post(self, docnum, text)
        located = [(item.weight, post.locate(item)) for item in self._items(hq)]
        start = best_window(located, WINDOW_WORDS)
        char = post.char_of(start) if start is not None else 0
        return passage_snippet(post.passage(char, max_len), self.analyzer, hq, max_len)

    def _items(self, hq: HighlightQuery) -> list[_Item]:
        items = self._plans.get(hq)
        if items is None:
            cuts = hq.piece_words if len(hq.piece_words) == len(hq.pieces) else None
            items = [
                self._item(3.0, p, cuts[k] if cuts is not None else None)
                for k, p in enumerate(hq.pieces)
            ]
            items += [
                self._item(1.0, self.analyzer.token_string(w), (w,)) for w in sorted(hq.words)
            ]
            if len(self._plans) >= _PLANS:
                self._plans.clear()
            self._plans[hq] = items
        return items

    def _item(self, weight: float, piece: str, words: tuple[str, ...] | None) -> _Item:
        if words is None:
            tokens = self.analyzer.tokens(piece.replace(BOUNDARY, " "), subwords=False)
            words = tuple(t.text for t in tokens)
        text = piece.replace(BOUNDARY, "")
        # Only a Han piece may stand inside a word: a run of letters and digits is one word.
        inner = text if len(text) >= 2 and _HAN_RUN.fullmatch(text) else ""
        return _Item(weight, words, piece, inner)

    def inner_words(self, text: str) -> tuple[str, ...] | None:
        """The words of the index that contain ``text`` (None when there are too many)."""
        if text not in self._inner:
            found = self.matcher.vocabulary(FIELD).containing(text)
            found.discard(text)
            if len(self._inner) >= 1024:
                self._inner.clear()
            self._inner[text] = tuple(sorted(found)) if len(found) <= _MAX_TERMS else None
        return self._inner[text]


class _Post:
    """One long post while its snippet is made: positions and pieces read once each."""

    def __init__(self, passages: Passages, docnum: int, text: LongText):
        self.passages = passages
        self.analyzer = passages.analyzer
        self.snap = passages.matcher.snap
        self.doc = docnum
        self.text = text
        self._positions: dict[str, array[int]] = {}
        self._pieces: dict[int, str] = {}
        self._norms: dict[int, str] = {}
        self._starts: dict[int, array[int]] = {}
        #: Pieces that may still be read to check an item on the text.
        self._checks = _TEXT_CHECKS

    # --- where the items are --------------------------------------------------------------------

    def locate(self, item: _Item) -> list[Sequence[int]]:
        """Where ``item`` starts in the post: ascending lists of positions (kept apart when
        they are long: merging them would cost more than scoring windows on each)."""
        run = self._run(item.words)
        if len(run):
            return [run]
        sources: list[Sequence[int]] = []
        if item.inner:
            for word in self.passages.inner_words(item.inner) or ():
                ps = self.positions(word)
                if len(ps):
                    sources.append(ps)
        if sources:
            short = [ps for ps in sources if len(ps) < _SHORT]
            if len(short) > 1:
                sources = [ps for ps in sources if len(ps) >= _SHORT]
                sources.append(sorted({p for ps in short for p in ps}))
            return sources
        for pieces in self._candidates(item.words):
            found = self._in_text(item.piece, pieces)
            if found:
                return [found]
        return []

    def _candidates(self, words: tuple[str, ...]) -> Iterator[Iterable[int]]:
        """Pieces of text to look for an item in, the likeliest first: where the words inside
        it stand in a row (its first or last word is cut otherwise in the post: 提振|工业|经济
        for 振工业经), then where its rarest words are (the post cuts more of it otherwise),
        then every piece."""
        n = len(words)
        for lo, hi in ((0, n - 1), (1, n), (1, n - 1)):
            if 1 <= hi - lo < n:
                starts = self._run(words[lo:hi])
                if len(starts):
                    yield self._pieces_of(starts)
        held = sorted((len(ps), w) for w in set(words) if len(ps := self.positions(w)))
        for _, w in held[:_ANCHORS]:
            yield self._pieces_of(self.positions(w))
        yield range(self.text.count)

    def _run(self, words: tuple[str, ...]) -> Sequence[int]:
        """Positions of the first word of each place where ``words`` stand one after the
        other (the rarest word gives the candidates, the others are checked at their place)."""
        if not words:
            return _NONE
        lists = [(self.positions(w), k) for k, w in enumerate(words)]
        lists.sort(key=lambda x: len(x[0]))
        first, k0 = lists[0]
        if len(lists) == 1:
            return first
        starts = [p - k0 for p in first if p >= k0]
        for ps, k in lists[1:]:
            if len(starts) * 16 < len(ps):
                starts = [s for s in starts if _holds(ps, s + k)]
            else:
                have = set(ps)
                starts = [s for s in starts if s + k in have]
            if not starts:
                break
        return starts

    def _pieces_of(self, positions: Sequence[int]) -> list[int]:
        """The pieces of text that hold ``positions`` (ascending), in order."""
        out: list[int] = []
        at = self.text.piece_at_position
        for p in positions:
            i = at(p)
            if not out or out[-1] != i:
                out.append(i)
        return out

    def _in_text(self, piece: str, pieces: Iterable[int]) -> list[int]:
        """The positions of the piece's occurrences in the first of ``pieces`` of text that
        holds it, trying only those whose pair filters may hold it, as many as the budget of
        text checks allows."""
        if not piece:
            return []
        probe = pair_probe(piece)
        pattern = literal_pattern(piece)
        text = self.text
        for i in pieces:
            if not may_hold(text.filter(i), probe):
                continue
            if i not in self._norms and not self._spend():
                return []
            found = [self.position_in(i, m.start()) for m in pattern.finditer(self.norm(i))]
            if found:
                return sorted(set(found))
        return []

    def _spend(self) -> bool:
        if self._checks <= 0:
            return False
        self._checks -= 1
        return True

    def positions(self, word: str) -> array[int]:
        """The positions of ``word`` in the post's text, ascending (empty if it has none)."""
        got = self._positions.get(word)
        if got is None:
            got = self._positions[word] = self._read_positions(word)
        return got

    def _read_positions(self, word: str) -> array[int]:
        snap, doc = self.snap, self.doc
        # The ranking reads whole posting lists with positions, and matching posting lists
        # without: what they left in the snapshot's cache costs a bisection here.
        post = snap.cached_postings(FIELD, word, values=True)
        if post is not None:
            i = bisect_left(post.docs, doc)
            if i < len(post.docs) and post.docs[i] == doc and post.values:
                return _decode(post.values[i])
            return _NONE
        post = snap.cached_postings(FIELD, word)
        if post is not None:
            i = bisect_left(post.docs, doc)
            if not (i < len(post.docs) and post.docs[i] == doc):
                return _NONE
        value = snap.values_for(FIELD, word, {doc}).get(doc)
        return _decode(value) if value else _NONE

    # --- from positions to text -----------------------------------------------------------------

    def piece(self, i: int) -> str:
        got = self._pieces.get(i)
        if got is None:
            got = self._pieces[i] = self.text.piece(i)
        return got

    def norm(self, i: int) -> str:
        got = self._norms.get(i)
        if got is None:
            got = self._norms[i] = self.analyzer.normalize(self.piece(i))
        return got

    def starts(self, i: int) -> array[int]:
        """Where each word of piece ``i`` starts, in the piece."""
        got = self._starts.get(i)
        if got is None:
            got = self._starts[i] = self.analyzer.word_starts(self.norm(i))
        return got

    def char_of(self, position: int) -> int:
        """The character offset where the word at ``position`` starts."""
        i = self.text.piece_at_position(position)
        starts = self.starts(i)
        k = position - self.text.positions[i]
        base = self.text.char_starts[i]
        return base + starts[k] if 0 <= k < len(starts) else base

    def position_in(self, i: int, offset: int) -> int:
        """The position of the word of piece ``i`` at (or last before) ``offset``."""
        return self.text.positions[i] + max(0, bisect_right(self.starts(i), offset) - 1)

    def passage(self, char: int, max_len: int) -> Passage:
        """The text around ``char``: enough for a window that starts near it."""
        total = self.text.chars
        lo = max(0, char - 3 * max_len)
        hi = min(total, char + 4 * max_len)
        first, last = self.text.piece_at_char(lo), self.text.piece_at_char(max(lo, hi - 1))
        joined = "".join(self.piece(i) for i in range(first, last + 1))
        base = self.text.char_starts[first]
        return Passage(
            joined[lo - base : hi - base], lo, hi == total, (char - lo, char - lo + max_len)
        )


def best_window(items: list[tuple[float, list[Sequence[int]]]], width: int) -> int | None:
    """The start of the window of ``width`` positions that holds the most (weighted, distinct)
    items, the earliest of equal ones; None when no item has a position. Each item is a weight
    and ascending lists of its positions.

    Windows are centred on item positions (all of a rare item's, the first ones of a common
    item's: scoring each window costs a bisection per list), and a window starts at its first
    item.
    """
    items = [(w, lists) for w, lists in items if lists]
    if not items:
        return None
    total = sum(w for w, _ in items)
    count = sum(len(lists) for _, lists in items)
    each = max(16, _SCORING_BUDGET // (count * count))
    anchors = sorted({p for _, lists in items for ps in lists for p in islice(ps, each)})
    half = width // 2
    best, best_score = anchors[0], -1.0
    for p in anchors:
        lo, hi = p - half, p + half
        score = 0.0
        first = p
        for w, lists in items:
            seen = False
            for ps in lists:
                k = bisect_left(ps, lo)
                if k < len(ps) and ps[k] < hi:
                    seen = True
                    first = min(first, ps[k])
            if seen:
                score += w
        if score > best_score:
            best, best_score = first, score
            if score >= total:
                break
    return best


def _holds(ps: Sequence[int], p: int) -> bool:
    k = bisect_left(ps, p)
    return k < len(ps) and ps[k] == p


def _decode(value: bytes) -> array[int]:
    """Positions as the index stores them (little-endian 32-bit)."""
    a = array("I")
    a.frombytes(value)
    if sys.byteorder == "big":
        a.byteswap()
    return a
