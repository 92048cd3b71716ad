"""The scoring model: how well a post answers a query, and the order of the results.

The one home of every ranking decision (``engine.SearchIndex`` only assembles the hits):

- **Term weights.** Each query word weighs its BM25 idf; a function word (``FUNCTION_WORDS``:
  interrogatives, particles, pronouns, prepositions, conjunctions ...) weighs nothing when the
  query has other words, so 什么, 哪, 为什么, 吗, 的 never decide a rank.
- **Words (BM25F).** A word's frequency in the title, the text and their search-mode sub-words
  is length-normalised per field and weighted by field (``FIELD_WEIGHTS``, ``FIELD_B``), summed,
  then saturated once: ``weight * tf * (K1 + 1) / (tf + K1)``. A word missing from a post costs
  that post its own contribution only, so missing a common word costs little.
- **Literal keyword.** A post that contains a keyword literally (separators ignored) gets a bonus
  as large as the most its words could score: literal matches of a keyword come first.
- **Proximity.** Two content words of one keyword that stand near each other in a post
  (``PROXIMITY_WINDOW`` words) add a bonus that grows with their nearness and with the rarer one's
  weight (BM25TP, Rasolofo and Savoy 2003); a longer piece of the query found literally holds
  more such near pairs, so it counts more than a shorter one.
- **Order.** With several keywords, posts are ordered first by the idf-weighted share of the
  keywords they match (``coordination``); then by score, then newer first, then by path.
- **Readings spread.** A Latin keyword that reads in pinyin as several indexed words (``shuji``:
  书记, 书籍) is ambiguous, and a rare reading's high idf would fill the first page with it
  alone: the first ``SPREAD_PAGE`` results hold a post of each of its ``SPREAD_READINGS`` most
  common readings (the best post of each, by score), as an input method offers its first
  candidates; the rest stays in score order.

A score is a sum of parts, each with a known upper bound (a word's at most ``weight * (K1 + 1)``,
a bonus at most its size): parts that cost more to compute (checking a literal match on the text,
reading positions for proximity) are computed only for the posts whose upper bound can still
reach the page, so the order is the one of exhaustive scoring. Top-k pruning over the same
bounds (MaxScore/WAND) fits this shape.
"""

from __future__ import annotations

import heapq
import math
import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, compress
from operator import add
from typing import TYPE_CHECKING, Any

from .models import (
    MATCH_ALL,
    MATCH_LITERAL,
    MATCH_PINYIN,
    MATCH_SOME,
    MATCH_SYNONYM,
    Explanation,
    MatchKind,
)
from .schema import NO_DATE, SUB_FIELDS, decode_positions
from .store import Snapshot
from .store.lengths import byte_to_length

if TYPE_CHECKING:
    from .matching import ClauseMatch, Matcher

#: BM25F parameters: saturation, and per field the weight and the length normalisation.
K1 = 1.2
FIELD_WEIGHTS = {"title": 3.0, "title_sub": 1.5, "text": 1.0, "text_sub": 0.5}
FIELD_B = {"title": 0.5, "title_sub": 0.5, "text": 0.75, "text_sub": 0.75}
#: Proximity: words at most this many positions apart count as near; the bonus of a pair is
#: this share of the most its rarer word can score.
PROXIMITY_WINDOW = 5
PROXIMITY_WEIGHT = 1.0
#: Each content word of a keyword pairs with the next this many content words of the query.
PAIR_SPAN = 2
#: A query word's search-mode sub-words weigh this share of their idf (as a sub-word field
#: weighs half its word field).
EXTRA_WEIGHT = 0.5
#: Top-k pruning: a query with more weighted keywords than this is ordered exhaustively (its
#: coordination levels are too many to list); keywords with at most SEED_LIMIT literal posts
#: have them all scored first; the threshold algorithm reads TA_BATCH posts of a term at a
#: time and computes pending parts RESOLVE_BATCH posts at a time.
MAX_LEVEL_GROUPS = 6
#: The readings spread (see the module docstring): how many readings, on how many first results.
SPREAD_READINGS = 3
SPREAD_PAGE = 10
SEED_LIMIT = 512
TA_BATCH = 32
RESOLVE_BATCH = 32
#: The threshold algorithm computes the pending parts of its best bounds each time it has met
#: this many more posts (see _TopK.run).
RAISE_EVERY = 1024
#: MaxScore ends the threshold algorithm when the essential lists hold at most this many posts
#: not met yet (see ``_TopK._essential``).
MAXSCORE_LIMIT = 8192
#: The threshold algorithm gives up on a scope of at least GIVE_UP_MIN posts once it has met
#: more than this share of them (a query of many common words: the bounds fall slowly), or once
#: the fall of its bound so far says it would (see _TopK.run).
GIVE_UP_SHARE = 0.15
GIVE_UP_MIN = 1024
#: From this share of the posts it gives up at, the threshold algorithm judges by the fall of
#: its bound whether it would get there (and gives up now if so). Before, it judged only in long
#: runs, at 1,536 posts met or more: after a share of 3% of the scope (under 51,000 posts) it
#: never did, and met every post of the share in vain (704 posts, 4.7 ms, for 高质量发展 at
#: 144,264 posts). On the benchmark's queries it still ends wherever it ended before.
GIVE_UP_JUDGE = 0.5
#: The share when the fallback runs in NumPy arrays (``_dense_bounds_np``): it then costs
#: about as much as meeting this share of the scope a post at a time.
GIVE_UP_SHARE_NUMPY = 0.03
#: With the fallback in NumPy arrays, a large scope with more sorted lists than this (words
#: and near pairs) goes to the fallback at once.
TA_MAX_LISTS_NUMPY = 12
#: The fallback by bounds scores a scope of at least this many posts into NumPy arrays indexed
#: by post (``_dense_bounds_np``), or, without NumPy (a process's first search), of at least
#: DENSE_MIN_LISTS posts into lists (a list's item is cheaper to add to than a dictionary's, but
#: the lists span the whole index). A scope the threshold algorithm meets whole (two keywords
#: held literally by most of their 2,347 posts at 144,264 posts) costs a third less in arrays.
DENSE_MIN = 1024
DENSE_MIN_LISTS = 4096
#: Posts whose pending parts are computed together once the first page is known (see
#: ``_top_by_bounds``): the page's last score is raised after each batch. The batches double
#: up to the last size: a floor that rises fast leaves few posts to compute (a long question at
#: 144,264 posts: 110 computed instead of 292), one that does not costs few batches.
_MORE_BATCH = 32
_MORE_BATCH_MAX = 256
#: The nearness of pairs of words in posts, once computed, is kept for the next queries up to
#: this many values in all (see Statistics.nearness; about 70 bytes each).
NEARNESS_KEPT = 1 << 19
#: The fallback by bounds computes first the pending parts of this many times the page, and
#: this many more, of the best upper bounds (``_first``).
FIRST_TIMES = 2
FIRST_MORE = 16


def _first(need: int) -> int:
    return FIRST_TIMES * need + FIRST_MORE


#: Scores are sums of floats added in a fixed order; bounds are sums in another order. A bound
#: is compared with a margin of this relative size, so rounding never prunes a post that ties.
_MARGIN = 1e-9
#: A word found in more than this share of posts does not make a post match on its own when the
#: keyword has rarer words (it still counts for the ranking).
COMMON_SHARE = 0.4
#: A word a Latin keyword reads as in pinyin weighs this share of its idf; as initials (``gxb``)
#: less, since initials read as more words.
PINYIN_WEIGHT = 0.8
INITIALS_WEIGHT = 0.6
#: A synonym of a keyword is worth this share of the keyword itself (see _synonym_factor).
SYNONYM_WEIGHT = 0.8


#: Chinese function words: they carry the grammar of a question, not its subject. The list is
#: the common members of the closed word classes of Mandarin grammar (the classes r, p, c, u, y
#: and e of jieba's dictionary, by frequency), written in Simplified characters (queries are
#: normalised to Simplified before they are cut, so Traditional spellings are covered).
FUNCTION_WORDS = frozenset(
    # interrogatives
    "什么 甚么 啥 哪 哪里 哪儿 哪个 哪些 哪位 哪种 哪一 哪年 哪国 谁 为什么 为何 怎么 怎样 "
    "怎么样 怎 如何 何 何时 何处 何人 何种 几 多少 多久 是否 是不是 有没有 "
    # modal particles and interjections
    "吗 呢 吧 么 嘛 啊 呀 啦 哇 哦 呗 罢了 而已 嗯 哎 "
    # structural and aspect particles
    "的 地 得 了 着 过 之 所 等 等等 们 似的 "
    # pronouns and demonstratives
    "我 你 您 他 她 它 我们 你们 他们 她们 它们 咱们 自己 其 其中 其他 这 那 这个 那个 这些 "
    "那些 这里 那里 这样 那样 这么 那么 这种 那种 此 该 本 各 每 某 另 任何 一切 "
    # prepositions
    "在 为 对 与 以 从 把 被 于 由 向 给 至 同 比 自 跟 因 对于 关于 "
    # conjunctions
    "和 而 但 并 或 及 以及 或者 如果 因为 所以 但是 虽然 因此 而且 并且 不过 然而 还是 "
    # copula, auxiliary verbs, common adverbs, numerals and measure words of questions
    "是 有 会 能 可 可以 要 将 也 都 就 还 又 才 已 已经 曾 曾经 最 很 更 一 个 位 种 次".split()
)

#: Keys of the memo this module keeps in a snapshot.
_STATS = "ranking.stats"


# --- term statistics ---------------------------------------------------------------------------


@dataclass
class WordHits:
    """One word over the index: the posts that have it and its BM25F term frequency in each.

    A term of the query model needs only ``tf`` (and ``order`` for top-k pruning); other kinds
    of terms (readings, synonyms) can give their own WordHits.
    """

    word: str
    df: int
    #: post -> combined, length-normalised term frequency (the BM25F tf~).
    tf: dict[int, float]
    _count: dict[int, int] | None = None
    _counter: Callable[[], dict[int, int]] | None = None
    _saturated: dict[int, float] | None = None
    # Arrays, not lists: kept for many queries, they would be walked by every full pass of the
    # garbage collector (see store.Postings).
    _order: array[int] | None = None
    _near: dict[str, array[int]] = field(default_factory=dict)
    #: NumPy arrays of ``saturated`` and of ``count`` (see ``_dense_bounds``).
    _np_saturated: tuple[Any, Any] | None = None
    _np_count: tuple[Any, Any] | None = None

    @property
    def count(self) -> dict[int, int]:
        """post -> occurrences as a whole word (title and text), where it has positions
        (computed on first use: only near pairs of words need it)."""
        if self._count is None:
            self._count = self._counter() if self._counter is not None else {}
        return self._count

    def saturated(self) -> dict[int, float]:
        """post -> ``saturate(tf)``, computed once per word. A term's part of a post's score is
        its weight times this (as ``_add_term`` computes it): the weight is applied where the
        part is used, not kept with the word, since a word weighs differently from one query
        to the next (``会议`` has four weights among the benchmark's queries, and a dictionary
        per weight cost 1.5-5 ms a query at 144,264 posts)."""
        if self._saturated is None:
            top, k1 = K1 + 1.0, K1
            self._saturated = {d: top * v / (v + k1) for d, v in self.tf.items()}
        return self._saturated

    def parts_arrays(self, weight: float, np: Any) -> tuple[Any, Any]:
        """The posts of the word and their parts at ``weight``, as NumPy arrays (the same
        floats as ``weight * saturated()[d]``: one IEEE product each)."""
        idx, val = self._saturated_arrays(np)
        return idx, weight * val

    def posts_array(self, np: Any) -> Any:
        """The posts of the word (``tf``'s), as a NumPy array (kept with the word)."""
        return self._saturated_arrays(np)[0]

    def _saturated_arrays(self, np: Any) -> tuple[Any, Any]:
        if self._np_saturated is None:
            sat = self.saturated()
            n = len(sat)
            self._np_saturated = (
                np.fromiter(sat.keys(), dtype=np.int32, count=n),
                np.fromiter(sat.values(), dtype=np.float64, count=n),
            )
        return self._np_saturated

    def count_arrays(self, np: Any) -> tuple[Any, Any]:
        """``count`` as NumPy arrays of posts and occurrences (32-bit: kept with the word, for
        many queries)."""
        if self._np_count is None:
            count = self.count
            n = len(count)
            self._np_count = (
                np.fromiter(count.keys(), dtype=np.int32, count=n),
                np.fromiter(count.values(), dtype=np.int32, count=n),
            )
        return self._np_count

    def order(self) -> array[int]:
        """The posts by decreasing frequency (so by decreasing part of the score), computed
        once per word: the sorted access of top-k pruning."""
        if self._order is None:
            tf = self.tf
            self._order = array("i", sorted(tf, key=tf.__getitem__, reverse=True))
        return self._order

    def near_order(self, other: WordHits) -> array[int]:
        """The posts that have this word and ``other`` as whole words, by decreasing number
        of occurrences of the rarer (the bound of their near pair), computed once per pair."""
        got = self._near.get(other.word)
        if got is None:
            ca, cb = self.count, other.count
            both = ca.keys() & cb.keys()
            got = array("i", sorted(both, key=lambda d: min(ca[d], cb[d]), reverse=True))
            self._near[other.word] = got
        return got


class Statistics:
    """Per-snapshot term statistics for scoring: BM25F frequencies, idf, length norms."""

    def __init__(self, snapshot: Snapshot):
        self.snap = snapshot
        self._words: dict[str, WordHits] = {}
        self._nearness: dict[tuple[str, str], dict[int, float]] = {}
        self._nearness_kept = 0

    @classmethod
    def of(cls, snapshot: Snapshot) -> Statistics:
        stats: Statistics = snapshot.memo(_STATS, lambda: cls(snapshot))
        return stats

    def word(self, word: str) -> WordHits:
        hit = self._words.get(word)
        if hit is None:
            hit = self._word(word)
            if len(self._words) >= 256:
                self._words.clear()
            self._words[word] = hit
        return hit

    def nearness(self, a: str, b: str) -> dict[int, float]:
        """post -> the nearness of words ``a`` and ``b`` in it (``Ranker.proximity``'s sum over
        the fields), as computed so far: a pure function of the snapshot, kept for the next
        query with the pair (and the next run of the same query) up to NEARNESS_KEPT values
        in all, then started afresh (dictionaries of ints and floats: nothing for the
        garbage collector to walk)."""
        got = self._nearness.get((a, b))
        if got is None:
            if self._nearness_kept >= NEARNESS_KEPT:
                self._nearness.clear()
                self._nearness_kept = 0
            got = self._nearness[(a, b)] = {}
        return got

    def kept_nearness(self, added: int) -> None:
        """Count ``added`` values put in the dictionaries of ``nearness``."""
        self._nearness_kept += added

    def _word(self, word: str) -> WordHits:
        snap = self.snap
        tf: dict[int, float] = {}
        for name in ("title", "text"):
            for f in (name, SUB_FIELDS[name]):
                post = snap.postings(f, word)
                if not post.docs:
                    continue
                norm = self.norm_table(f)
                lengths = snap.field_length_bytes(f)
                w = FIELD_WEIGHTS[f]
                get = tf.get
                for d, freq in zip(post.docs, post.weights, strict=True):
                    tf[d] = get(d, 0.0) + w * freq / norm[lengths[d]]
        return WordHits(word, len(tf), tf, _counter=lambda: self._counts(word))

    def _counts(self, word: str) -> dict[int, int]:
        count: dict[int, int] = {}
        for name in ("title", "text"):
            post = self.snap.postings(name, word)
            cget = count.get
            for d, freq in zip(post.docs, post.weights, strict=True):
                count[d] = cget(d, 0) + int(freq)
        return count

    def norm_table(self, fieldname: str) -> list[float]:
        """BM25's length normalisation ``(1 - b) + b * length / average`` of each of the 256
        stored lengths (a length is stored in one byte): a post's norm is the entry of its
        length byte, so no list of every post's norm is made."""

        def make() -> list[float]:
            avg = self.snap.average_length(fieldname) or 1.0
            b = FIELD_B[fieldname]
            return [(1.0 - b) + b * (byte_to_length(n) / avg) for n in range(256)]

        table: list[float] = self.snap.memo(("norm", fieldname), make)
        return table

    def norm(self, fieldname: str, doc: int) -> float:
        """One post's length normalisation of a field."""
        return self.norm_table(fieldname)[self.snap.field_length_bytes(fieldname)[doc]]

    def idf(self, df: int) -> float:
        n = self.snap.doc_count
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def field_tf(self, fieldname: str, word: str, doc: int) -> float:
        """The raw frequency of ``word`` in one field of one post (for explanations)."""
        post = self.snap.postings(fieldname, word)
        i = bisect_left(post.docs, doc)
        return post.weights[i] if i < len(post.docs) and post.docs[i] == doc else 0.0


def contribution(t: Term, tf: float) -> float:
    """A term's part of a post's score: its weight times the saturated frequency."""
    return t.weight * saturate(tf)


def saturate(tf: float) -> float:
    """BM25's saturation of a term frequency: 0 for 0, tending to K1 + 1."""
    return (K1 + 1.0) * tf / (tf + K1)  # the same expression as WordHits.saturated()


# --- the query model ---------------------------------------------------------------------------


@dataclass
class Term:
    """One distinct word of the query and its weight (0 for a function word)."""

    word: str
    weight: float
    hits: WordHits
    function: bool = False
    #: Only adds to the score (a sub-word of a query word).
    extra: bool = False
    #: "pinyin" for a word a Latin keyword reads as, "synonym" for a word of a synonym; the
    #: weight is then ``factor`` times the idf.
    via: str = ""
    factor: float = 1.0

    @property
    def bound(self) -> float:
        return self.weight * (K1 + 1.0)


@dataclass
class Keyword:
    """One keyword (a clause that ranks): its terms, literal match and proximity pairs."""

    group: int
    match: ClauseMatch
    terms: list[int]
    #: The literal bonus: as much as the keyword's words can score at most.
    literal: float
    #: Pairs of content terms (indexes into the model's terms) that may add proximity.
    pairs: list[tuple[int, int]] = field(default_factory=list)
    #: The words a Latin keyword reads as in pinyin (indexes into the model's terms).
    alternatives: list[int] = field(default_factory=list)


@dataclass
class Model:
    """What a query asks for, weighted: terms, keywords, group weights."""

    terms: list[Term]
    keywords: list[Keyword]
    #: Per soft group: its weight in the coordination order (0: it does not count).
    group_weights: list[float]
    #: The soft groups' clauses (OR alternatives).
    groups: list[list[ClauseMatch]] = field(default_factory=list)
    _group_docs: list[set[int]] | None = None

    @property
    def group_docs(self) -> list[set[int]]:
        """Each group's posts, for coordination (made on first use: one keyword needs none)."""
        if self._group_docs is None:
            self._group_docs = [
                g[0].docs if len(g) == 1 else set().union(*(e.docs for e in g)) for g in self.groups
            ]
        return self._group_docs


def build_model(
    matcher: Matcher, soft: list[list[ClauseMatch]], scored: list[ClauseMatch]
) -> Model:
    """The weighted model of a query: ``soft`` are the groups of keywords that rank, ``scored``
    every clause whose words count for the score (the soft ones and the required ones)."""
    stats = matcher.stats
    index: dict[str, int] = {}
    terms: list[Term] = []
    # The query's words first, then their sub-words (a word that is both weighs as a word).
    for sub_words in (False, True):
        for e in scored:
            if e.via:
                continue
            for w in e.extra if sub_words else e.words:
                if w in index:
                    continue
                hits = stats.word(w)
                if not hits.df:
                    continue
                index[w] = len(terms)
                if sub_words:
                    weight = EXTRA_WEIGHT * stats.idf(hits.df)
                    terms.append(Term(w, weight, hits, extra=True, factor=EXTRA_WEIGHT))
                else:
                    weight = 0.0 if w in e.ignored else stats.idf(hits.df)
                    terms.append(Term(w, weight, hits, w in e.ignored))
    _add_alternatives(stats, scored, index, terms)
    keywords: list[Keyword] = []
    group_weights: list[float] = []
    for gi, g in enumerate(soft):
        gw = 0.0
        for e in g:
            ts, content, extra, alternatives, pairs, literal = _keyword_terms(e, index, terms)
            if e.via == MATCH_SYNONYM and e.of is not None:
                # A synonym is worth SYNONYM_WEIGHT of its keyword as a whole: its words are
                # (see _synonym_factor); its literal bonus is capped the same way, and its words'
                # near pairs add nothing (a synonym of several words would outrank the keyword).
                pairs = []
                own = _keyword_terms(e.of, index, terms)[5]
                literal = min(sum(terms[i].bound for i in content + extra), SYNONYM_WEIGHT * own)
            keywords.append(Keyword(gi, e, ts, literal, pairs, alternatives))
            gw = max([gw] + [terms[i].weight for i in content + alternatives])
        group_weights.append(gw)
    return Model(terms, keywords, group_weights, [list(g) for g in soft])


def _keyword_terms(
    e: ClauseMatch, index: dict[str, int], terms: list[Term]
) -> tuple[list[int], list[int], list[int], list[int], list[tuple[int, int]], float]:
    """A keyword's terms (all, content, extra, pinyin), its near pairs and its literal bonus."""
    ts = [index[w] for w in e.words if w in index]
    content = [i for i in ts if not terms[i].function]
    extra = [index[w] for w in e.extra if w in index]
    alternatives = [index[w] for w in e.pinyin if w in index]
    pairs = [
        (content[a], content[b])
        for a in range(len(content))
        for b in range(a + 1, min(len(content), a + 1 + PAIR_SPAN))
    ]
    # As much as the keyword's words, near pairs and pinyin readings can add at most: a post
    # that holds the keyword literally (the letters themselves: ``gdp``) outranks every post
    # that does not.
    literal = sum(terms[i].bound for i in content + extra + alternatives)
    literal += sum(_pair_bound(terms[a], terms[b]) for a, b in pairs)
    return ts, content, extra, alternatives, pairs, literal


def _add_alternatives(
    stats: Statistics, scored: list[ClauseMatch], index: dict[str, int], terms: list[Term]
) -> None:
    """The terms of synonyms and of pinyin readings, after the query's own (a word the query
    has keeps the query's weight)."""
    for e in scored:
        if e.via != MATCH_SYNONYM:
            continue
        factor = _synonym_factor(stats, e, index, terms)
        for w, extra in [(w, False) for w in e.words] + [(w, True) for w in e.extra]:
            if w in index:
                continue
            hits = stats.word(w)
            if not hits.df:
                continue
            index[w] = len(terms)
            f = factor * (EXTRA_WEIGHT if extra else 1.0)
            weight = 0.0 if w in e.ignored else f * stats.idf(hits.df)
            terms.append(Term(w, weight, hits, w in e.ignored, extra, MATCH_SYNONYM, f))
    for e in scored:
        factor = INITIALS_WEIGHT if e.initials else PINYIN_WEIGHT
        for w in e.pinyin:
            if w in index:
                continue
            hits = stats.word(w)
            if not hits.df:
                continue
            index[w] = len(terms)
            weight = factor * stats.idf(hits.df)
            terms.append(Term(w, weight, hits, via=MATCH_PINYIN, factor=factor))


def _synonym_factor(
    stats: Statistics, e: ClauseMatch, index: dict[str, int], terms: list[Term]
) -> float:
    """The share of their idf a synonym's words weigh: the synonym as a whole (all its words
    at most) is worth SYNONYM_WEIGHT of the keyword it stands for, whatever its number of words,
    so that it ranks below the keyword itself at equal strength."""
    source = e.of
    own = 0.0
    if source is not None:
        own = sum(
            terms[index[w]].bound
            for w in source.words + source.extra
            if w in index and not terms[index[w]].function
        )
    fixed = 0.0
    raw = 0.0
    for w, extra in [(w, False) for w in e.words] + [(w, True) for w in e.extra]:
        if w in e.ignored:
            continue
        if w in index:
            fixed += terms[index[w]].bound
            continue
        df = stats.word(w).df
        if df:
            raw += (EXTRA_WEIGHT if extra else 1.0) * stats.idf(df) * (K1 + 1.0)
    if own <= 0.0 or raw <= 0.0:
        return SYNONYM_WEIGHT
    return max(0.0, SYNONYM_WEIGHT * own - fixed) / raw


# --- ranking -----------------------------------------------------------------------------------


@dataclass
class Ranked:
    """One ranked post: its order key, score and how it matched."""

    docnum: int
    score: float
    match: str = ""
    coordination: float = 0.0
    explanation: Explanation | None = None


@dataclass
class _Pending:
    """The parts of posts' scores not computed yet, with their upper bounds."""

    #: post -> the most its pending parts can add.
    bound: dict[int, float] = field(default_factory=dict)
    #: post -> the keywords it may hold literally (to check).
    literal: dict[int, list[int]] = field(default_factory=dict)
    #: Posts whose near pairs are to compute.
    proximity: set[int] = field(default_factory=set)

    def keep(self, docs: set[int]) -> _Pending:
        return _Pending(
            {d: v for d, v in self.bound.items() if d in docs},
            {d: v for d, v in self.literal.items() if d in docs},
            self.proximity & docs,
        )


#: Rankers made in this process (see ``_numpy``).
_rankers = 0


def _numpy() -> Any | None:
    """NumPy for the fallback's passes over a large scope (``_dense_bounds``), from the second
    search of a process on: its import (60-180 ms) would cost a one-search command, a cold
    ``newsearch search``, more than it saves. None where NumPy is not installed."""
    if _rankers < 2 and "numpy" not in sys.modules:
        return None
    try:
        import numpy
    except ImportError:
        return None
    return numpy


class Ranker:
    """Orders the matching posts of one query (see the module docstring)."""

    def __init__(
        self,
        matcher: Matcher,
        docs: set[int],
        soft: list[list[ClauseMatch]],
        scored: list[ClauseMatch],
        required: list[list[ClauseMatch]] | None = None,
    ):
        global _rankers
        _rankers += 1
        self.matcher = matcher
        self._scored = scored
        self.required = required or []
        self.stats = matcher.stats
        self.snap = matcher.snap
        self.docs = docs
        self.soft = soft
        self.model = build_model(matcher, soft, scored)
        gw = self.model.group_weights
        # Coordination orders only when there are several keywords that weigh something.
        self._coordinate = sum(1 for w in gw if w > 0) >= 2
        self._total_weight = sum(gw) or 1.0
        #: Literal checks done: keyword -> post -> holds it.
        self._checked: dict[int, dict[int, bool]] = {}

    # scores of all posts, with bounds for the lazy parts ------------------------------------

    def words_score(self, docs: set[int] | None = None) -> dict[int, float]:
        """Per post, the sum of its words' BM25F contributions."""
        scope = self.docs if docs is None else docs
        out: dict[int, float] = {}
        for t in self.model.terms:
            _add_term(t, scope, out)
        return out

    def coordination(self, d: int) -> float:
        if not self._coordinate:
            return 0.0
        got = sum(
            w
            for w, docs in zip(self.model.group_weights, self.model.group_docs, strict=True)
            if d in docs
        )
        return round(got / self._total_weight, 9)

    def _bounds(
        self, docs: set[int], need: int | None = None
    ) -> tuple[dict[int, float], _Pending, set[int]]:
        """Known score per post, what is still to compute with its upper bound, and the posts
        that can still be among the first ``need`` (all of them when None)."""
        known = self.words_score(docs)
        pending = _Pending()
        bound = pending.bound
        for ki, kw in enumerate(self.model.keywords):
            e = kw.match
            if kw.literal <= 0.0:
                continue
            for d in e.exact & docs:
                known[d] = known.get(d, 0.0) + kw.literal
            for d in (e.maybe - e.exact) & docs:
                pending.literal.setdefault(d, []).append(ki)
                bound[d] = bound.get(d, 0.0) + kw.literal
        if need is not None and len(known) > need:
            # ``docs`` are of one coordination level (see _top_by_bounds), ordered by score
            # alone. The need-th best known score is a floor for the need-th final score: a
            # post whose known and pending parts plus the most its near pairs can add stay
            # below it is out. The near pairs are bounded by how many of their words the post
            # holds (not by every pair of the query), so that few posts of a long question are
            # left when the near pairs are bounded one post at a time.
            floor = _below(heapq.nlargest(need, known.values())[-1])
            held, caps = self._pair_caps()
            get, kget, hget = bound.get, known.get, held.get
            top = caps[-1]
            kept = {
                d
                for d in docs
                if kget(d, 0.0) + get(d, 0.0) + (top if (m := hget(d, 0)) >= len(caps) else caps[m])
                >= floor
            }
            if len(kept) < len(docs):
                docs = kept
                pending = pending.keep(docs)
                bound = pending.bound
        self._add_proximity(pending, docs)
        return known, pending, docs

    def _add_proximity(self, pending: _Pending, docs: set[int]) -> None:
        """The near pairs' upper bounds of ``docs`` added to what is pending: only posts that
        hold both words of a pair can have it."""
        prox = self._proximity_bounds(docs)
        if prox:
            pending.proximity.update(prox)
            bound = pending.bound
            get = bound.get
            for d, v in prox.items():
                bound[d] = get(d, 0.0) + v

    def _dense_bounds(
        self, docs: set[int], need: int, floor: float = -math.inf
    ) -> tuple[dict[int, float], _Pending, set[int], dict[int, float]]:
        """``_bounds(docs, need)`` for a large scope (one coordination level), with the same
        known scores (the same parts added in the same order), computed in lists indexed by
        post; and a higher floor: ``floor`` when given (the threshold algorithm's, from exact
        scores), else the need-th exact score of the ``_first(need)`` posts of best known and
        literal bounds (their pending parts returned as the last item). The known scores alone
        stay below the page by its near pairs: far fewer posts are left to bound pair by pair."""
        np = _numpy()
        if np is not None:
            return self._dense_bounds_np(np, docs, need, floor)
        size = self.snap.doc_count_all
        known_v = [0.0] * size
        for t in self.model.terms:
            if t.weight > 0.0:
                w = t.weight
                for d, v in t.hits.saturated().items():
                    known_v[d] += w * v  # as _add_term: 0.0 + the first part, then the next
        bound_v = [0.0] * size
        literal: dict[int, list[int]] = {}
        for ki, kw in enumerate(self.model.keywords):
            e = kw.match
            if kw.literal <= 0.0:
                continue
            for d in e.exact & docs:
                known_v[d] += kw.literal
            for d in (e.maybe - e.exact) & docs:
                literal.setdefault(d, []).append(ki)
                bound_v[d] += kw.literal
        kv, bv = known_v.__getitem__, bound_v.__getitem__
        # The most promising posts, by known score and literal bounds, scored exactly: the
        # need-th of their scores is a floor for the page's last score.
        upper = list(map(add, known_v, bound_v))
        first: dict[int, float] = {}
        if floor == -math.inf:
            first_docs = heapq.nlargest(_first(need), docs, key=upper.__getitem__)
            first_pending = _Pending(
                literal={d: literal[d] for d in first_docs if d in literal},
                proximity=set(first_docs),
            )
            first = self._resolve(first_docs, first_pending)
            floor = heapq.nlargest(need, (kv(d) + first[d] for d in first_docs))[-1]
        floor = _below(floor)
        held, caps = self._pair_caps()
        top = caps[-1]
        held_v = [0] * size
        for d, m in held.items():
            held_v[d] = m
        last = len(caps)
        capped = [caps[m] if m < last else top for m in range(max(held_v, default=0) + 1)]
        upper = list(map(add, upper, map(capped.__getitem__, held_v)))
        kept = set(compress(range(size), map(floor.__le__, upper)))
        kept &= docs
        known = {d: kv(d) for d in kept}
        pending = _Pending(
            {d: bv(d) for d in kept if d in literal}, {d: literal[d] for d in kept if d in literal}
        )
        self._add_proximity(pending, kept)
        return known, pending, kept, first

    def _dense_bounds_np(
        self, np: Any, docs: set[int], need: int, floor: float
    ) -> tuple[dict[int, float], _Pending, set[int], dict[int, float]]:
        """``_dense_bounds`` in NumPy arrays: the same parts added in the same order, element
        by element (IEEE additions of the same floats: the same known scores and bounds), so the
        same posts are kept or left out by the same floor."""
        size = self.snap.doc_count_all
        known_v = np.zeros(size)
        for t in self.model.terms:
            if t.weight > 0.0:
                idx, val = t.hits.parts_arrays(t.weight, np)
                known_v[idx] += val  # a post once per term: 0.0 + the first part, then the next
        bound_v = np.zeros(size)
        maybes: list[tuple[int, frozenset[int]]] = []
        for ki, kw in enumerate(self.model.keywords):
            e = kw.match
            if kw.literal <= 0.0:
                continue
            exact = e.exact & docs
            if exact:
                known_v[np.fromiter(exact, dtype=np.int64, count=len(exact))] += kw.literal
            maybe = (e.maybe - e.exact) & docs
            if maybe:
                maybes.append((ki, maybe))
                bound_v[np.fromiter(maybe, dtype=np.int64, count=len(maybe))] += kw.literal

        def literal_of(posts: Iterable[int]) -> dict[int, list[int]]:
            """post -> the keywords to check (in their order), of the posts that have any."""
            out: dict[int, list[int]] = {}
            for ki, maybe in maybes:
                for d in maybe.intersection(posts):
                    out.setdefault(d, []).append(ki)
            return out

        scope = self._scope_array(np, docs)
        # From here on, arrays over the scope's posts (in the order of ``scope``).
        known_s = known_v[scope]
        bound_s = bound_v[scope]
        upper = known_s + bound_s
        first: dict[int, float] = {}
        if floor == -math.inf:
            k = min(_first(need), len(scope))
            at = np.argpartition(-upper, k - 1)[:k] if k < len(scope) else slice(None)
            first_docs = scope[at].tolist()
            first_pending = _Pending(literal=literal_of(first_docs), proximity=set(first_docs))
            first = self._resolve(first_docs, first_pending)
            kv = known_s[at].tolist()
            floor = heapq.nlargest(
                need, (v + first[d] for d, v in zip(first_docs, kv, strict=True))
            )[-1]
        floor = _below(floor)
        # Each post's near pairs bounded as the pending parts will be (not by how many of
        # their words it holds, as ``_dense_bounds`` does): the same posts reach the floor in
        # the end, and far fewer are kept to look at one by one (a long question of common
        # words: 18,415 of 78,944 posts by the held words' caps, 3,542 this way).
        near = self._proximity_arrays(np, size, scope)
        if near is not None:
            upper += near[0]
        keep = upper >= floor
        kept_list = scope[keep].tolist()
        kept = set(kept_list)
        known = dict(zip(kept_list, known_s[keep].tolist(), strict=True))
        literal = literal_of(kept)
        lit = list(literal)
        pending = _Pending(dict(zip(lit, bound_v[lit].tolist(), strict=True)), literal)
        if near is not None:
            prox, held = near
            where = held & keep
            docs_near = scope[where].tolist()
            pending.proximity.update(docs_near)
            bound = pending.bound
            get = bound.get
            for d, v in zip(docs_near, prox[where].tolist(), strict=True):
                bound[d] = get(d, 0.0) + v
        return known, pending, kept, first

    def _scope_array(self, np: Any, docs: set[int]) -> Any:
        """``docs`` as a NumPy array: the matching posts of a query of one clause from the
        clause's parts (``ClauseMatch.posts_array``: 80,000 posts of a long question at 144,264
        posts in 0.5 ms, against 1.8 ms from the set), any other scope from the set."""
        clauses = [e for g in self.soft for e in g]
        if docs is self.docs and len(clauses) == 1 and clauses[0].docs is docs:
            got = clauses[0].posts_array(np, self.snap.doc_count_all)
            if got is not None:
                return got
        return np.fromiter(docs, dtype=np.int64, count=len(docs))

    def _proximity_arrays(self, np: Any, size: int, scope: Any) -> tuple[Any, Any] | None:
        """``_proximity_bounds`` of the posts ``scope`` (an array) in arrays of them: per post
        the bound of its near pairs (added pair by pair in the same order, from the same
        floats: a pair a post does not hold adds 0.0) and whether it holds both words of any
        pair. None: no near pairs."""
        pairs = self._pairs()
        if not pairs or PROXIMITY_WEIGHT <= 0.0:
            return None
        terms = self.model.terms
        counts: dict[int, Any] = {}
        full = np.zeros(size, dtype=np.int32)
        for i in sorted({i for p in pairs for i in p}):
            keys, values = terms[i].hits.count_arrays(np)
            full[keys] = values  # (a word's count is at least 1 where it has positions)
            counts[i] = full[scope]
            full[keys] = 0
        prox = np.zeros(len(scope))
        held = np.zeros(len(scope), dtype=bool)
        k1 = K1
        for a, b in pairs:
            scale = _pair_bound(terms[a], terms[b])
            n = np.minimum(counts[a], counts[b])
            held |= n > 0
            n = n.astype(np.float64)
            prox += scale * n / (n + k1)  # as _proximity_bounds: saturate(n), inlined
        return prox, held

    def _pairs(self) -> list[tuple[int, int]]:
        return [(a, b) for kw in self.model.keywords for a, b in kw.pairs]

    def _pair_caps(self) -> tuple[dict[int, int], list[float]]:
        """Per post, how many words of the near pairs it holds (``m``, counted once per term,
        never fewer than it holds), and per ``m`` the most the near pairs of a post holding
        ``m`` of them can add (the last value for any larger ``m``): its ``m`` words make at
        most m·(m-1)/2 distinct pairs, so the sum of that many of the largest pair bounds."""
        terms = self.model.terms
        pairs = self._pairs() if PROXIMITY_WEIGHT > 0.0 else []
        edges: dict[tuple[int, int], float] = {}
        loops = 0.0
        for a, b in pairs:
            v = _pair_bound(terms[a], terms[b])
            if a == b:
                loops += v
            else:
                key = (min(a, b), max(a, b))
                edges[key] = edges.get(key, 0.0) + v
        involved = sorted({i for p in pairs for i in p})
        holding: dict[int, int] = Counter(
            chain.from_iterable(terms[i].hits.count for i in involved)
        )
        weights = sorted(edges.values(), reverse=True)
        caps = [0.0]
        m = 1
        while True:
            k = m * (m - 1) // 2
            caps.append(loops + sum(weights[:k]))
            if k >= len(weights) or m >= len(involved):
                break
            m += 1
        return holding, caps

    def _proximity_bounds(self, docs: set[int]) -> dict[int, float]:
        """Per post that holds both words of a near pair, the most its pairs can add: a pair's
        nearness is at most the number of whole-word occurrences of its rarer word."""
        terms = self.model.terms
        pairs = self._pairs()
        if not pairs or PROXIMITY_WEIGHT <= 0.0:
            return {}
        out: dict[int, float] = {}
        get = out.get
        k1 = K1
        for a, b in pairs:
            ca, cb = terms[a].hits.count, terms[b].hits.count
            scale = _pair_bound(terms[a], terms[b])
            if len(docs) * 4 < len(ca) + len(cb):
                # Few posts left (see _bounds): look them up rather than intersect the lists.
                both = {d for d in docs if d in ca and d in cb}
            else:
                both = ca.keys() & cb.keys()
                both &= docs
            for d in both:
                n = ca[d]
                m = cb[d]
                if m < n:
                    n = m
                out[d] = get(d, 0.0) + scale * n / (n + k1)  # saturate(n), inlined
        return out

    # the exact parts -----------------------------------------------------------------------

    def _literal(self, d: int, ki: int) -> bool:
        e = self.model.keywords[ki].match
        if d in e.exact:
            return True
        if d not in e.maybe:
            return False
        known = self._checked.setdefault(ki, {})
        if d not in known:
            self._check_literal(ki, [d])
        return known[d]

    def _check_literal(self, ki: int, docs: list[int]) -> None:
        """Check on the index whether each of ``docs`` holds keyword ``ki`` literally."""
        e = self.model.keywords[ki].match
        known = self._checked.setdefault(ki, {})
        todo = {d for d in docs if d not in known}
        found: set[int] = set()
        for f in e.fields:
            if todo - found:
                found |= self.matcher.verify(f, e.piece, todo - found)
        for d in todo:
            known[d] = d in found

    def _resolve_into(
        self,
        exact: dict[int, float],
        docs: list[int],
        pending: _Pending,
        floor: float = -math.inf,
        known: Callable[[int], float] | None = None,
    ) -> None:
        todo = [d for d in docs if d not in exact]
        for i in range(0, len(todo), 256):
            exact.update(self._resolve(todo[i : i + 256], pending, floor, known))

    def _resolve(
        self,
        batch: list[int],
        pending: _Pending,
        floor: float = -math.inf,
        known: Callable[[int], float] | None = None,
    ) -> dict[int, float]:
        """The exact value of the pending parts of each post of ``batch``: its near pairs,
        then the literal keywords it holds, in the order of the keywords (the same sum in the
        same order whatever the batch, so a score never depends on which posts were computed
        with it).

        With a ``floor`` (a bound of the page's last score, with its margin) and the posts'
        ``known`` scores: a post whose known score, near pairs computed so far and bounds of
        the rest fall below the floor is left there (its value then less than its pending
        parts', and its score below the floor: it is not on the page, whatever the rest)."""
        out = dict.fromkeys(batch, 0.0)
        keywords = self.model.keywords
        out_of_page: set[int] = set()
        prox = [d for d in batch if d in pending.proximity]
        if prox:
            cut = None
            if known is not None and floor > -math.inf:

                def cut(d: int) -> float:
                    bonus = sum(keywords[ki].literal for ki in pending.literal.get(d, ()))
                    return floor - (known(d) + bonus)

            for d, v in self.proximity(prox, cut=cut, out_of_page=out_of_page).items():
                out[d] += v
        by_keyword: dict[int, list[int]] = {}
        for d in batch:
            if d in out_of_page:
                continue
            for ki in pending.literal.get(d, ()):
                by_keyword.setdefault(ki, []).append(d)
        for ki, docs in by_keyword.items():
            self._check_literal(ki, docs)
        checked = self._checked
        for d in batch:
            if d in out_of_page:
                continue
            for ki in pending.literal.get(d, ()):
                if checked[ki][d]:
                    out[d] += keywords[ki].literal
        return out

    def proximity(
        self,
        docs: list[int],
        detail: bool = False,
        cut: Callable[[int], float] | None = None,
        out_of_page: set[int] | None = None,
    ) -> dict[int, Any]:
        """Per post, the proximity bonus of its near pairs of content words (with ``detail``,
        a list of (keyword, a, b, acc, value) instead).

        A post at a time, its pairs in order. With ``cut(post)``, the least its pairs must add
        for it to reach the page: after each pair, if they can add less than that (computed so
        far plus the bounds of the pairs left), the post stops there (added to
        ``out_of_page``, its value what was computed): its words' positions are read only as
        its pairs need them."""
        terms = self.model.terms
        pairs = [(ki, a, b) for ki, kw in enumerate(self.model.keywords) for a, b in kw.pairs]
        snap = self.snap
        lists: dict[tuple[int, str], tuple[Any, Any]] = {}
        fields = ("title", "text")

        def positions(i: int, f: str, d: int) -> list[int] | None:
            if d not in terms[i].hits.tf:
                return None
            got = lists.get((i, f))
            if got is None:
                # The whole list with its positions, kept in the snapshot's cache: the ranking
                # asks again for other posts of the same words.
                post = snap.postings(f, terms[i].word, values=True)
                got = lists[(i, f)] = (post.docs, post.values or ())
            ids, values = got
            k = bisect_left(ids, d)
            return decode_positions(values[k]) if k < len(ids) and ids[k] == d else None

        bounds: list[tuple[float, dict[int, int], dict[int, int]]] = []
        if cut is not None:
            for _ki, a, b in pairs:
                bounds.append(
                    (_pair_bound(terms[a], terms[b]), terms[a].hits.count, terms[b].hits.count)
                )
        out: dict[int, Any] = {}
        k1 = K1
        rest = [0.0] * (len(pairs) + 1)
        known = [self.stats.nearness(terms[a].word, terms[b].word) for _ki, a, b in pairs]
        added = 0
        for d in docs:
            seen: dict[tuple[int, str], list[int] | None] = {}
            total: Any = [] if detail else 0.0
            need = -math.inf
            if cut is not None:
                need = cut(d)
                # rest[j]: the most the pairs from the j-th on can add (as the bounds are made).
                for j in range(len(pairs) - 1, -1, -1):
                    scale, ca, cb = bounds[j]
                    n = min(ca.get(d, 0), cb.get(d, 0))
                    rest[j] = rest[j + 1] + (scale * n / (n + k1) if n else 0.0)
            for j, (ki, a, b) in enumerate(pairs):
                acc = known[j].get(d)
                if acc is None:
                    acc = 0.0
                    # The lookups inlined (a call per pair and field would cost a fifth of the
                    # pass): each word's positions in the post read once, kept in ``seen``.
                    for f in fields:
                        pa = (
                            seen[(a, f)]
                            if (a, f) in seen
                            else seen.setdefault((a, f), positions(a, f, d))
                        )
                        if not pa:
                            continue
                        pb = (
                            seen[(b, f)]
                            if (b, f) in seen
                            else seen.setdefault((b, f), positions(b, f, d))
                        )
                        if pb:
                            acc += _nearness(pa, pb)
                    known[j][d] = acc
                    added += 1
                if acc > 0.0:
                    value = _pair_value(terms[a], terms[b], acc)
                    if detail:
                        total.append((ki, a, b, acc, value))
                    else:
                        total += value
                if cut is not None and total + rest[j + 1] < need:
                    assert out_of_page is not None
                    out_of_page.add(d)
                    break
            out[d] = total
        self.stats.kept_nearness(added)
        return out

    # the order -----------------------------------------------------------------------------

    def rank(self, wanted: int | None) -> list[Ranked]:
        """The first ``wanted`` posts in relevance order (all of them when None): exactly the
        head of ``rank_exhaustive``, without computing the score of every matching post (see
        ``_top_in``)."""
        return self._spread(self._rank, wanted)

    def rank_exhaustive(self, wanted: int | None) -> list[Ranked]:
        """Every matching post scored in full, then ordered: the definition of the order."""
        return self._spread(self._rank_exhaustive, wanted)

    # the readings spread ----------------------------------------------------------------------

    def _readings_to_spread(self) -> list[set[int]]:
        """The posts of each of the most common pinyin readings of the query's one keyword, when
        it is Latin letters no post holds as such and reads as several words (else none)."""
        if len(self.model.keywords) != 1:
            return []
        keyword = self.model.keywords[0]
        if keyword.terms or len(keyword.alternatives) < 2:
            return []
        held = [self.model.terms[t].hits.tf.keys() & self.docs for t in keyword.alternatives]
        held = sorted((h for h in held if h), key=len, reverse=True)
        return held[:SPREAD_READINGS] if len(held) >= 2 else []

    def _spread(
        self, order: Callable[[int | None], list[Ranked]], wanted: int | None
    ) -> list[Ranked]:
        """``order``'s ranking with the first SPREAD_PAGE results holding a post of each of the
        readings to spread: the best post of a reading missing there takes the place of the
        page's last post that no reading needs (most common reading first). The same for any
        ``wanted``, so pages agree."""
        readings = self._readings_to_spread()
        if not readings:
            return order(wanted)
        need = None if wanted is None else max(wanted, SPREAD_PAGE) + len(readings)
        base = order(need)
        page = base[:SPREAD_PAGE]
        needed: set[int] = set()
        promoted: list[Ranked] = []
        for posts in readings:
            if any(r.docnum in posts for r in promoted):
                continue
            there = next((r.docnum for r in page if r.docnum in posts), None)
            if there is not None:
                needed.add(there)
                continue
            best = Ranker(self.matcher, posts, self.soft, self._scored, self.required)._rank(1)
            promoted.extend(best)
        if not promoted:
            return base[:wanted]
        # The page's last posts that no reading needs make room, and follow the page.
        free = [r.docnum for r in reversed(page) if r.docnum not in needed]
        dropped = set(free[: len(promoted)])
        taken = {r.docnum for r in promoted}
        kept = [r for r in page if r.docnum not in dropped]
        moved = [r for r in page if r.docnum in dropped]
        rest = [r for r in base[SPREAD_PAGE:] if r.docnum not in taken]
        return (kept + promoted + moved + rest)[:wanted]

    # the order of relevance -------------------------------------------------------------------

    def _rank(self, wanted: int | None) -> list[Ranked]:
        if not self.docs:
            return []
        if wanted is None:
            return self._rank_exhaustive(None)
        levels = self._levels()
        if levels is None:
            return self._rank_exhaustive(wanted)
        out: list[Ranked] = []
        if wanted <= 0:
            return out
        for level, members in levels:
            out.extend(self._top_in(members, wanted - len(out), level))
            if len(out) >= wanted:
                break  # (before the next level's posts are gathered)
        return out

    def _rank_exhaustive(self, wanted: int | None) -> list[Ranked]:
        if not self.docs:
            return []
        known, pending, scope = self._bounds(self.docs)
        todo = [d for d in scope if d in pending.bound]
        exact = self._resolve(todo, pending) if todo else {}
        ts = self.snap.numeric_column("date_ts")
        coord = {d: self.coordination(d) for d in scope} if self._coordinate else None

        def key(d: int) -> tuple[float, float, int]:
            c = coord[d] if coord is not None else 0.0
            return (-c, -(known.get(d, 0.0) + exact.get(d, 0.0)), -ts[d])

        return [
            self._ranked(d, known.get(d, 0.0) + exact.get(d, 0.0), coord)
            for d in in_order(self.snap, scope, wanted, key)
        ]

    def _levels(self) -> Iterator[tuple[float, set[int] | None]] | None:
        """The coordination levels of the matching posts, highest first, each with its posts
        (None: all of them, when there is one level); None when the query has too many weighted
        keywords to list the levels (the exhaustive order is used)."""
        if not self._coordinate:
            return iter([(0.0, None)])
        weights = self.model.group_weights
        weighted = [g for g, w in enumerate(weights) if w > 0]
        if len(weighted) > MAX_LEVEL_GROUPS:
            return None
        by_level: dict[float, list[frozenset[int]]] = {}
        for mask in range(1 << len(weighted)):
            inside = frozenset(weighted[i] for i in range(len(weighted)) if mask >> i & 1)
            got = sum(weights[g] for g in weighted if g in inside)
            by_level.setdefault(round(got / self._total_weight, 9), []).append(inside)

        def members(inside: frozenset[int]) -> set[int]:
            # From the smallest group the level's posts are in (not a copy of every matching
            # post), then each other group's test, each pass over the smaller side.
            docs = self.model.group_docs
            held = sorted((docs[g] for g in weighted if g in inside), key=len)
            out = held[0] & self.docs if held else set(self.docs)
            for other in held[1:]:
                out &= other
            for g in weighted:
                if not out:
                    break
                if g not in inside:
                    lacking = docs[g]
                    if len(out) < len(lacking):
                        out = {d for d in out if d not in lacking}
                    else:
                        out -= lacking
            return out

        def levels() -> Iterator[tuple[float, set[int] | None]]:
            for level in sorted(by_level, reverse=True):
                posts: set[int] = set()
                for inside in by_level[level]:
                    posts |= members(inside)
                if posts:
                    yield level, posts

        return levels()

    def _top_in(self, members: set[int] | None, need: int, level: float) -> list[Ranked]:
        """The first ``need`` posts of ``members`` (all matching posts when None), one
        coordination level, by score, date and path, computing few scores in full.

        Threshold algorithm (Fagin et al., with the random accesses of its "combined" form):
        each term's posts are read in decreasing order of the term's part of the score
        (``WordHits.order``), each near pair's posts in decreasing order of the bound of its
        bonus. A post met gets its known score (its words and the literal keywords it is
        known to hold) and a bound of what is still to compute (keywords to check on the
        text, near pairs); the best bounds are computed exactly as they come. A post not met
        yet scores at most the sum of each list's next value plus the bonuses of keywords
        whose literal posts were not all met: once the ``need``-th best score is above that,
        no other post can enter. The rest is computed in decreasing order of bound until no
        bound left reaches the ``need``-th score. The result is the head of
        ``rank_exhaustive`` (a test compares them): the same posts, order and scores.
        Nothing here depends on what a term is beyond its weight and its ``WordHits``.
        """
        scope = self.docs if members is None else members
        live, pairs = _TopK.sources(self)
        if (
            len(scope) >= GIVE_UP_MIN
            and len(live) + len(pairs) > TA_MAX_LISTS_NUMPY
            and _numpy() is not None
        ):
            # Many lists over a large scope: the threshold algorithm would give up (their
            # next values fall slowly), and the fallback in arrays costs less than trying
            # (or than sorting its lists).
            return self._top_by_bounds(scope, need, level)
        top = _TopK(self, scope, need)
        if not top.run():
            return self._top_by_bounds(scope, need, level, top.resolved, top.theta())
        ts = self.snap.numeric_column("date_ts")
        final = top.final
        ranked = in_order(self.snap, final, need, lambda d: (-final[d], -ts[d]))
        return [Ranked(d, final[d], "", level) for d in ranked]

    def _top_by_bounds(
        self,
        scope: set[int],
        need: int,
        level: float,
        resolved: dict[int, float] | None = None,
        floor: float = -math.inf,
    ) -> list[Ranked]:
        """The first ``need`` posts of ``scope`` (one coordination level) when the threshold
        algorithm gives up: every post's words scored (a pass per term, cheaper than a post at
        a time when most posts would be met), then the pending parts computed for the best
        upper bounds, and for any other post whose bound reaches the page's last score.
        ``resolved``: the pending parts the threshold algorithm computed before it gave up (the
        same values: ``_resolve`` does not depend on the batch), not computed again; ``floor``:
        a score that the page's last one is known to reach (the threshold algorithm's)."""
        dense_min = DENSE_MIN if _numpy() is not None else DENSE_MIN_LISTS
        if len(scope) >= dense_min and len(scope) > need:
            known, pending, scope, first = self._dense_bounds(scope, need, floor)
            resolved = {**(resolved or {}), **first}
        else:
            known, pending, scope = self._bounds(scope, need)
        ts = self.snap.numeric_column("date_ts")
        exact: dict[int, float] = {}
        if resolved:
            exact.update((d, v) for d, v in resolved.items() if d in pending.bound)

        def final(d: int) -> tuple[float, int]:
            return (-(known.get(d, 0.0) + exact.get(d, 0.0)), -ts[d])

        ub = dict.fromkeys(scope, 0.0)
        ub.update(known)
        for d, v in pending.bound.items():
            ub[d] += v
        bound = ub.__getitem__
        docs = list(scope)
        size = _first(need)
        cand = docs if len(docs) <= size else heapq.nlargest(size, docs, key=bound)
        self._resolve_into(exact, [d for d in cand if d in pending.bound], pending)
        best = in_order(self.snap, cand, need, final)
        if len(cand) < len(docs):
            # A post left out comes in only if its bound reaches the page's last score.
            floor = _below(-final(best[-1])[0]) if len(best) == need else -math.inf
            taken = set(cand)
            more = [d for d in docs if d not in taken and bound(d) >= floor]
            # Best bounds first, a batch at a time: the page's last score rises as they are
            # computed, and the rest of the posts stop reaching it sooner (a long question of
            # common words: 3,482 posts to compute at 144,264 posts, a few hundred this way).
            more.sort(key=bound, reverse=True)
            i, step = 0, _MORE_BATCH
            while i < len(more):
                batch = [d for d in more[i : i + step] if bound(d) >= floor]
                i, step = i + step, min(2 * step, _MORE_BATCH_MAX)
                if not batch:
                    break
                # Below the page's last score so far, a post's pairs and checks stop (see
                # ``_resolve``): its score stays below that floor, so it stays off the page.
                self._resolve_into(
                    exact,
                    [d for d in batch if d in pending.bound],
                    pending,
                    floor,
                    lambda d: known.get(d, 0.0),
                )
                best = in_order(self.snap, best + batch, need, final)
                if len(best) == need:
                    floor = max(floor, _below(-final(best[-1])[0]))
        return [Ranked(d, -final(d)[0], "", level) for d in best]

    def score(self, docs: list[int]) -> list[Ranked]:
        """The exact scores of the given posts, in the given order (for other sort orders)."""
        known, pending, _ = self._bounds(set(docs) & self.docs)
        todo = [d for d in docs if d in pending.bound]
        exact = self._resolve(todo, pending) if todo else {}
        return [Ranked(d, known.get(d, 0.0) + exact.get(d, 0.0)) for d in docs]

    def _ranked(self, d: int, score: float, coord: dict[int, float] | None) -> Ranked:
        return Ranked(d, score, "", coord[d] if coord is not None else 0.0)

    # match kinds and explanations ----------------------------------------------------------

    def match_kind(self, d: int) -> MatchKind:
        kws = self.model.keywords
        if not kws:
            # Phrases and title: clauses only: literal when each holds the post literally.
            literal = all(any(d in e.exact for e in g) for g in self.required)
            return MATCH_LITERAL if literal else MATCH_ALL
        # How the post matched each group: the best way any keyword of it did.
        best = [len(_HOW)] * len(self.soft)
        for ki, kw in enumerate(kws):
            best[kw.group] = min(best[kw.group], _HOW.index(self._how(d, ki)))
        how = {_HOW[b] if b < len(_HOW) else _MISSING for b in best}
        if how == {MATCH_LITERAL}:
            return MATCH_LITERAL
        if _MISSING in how:
            return MATCH_SOME
        for kind in (MATCH_PINYIN, MATCH_SYNONYM):
            if kind in how:
                return kind
        return MATCH_ALL

    def _how(self, d: int, ki: int) -> str:
        """How post ``d`` holds keyword ``ki``: literally, all its words, through a pinyin
        reading, or not (``_MISSING``); a synonym's literal or words match is a synonym match."""
        kw = self.model.keywords[ki]
        terms = self.model.terms
        content = [i for i in kw.terms if not terms[i].function]
        if self._literal(d, ki):
            how = MATCH_LITERAL
        elif all(d in terms[i].hits.tf for i in content) and (content or not kw.alternatives):
            how = MATCH_ALL
        elif any(d in terms[i].hits.tf for i in kw.alternatives):
            how = MATCH_PINYIN
        else:
            how = _MISSING
        if kw.match.via == MATCH_SYNONYM and how in (MATCH_LITERAL, MATCH_ALL):
            return MATCH_SYNONYM
        return how

    def explain(self, d: int) -> Explanation:
        """The parts of post ``d``'s score: each word per field, literal bonuses, near pairs."""
        terms = self.model.terms
        parts: list[Explanation] = []
        for t in terms:
            v = t.hits.tf.get(d)
            if v is not None and t.weight > 0.0:
                parts.append(self._explain_term(t, d, v))
        for ki, kw in enumerate(self.model.keywords):
            if kw.literal > 0.0 and self._literal(d, ki):
                parts.append(
                    Explanation(
                        kw.literal,
                        f"literal keyword {kw.match.clause.text!r}: as much as its words score "
                        "at most",
                    )
                )
        if any(kw.pairs for kw in self.model.keywords):
            for _ki, a, b, acc, value in self.proximity([d], detail=True)[d]:
                parts.append(
                    Explanation(
                        value,
                        f"near words {terms[a].word} … {terms[b].word}",
                        (
                            Explanation(
                                acc, f"nearness: sum of 1/distance² within {PROXIMITY_WINDOW} words"
                            ),
                            Explanation(
                                min(terms[a].weight, terms[b].weight),
                                "weight of the rarer word (its idf)",
                            ),
                        ),
                    )
                )
        total = sum(p.value for p in parts)
        desc = "sum of"
        if self._coordinate:
            desc = (
                f"sum of (ranked first by keywords matched: {self.coordination(d):.2f} of "
                "their weight)"
            )
        return Explanation(total, desc, tuple(parts))

    def _explain_term(self, t: Term, d: int, tf: float) -> Explanation:
        fields = []
        for name in ("title", "title_sub", "text", "text_sub"):
            freq = self.stats.field_tf(name, t.word, d)
            if freq:
                norm = self.stats.norm(name, d)
                fields.append(
                    Explanation(
                        FIELD_WEIGHTS[name] * freq / norm,
                        f"{name}: frequency {freq:g} × field weight {FIELD_WEIGHTS[name]:g} / "
                        f"length norm {norm:.3f}",
                    )
                )
        if t.factor != 1.0:
            weight = f"{t.factor:.3g} × idf {t.weight / t.factor:.3f}"
        else:
            weight = f"idf {t.weight:.3f}"
        what = f"{'sub-word' if t.extra else 'word'} {t.word}"
        if t.via == MATCH_PINYIN:
            what = f"pinyin reading {t.word}"
        elif t.via == MATCH_SYNONYM:
            what = f"synonym {what}"
        return Explanation(
            contribution(t, tf),
            f"{what}: {weight} × frequency {tf:.3f} saturated: ·{K1 + 1:g}/({tf:.3f} + {K1:g}); "
            "the frequency is the sum of",
            tuple(fields),
        )


#: The ways a post may hold a keyword, best first (see Ranker._how).
_MISSING = "missing"
_HOW = (MATCH_LITERAL, MATCH_ALL, MATCH_SYNONYM, MATCH_PINYIN, _MISSING)


def _add_term(t: Term, scope: set[int], out: dict[int, float]) -> None:
    """Add ``t``'s contribution (see ``contribution``) to each post of ``scope`` that has it."""
    w = t.weight
    if w <= 0.0:
        return
    sat = t.hits.saturated()
    get = out.get
    # weight * saturate(tf): the same expression as contribution(), so that explanations add up
    # to the same score.
    if len(sat) <= len(scope):
        if sat.keys() <= scope:
            for d, v in sat.items():
                out[d] = get(d, 0.0) + w * v
        else:
            for d, v in sat.items():
                if d in scope:
                    out[d] = get(d, 0.0) + w * v
    else:
        sget = sat.get
        for d in scope:
            found = sget(d)
            if found is not None:
                out[d] = get(d, 0.0) + w * found


class _TopK:
    """The state of one run of ``Ranker._top_in``."""

    @staticmethod
    def sources(ranker: Ranker) -> tuple[list[int], list[tuple[int, int]]]:
        """What the sorted lists are of: the terms that weigh something, the near pairs."""
        live = [i for i, t in enumerate(ranker.model.terms) if t.weight > 0.0]
        return live, ranker._pairs() if PROXIMITY_WEIGHT > 0.0 else []

    def __init__(self, ranker: Ranker, scope: set[int], need: int):
        self.ranker = ranker
        self.scope = scope
        self.need = need
        model = ranker.model
        terms = model.terms
        live, pairs = self.sources(ranker)
        self._parts = [(terms[i].hits.saturated(), terms[i].weight) for i in live]
        self._literal = [
            (ki, kw.match.exact, kw.match.maybe, kw.literal)
            for ki, kw in enumerate(model.keywords)
            if kw.literal > 0.0
        ]
        self._near = [
            (terms[a].hits.count, terms[b].hits.count, _pair_bound(terms[a], terms[b]))
            for a, b in pairs
        ]
        # The sorted accesses: each term's posts by its part of the score, each near pair's
        # posts by the bound of its bonus.
        self._lists: list[tuple[array[int], Callable[[int], float]]] = []
        for (sat, weight), i in zip(self._parts, live, strict=True):
            self._lists.append((terms[i].hits.order(), partial(_weighted, sat, weight)))
        for (a, b), (ca, cb, scale) in zip(pairs, self._near, strict=True):
            self._lists.append(
                (terms[a].hits.near_order(terms[b].hits), partial(_near_part, ca, cb, scale))
            )
        #: Posts met: known score; bound of the pending parts; keywords to check; near pairs?
        self.seen: dict[int, tuple[float, float, list[int], bool]] = {}
        #: Exact scores of the posts met whose pending parts are computed (or have none).
        self.final: dict[int, float] = {}
        self._lower: list[float] = []  # the best ``need`` known scores (a min-heap)
        self._best: list[float] = []  # the best ``need`` exact scores (a min-heap)
        self._todo: list[tuple[float, int]] = []  # (-bound, post) still to compute (a heap)
        self._pending = _Pending()
        #: The pending parts computed, per post (see ``Ranker._top_by_bounds``).
        self.resolved: dict[int, float] = {}

    def meet(self, d: int) -> None:
        k1 = K1
        acc = 0.0
        for sat, weight in self._parts:
            v = sat.get(d)
            if v is not None:
                acc = acc + weight * v
        pend = 0.0
        checks: list[int] = []
        for ki, exact, maybe, bonus in self._literal:
            if d in exact:
                acc = acc + bonus
            elif d in maybe:
                pend += bonus
                checks.append(ki)
        prox = False
        for ca, cb, scale in self._near:
            n = ca.get(d)
            if n:
                m = cb.get(d)
                if m:
                    if m < n:
                        n = m
                    pend += scale * n / (n + k1)
                    prox = True
        self.seen[d] = (acc, pend, checks, prox)
        _keep(self._lower, acc, self.need)
        if pend > 0.0:
            heapq.heappush(self._todo, (-(acc + pend), d))
            if checks:
                self._pending.literal[d] = checks
            if prox:
                self._pending.proximity.add(d)
        else:
            self.final[d] = acc
            _keep(self._best, acc, self.need)

    def theta(self) -> float:
        """A lower bound of the ``need``-th best score (-inf while fewer posts are known)."""
        need = self.need
        out = -math.inf
        if len(self._lower) == need:
            out = self._lower[0]
        if len(self._best) == need and self._best[0] > out:
            out = self._best[0]
        return out

    def resolve(self) -> None:
        """Compute the pending parts of the posts of highest bound (one batch)."""
        todo = self._todo
        batch = [heapq.heappop(todo)[1] for _ in range(min(RESOLVE_BATCH, len(todo)))]
        # Below the threshold (a bound of the page's last score), a post's pairs and checks
        # stop: its score, less than the exact one, stays below the page (see Ranker._resolve).
        theta = self.theta()
        seen = self.seen
        exact = self.ranker._resolve(
            batch,
            self._pending,
            _below(theta) if theta > -math.inf else -math.inf,
            lambda d: seen[d][0],
        )
        self.resolved.update(exact)
        for d in batch:
            score = self.seen[d][0] + exact[d]
            self.final[d] = score
            _keep(self._best, score, self.need)

    def run(self) -> bool:
        """Find the ``need`` best posts (in ``final``); False if it gave up (it met more than
        GIVE_UP_SHARE of a large scope: the posts are then better scored a term at a time)."""
        seen, scope = self.seen, self.scope
        share = GIVE_UP_SHARE_NUMPY if _numpy() is not None else GIVE_UP_SHARE
        give_up = share * len(scope) if len(scope) >= GIVE_UP_MIN else math.inf
        inside = scope.__contains__
        # Keywords with few literal posts: meet them all now, so that posts not met cannot
        # have their bonus; the others' bonus stays in the bound of the posts not met.
        bonus_left = 0.0
        for _ki, exact, maybe, bonus in self._literal:
            if len(exact) + len(maybe) <= SEED_LIMIT:
                for d in (*exact, *maybe):
                    if d not in seen and inside(d):
                        self.meet(d)
            else:
                bonus_left += bonus
        lists = self._lists
        cursor = [0] * len(lists)

        def front(j: int) -> float:
            order, value = lists[j]
            return value(order[cursor[j]]) if cursor[j] < len(order) else 0.0

        fronts = [front(j) for j in range(len(lists))]
        first_unmet = sum(fronts) + bonus_left
        todo = self._todo
        exhausted = False
        raise_at = RAISE_EVERY
        while True:
            unmet = sum(fronts) + bonus_left
            theta = self.theta()
            if theta > _above(unmet):
                break
            if todo and -todo[0][0] > theta and -todo[0][0] >= unmet:
                # A post met may be above every post not met: its exact score may end it.
                self.resolve()
                continue
            if todo and len(seen) >= raise_at and -todo[0][0] > theta:
                # The known scores lag behind the exact ones by the near pairs: the best bounds
                # computed now and then raise the threshold that MaxScore and the stop compare.
                raise_at = len(seen) + RAISE_EVERY
                self.resolve()
                continue
            # MaxScore meets at most what is left of the share before giving up: past it, the
            # fallback costs less than meeting the essential lists' posts one by one.
            limit = min(MAXSCORE_LIMIT, give_up - len(seen))
            if theta > -math.inf and self._essential(fronts, cursor, bonus_left, theta, limit):
                break
            if len(seen) > give_up:
                return False
            if (
                give_up < math.inf
                and theta > -math.inf
                and (
                    len(seen) >= raise_at - RAISE_EVERY // 2 >= RAISE_EVERY
                    or len(seen) >= GIVE_UP_JUDGE * give_up
                )
            ):
                # The bound of the posts not met falls about evenly with the posts met: when it
                # would reach the threshold only past the share given up at, give up now.
                fallen = first_unmet - unmet
                if fallen <= 0.0 or len(seen) * (first_unmet - theta) > give_up * fallen:
                    return False
            j = max(range(len(lists)), key=fronts.__getitem__, default=-1)
            if j < 0 or fronts[j] <= 0.0:
                exhausted = True
                break
            order, start = lists[j][0], cursor[j]
            for d in order[start : start + TA_BATCH]:
                if d not in seen and inside(d):
                    self.meet(d)
            cursor[j] = start + TA_BATCH
            fronts[j] = front(j)
        if exhausted:
            self._termless(bonus_left)
        # Every post that can enter is met: compute the bounds that still reach.
        while todo and -todo[0][0] >= _below(self.theta()):
            self.resolve()
        return True

    def _essential(
        self,
        fronts: list[float],
        cursor: list[int],
        bonus_left: float,
        theta: float,
        limit: float = MAXSCORE_LIMIT,
    ) -> bool:
        """MaxScore (Turtle and Flood): the lists whose next values, with the bonuses left,
        add up to less than the ``need``-th score cannot bring a post in by themselves, so a
        post that can enter is in one of the other lists (the essential ones), past its
        cursor. When those hold few posts (``limit``), meet them all and say so (True):
        nothing else can enter. The threshold algorithm alone reads ever more posts when a
        query has many words (each list's next value falls slowly); this ends it once the rare
        words decide.
        """
        by_front = sorted(range(len(fronts)), key=fronts.__getitem__)
        acc = bonus_left
        k = 0
        while k < len(by_front) and theta > _above(acc + fronts[by_front[k]]):
            acc += fronts[by_front[k]]
            k += 1
        if k == 0:
            return False
        essential = by_front[k:]
        lists = self._lists
        if sum(max(0, len(lists[j][0]) - cursor[j]) for j in essential) > limit:
            return False
        seen, inside = self.seen, self.scope.__contains__
        for j in essential:
            for d in lists[j][0][cursor[j] :]:
                if d not in seen and inside(d):
                    self.meet(d)
        return True

    def _termless(self, bonus_left: float) -> None:
        """Every post with a term or near pair was met: the others score their literal
        bonuses at most (nothing if they hold no keyword literally)."""
        seen, scope, need = self.seen, self.scope, self.need
        if bonus_left > 0.0 and not self.theta() > _above(bonus_left):
            large = [e for e in self._literal if len(e[1]) + len(e[2]) > SEED_LIMIT]
            if len(self._literal) == 1 and not large[0][2]:
                # One keyword, no post to check: the posts left score its bonus, all alike;
                # only the first ``need`` by date and path can enter.
                _ki, exact, _maybe, _bonus = large[0]
                left = scope.intersection(exact).difference(seen)  # (sets: C loops)
                for d in sort_by_date(self.ranker.snap, left, need, newest=True):
                    self.meet(d)
            else:
                for _ki, exact, maybe, _bonus in large:
                    for d in (*exact, *maybe):
                        if d not in seen and d in scope:
                            self.meet(d)
        if len(seen) < len(scope) and not self.theta() > _above(0.0):
            # Fewer posts with a score than wanted: the others score 0, all alike.
            left = scope.difference(seen)
            for d in sort_by_date(self.ranker.snap, left, need, newest=True):
                self.meet(d)


def _weighted(sat: dict[int, float], weight: float, d: int) -> float:
    return weight * sat[d]


def _near_part(ca: dict[int, int], cb: dict[int, int], scale: float, d: int) -> float:
    """The bound of a near pair's bonus for post ``d`` (as ``_TopK.meet`` computes it)."""
    n = min(ca[d], cb[d])
    return scale * n / (n + K1)


def _keep(heap: list[float], value: float, size: int) -> None:
    """Keep the ``size`` largest values in a min-heap."""
    if len(heap) < size:
        heapq.heappush(heap, value)
    elif value > heap[0]:
        heapq.heapreplace(heap, value)


def _above(bound: float) -> float:
    """``bound`` plus the rounding margin: a score above it is above the bound for sure."""
    return bound + _MARGIN * abs(bound) + _MARGIN


def _below(score: float) -> float:
    """``score`` minus the rounding margin: a bound below it cannot reach the score."""
    return score - _MARGIN * abs(score) - _MARGIN


def _pair_bound(a: Term, b: Term) -> float:
    return PROXIMITY_WEIGHT * min(a.weight, b.weight) * (K1 + 1.0)


def _pair_value(a: Term, b: Term, acc: float) -> float:
    return PROXIMITY_WEIGHT * min(a.weight, b.weight) * saturate(acc)


def _nearness(pa: list[int], pb: list[int]) -> float:
    """Sum over the occurrences of the rarer word of 1/d² to the nearest occurrence of the other,
    within the window: at most the number of occurrences of the rarer word."""
    if len(pa) > len(pb):
        pa, pb = pb, pa
    acc = 0.0
    n = len(pb)
    for p in pa:
        i = bisect_left(pb, p)
        dist = PROXIMITY_WINDOW + 1
        if i < n:
            dist = pb[i] - p
        if i > 0 and p - pb[i - 1] < dist:
            dist = p - pb[i - 1]
        if 0 < dist <= PROXIMITY_WINDOW:
            acc += 1.0 / (dist * dist)
    return acc


def in_order(
    snap: Snapshot,
    docs: Iterable[int],
    wanted: int | None,
    key: Callable[[int], Any],
    smallest: Callable[[int], list[int]] | None = None,
) -> list[int]:
    """The first ``wanted`` of ``docs`` (all of them when None) by ``key``, then by path, the
    final tie-breaker: paths are read only for posts whose keys tie. ``smallest(n)``: the
    first ``n`` of ``docs`` by ``key`` (ties in any order), if the caller has a faster way."""
    if wanted is None:
        head = sorted(docs, key=key)
    else:
        pool = docs if isinstance(docs, (list, set, frozenset)) else list(docs)
        take = wanted + 16
        while True:
            if smallest is not None:
                head = smallest(take)
            else:
                head = heapq.nsmallest(take, pool, key=key)
            # Complete when every post whose key ties with the last wanted one is in: the
            # list ends before ``take`` or on a greater key.
            if len(head) < take or key(head[-1]) != key(head[wanted - 1]):
                break
            take *= 4
    out: list[int] = []
    i, n = 0, len(head) if wanted is None else min(len(head), wanted)
    keys = [key(d) for d in head]
    while i < n:
        j = i + 1
        while j < len(head) and keys[j] == keys[i]:
            j += 1
        if j - i == 1:
            out.append(head[i])
        else:
            out.extend(sorted(head[i:j], key=snap.path))
        i = j
    return out[:n]


def sort_by_date(
    snap: Snapshot, docs: Iterable[int], wanted: int | None, newest: bool
) -> list[int]:
    """Posts by date (newest or oldest first; undated last), then by path."""
    ts = snap.numeric_column("date_ts")
    if newest:
        key: Any = lambda d: -ts[d]  # noqa: E731
    else:
        key = lambda d: ts[d] if ts[d] != NO_DATE else 2**62  # noqa: E731
    np = _numpy()
    pool = docs if isinstance(docs, (list, set, frozenset)) else list(docs)
    if np is None or wanted is None or len(pool) < DENSE_MIN:
        return in_order(snap, pool, wanted, key)
    # Many posts (a single common word's, all alike but for their dates): the first of them
    # picked in arrays of the same keys.
    keys = snap.memo(("date keys", newest), lambda: _date_keys(np, ts, newest))

    def smallest(n: int) -> list[int]:
        posts = np.fromiter(pool, dtype=np.int64, count=len(pool))
        values = keys[posts]
        if n < len(posts):
            part = np.argpartition(values, n - 1)[:n]
            posts, values = posts[part], values[part]
        out: list[int] = posts[np.argsort(values, kind="stable")].tolist()
        return out

    return in_order(snap, pool, wanted, key, smallest)


def _date_keys(np: Any, ts: array[int], newest: bool) -> Any:
    """``sort_by_date``'s key of every post, in an array."""
    values = np.frombuffer(ts, dtype=np.int64) if ts.itemsize == 8 else np.array(ts, np.int64)
    if newest:
        return -values
    return np.where(values == NO_DATE, 2**62, values)


# --- similar posts -----------------------------------------------------------------------------


def key_terms(
    stats: Statistics, analyzer: Any, title: str, text: str, count: int
) -> list[tuple[str, float]]:
    """A post's most distinctive words by tf-idf, with weights relative to the first."""
    counts: dict[str, int] = {}
    for tok in analyzer.tokens(title + "\n" + text, subwords=False):
        # One-character words and bare numbers say little about what a post is about.
        if len(tok.text) > 1 and not tok.text.replace(".", "").isdigit():
            counts[tok.text] = counts.get(tok.text, 0) + 1
    n = stats.snap.doc_count or 1
    scored = []
    for w, tf in counts.items():
        if w in FUNCTION_WORDS:
            continue
        df = stats.word(w).df
        if df <= 1 or df > 0.5 * n:
            continue
        scored.append((tf * stats.idf(df), w))
    scored.sort(reverse=True)
    top = scored[:count]
    if not top:
        return []
    best = top[0][0]
    return [(w, s / best) for s, w in top]


def similar_posts(
    stats: Statistics, key: list[tuple[str, float]], me: int, limit: int
) -> tuple[int, list[tuple[int, float]]]:
    """Posts that share key terms with post ``me``: BM25F of those terms, each weighted by its
    tf-idf weight in ``me``. Returns how many posts share any, and the best ``limit``."""
    scores: dict[int, float] = {}
    get = scores.get
    for w, weight in key:
        hits = stats.word(w)
        wt = weight * stats.idf(hits.df)
        for d, v in hits.tf.items():
            if d != me:
                scores[d] = get(d, 0.0) + wt * saturate(v)
    top = heapq.nlargest(limit, scores.items(), key=lambda kv: (kv[1], -kv[0]))
    return len(scores), top
