"""Which posts match, and how well: literal pieces through the word index, words, BM25F.

A literal piece of text is found from the precise words alone. jieba's precise mode partitions
every Han run into words, so a piece that occurs in a post is either inside one indexed word, or
the end of one word, then whole words, then the start of another, at consecutive positions. The
index's own vocabulary answers "which words contain / end with / start with this", the postings
give the positions. Very long pieces are narrowed down by three shorter pieces and checked on the
stored text. No character n-gram field is needed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias, TypeVar

from .alternatives import Alternative, expand
from .analysis import _ALNUM_CHAR as _ALNUM_CLASS
from .analysis import BOUNDARY, Analyzer
from .lexicon import Lexicon
from .query import CATEGORY, PHRASE, REQUIRED_KINDS, TAG, TITLE, Clause, ParsedQuery
from .ranking import COMMON_SHARE, FUNCTION_WORDS, Statistics, WordHits
from .schema import JOIN_FIELDS, SUB_FIELDS, decode_positions, keyword_term
from .store import Snapshot, VocabularyPart
from .synonyms import SynonymMap

#: Pieces up to this length are matched through the word lattice; longer ones are narrowed down
#: by their first, middle and last pieces of half this length and checked on the stored text.
LATTICE_MAX = 24


#: Beyond this many ways to split a piece into words, split matches are found by a dynamic
#: programme over document sets instead.
_MAX_PATHS = 256
#: More posts than this are always checked on positions in the index; fewer, on their stored
#: texts unless positions cost less (see ``Matcher._check``).
_TEXT_CHECK_MAX = 48
#: A piece's candidates checked a few at a time are remembered up to this many (see _check).
CHECKED_KEPT = 4096
#: A term's positions are read for a few posts only (the blocks that hold them) when its list
#: has more than this many postings a post; else its whole list is decoded and kept in the
#: snapshot's cache (the ranking asks again for other posts of the same words). A block holds
#: 128 postings: below this, most blocks would be decoded anyway, one call after another.
_WHOLE_LIST = 256
#: In a list kept whole, a few posts are found by bisection when the list has more than this
#: many postings a post (a step of bisection costs about what a dozen of the walk do).
_BISECT_LIST = 16
#: Positions take this many bits of a (post, position) key. Positions are stored as unsigned
#: 32-bit numbers, so a key never spills into the post's bits, however long the post.
_POS_BITS = 40
_HAN_RUN = re.compile("[\u4e00-\u9fd5]+")
_ALNUM_CHAR = re.compile(f"{_ALNUM_CLASS}|\\.")
#: An edge whose vocabulary has more terms than this is not read just to narrow candidates
#: that other edges of the way already narrowed (its postings cost more than checking them).
_BIG_EDGE = 64
#: An edge of more terms than this is never priced (their document frequencies read) to narrow
#: a split match's candidates (see ``Matcher._narrow``).
_NARROW_TERMS = 8


def _narrow_limit(candidates: int) -> int:
    """The most posts an edge may have to be read once ``candidates`` posts are left: reading
    a list costs about as much as checking a few candidates' positions."""
    return 4 * candidates + 1024


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, limit: int, make: Callable[[], V]) -> V:
    """``make()``, kept in ``cache`` under ``key``; the cache starts afresh when it holds ``limit``
    values."""
    hit = cache.get(key)
    if hit is None:
        hit = make()
        if len(cache) >= limit:
            cache.clear()
        cache[key] = hit
    return hit


def _all_han(text: str) -> bool:
    return _HAN_RUN.fullmatch(text) is not None


def _paths(
    edges: dict[tuple[int, int], list[str]], n: int, limit: int
) -> list[tuple[tuple[int, int], ...]] | None:
    """All ways from 0 to n through at least two edges, or None if there are over ``limit``."""
    out: list[tuple[tuple[int, int], ...]] = []
    nexts: dict[int, list[int]] = {}
    for i, j in edges:
        nexts.setdefault(i, []).append(j)
    # Nodes from which n can be reached at all.
    alive = {n}
    for i in range(n - 1, -1, -1):
        if any(j in alive for j in nexts.get(i, ())):
            alive.add(i)
    if 0 not in alive:
        return out

    def walk(node: int, path: tuple[tuple[int, int], ...]) -> bool:
        for j in sorted(nexts.get(node, ())):
            if j not in alive:
                continue
            step = (*path, (node, j))
            if j == n:
                out.append(step)
                if len(out) > limit:
                    return False
            elif not walk(j, step):
                return False
        return True

    return out if walk(0, ()) else None


@dataclass(frozen=True)
class _Plan:
    """How a piece of length n can run across words: the useful edges and candidate posts."""

    n: int
    edges: dict[tuple[int, int], list[str]]
    candidates: Collection[int]
    #: For each edge, the candidates of the ways that use it.
    edge_cands: dict[tuple[int, int], Collection[int]]


@dataclass(frozen=True)
class Literal:
    """Where a literal piece is: posts known to have it, and posts to check."""

    exact: frozenset[int]
    maybe: frozenset[int]
    plan: _Plan | None = None


_NO_LITERAL = Literal(frozenset(), frozenset())

#: A set of posts kept in a cache as a sorted array from this size on (see _KeptLiteral).
_PACK_MIN = 4096

Posts: TypeAlias = "frozenset[int] | array[int]"


@dataclass(frozen=True)
class _KeptLiteral:
    """A Literal as the matcher's cache keeps it: its large sets as arrays. The cyclic garbage
    collector walks every item of a set on each full pass, never an array's: the literals of
    a few hundred common pieces are millions of posts at 144,000 posts (40 ms a pass)."""

    exact: Posts
    maybe: Posts
    plan: _Plan | None

    @classmethod
    def of(cls, lit: Literal) -> _KeptLiteral:
        plan = lit.plan
        if plan is not None:
            packed: dict[int, Posts] = {}  # edges may share one set
            cands: dict[tuple[int, int], Collection[int]] = {
                e: packed.get(id(c)) or packed.setdefault(id(c), _pack(c))
                for e, c in plan.edge_cands.items()
            }
            plan = _Plan(plan.n, plan.edges, (), cands)  # the candidates are ``maybe``
        return cls(_pack(lit.exact), _pack(lit.maybe), plan)

    def literal(self) -> Literal:
        return Literal(_unpack(self.exact), _unpack(self.maybe), self.plan)


def _pack(docs: Collection[int]) -> Posts:
    if isinstance(docs, array):
        return docs
    if len(docs) < _PACK_MIN:
        return docs if isinstance(docs, frozenset) else frozenset(docs)
    return array("i", sorted(docs))


def _holds(posts: Posts, d: int) -> bool:
    if isinstance(posts, frozenset):
        return d in posts
    i = bisect_left(posts, d)
    return i < len(posts) and posts[i] == d


def _among(docs: set[int], posts: Posts) -> set[int]:
    """The posts of ``docs`` in ``posts`` (looked up one by one when ``docs`` are few)."""
    if isinstance(posts, array) and len(docs) * 16 < len(posts):
        return {d for d in docs if _holds(posts, d)}
    return docs.intersection(posts)


def _unpack(docs: Posts) -> frozenset[int]:
    return docs if isinstance(docs, frozenset) else frozenset(docs)


def _reach(
    edges: dict[tuple[int, int], list[str]],
    docs_of: Callable[[tuple[int, int]], set[int] | None],
    n: int,
) -> set[int] | None:
    """Posts that can get from the start of a piece to its end through the edges (no positions).

    ``docs_of`` may leave an edge unread (None: any post may have it); None is then returned
    when every way runs through unread edges only.
    """
    fwd: dict[int, set[int] | None] = {0: None}
    for j in range(1, n + 1):
        acc: set[int] | None = set()
        for i, jj in edges:
            src = fwd.get(i, set())
            if jj != j or (src is not None and not src):
                continue
            got = docs_of((i, jj))
            if src is not None:
                got = src if got is None else src & got
            if got is None or acc is None:
                acc = None
                break
            acc |= got
        fwd[j] = acc
    return fwd[n]


class Vocabulary:
    """The terms of one word field (all segments): which contain, start or end with a piece.

    Each segment keeps its terms sorted, one a line, and the same terms written backwards,
    sorted (``store.VocabularyPart``): "starts with" bisects the first, "ends with" the second,
    "contains" is a byte search of the first; only the terms found are decoded. With ``note``,
    each term found is told with the segments that hold it (``Snapshot.note_segments``), the
    segments without a vocabulary among them.
    """

    def __init__(
        self,
        forward: list[VocabularyPart],
        backward: list[VocabularyPart],
        note: Callable[[str, tuple[int, ...]], None] | None = None,
    ):
        self.forward = forward
        self.backward = backward
        self._note = note
        self._blind = [k for k, part in enumerate(forward) if part.missing]

    def _found(
        self,
        parts: list[VocabularyPart],
        search: Callable[[VocabularyPart], list[bytes]],
        flip: bool,
    ) -> set[str]:
        """The terms ``search`` finds in the parts (written backwards when ``flip``), each told
        with the segments that hold it."""
        found: dict[str, list[int]] = {}
        for k, part in enumerate(parts):
            for t in search(part):
                term = t.decode("utf-8", "surrogatepass")
                found.setdefault(term[::-1] if flip else term, []).append(k)
        if self._note is not None:
            for term, segments in found.items():
                self._note(term, tuple(sorted({*segments, *self._blind})))
        return set(found)

    def containing(self, piece: str) -> set[str]:
        if not piece or "\n" in piece:
            return set()
        key = piece.encode("utf-8", "surrogatepass")
        return self._found(self.forward, lambda part: part.containing(key), False)

    def ending_with(self, piece: str) -> set[str]:
        if not piece or "\n" in piece:
            return set()
        key = piece[::-1].encode("utf-8", "surrogatepass")
        return self._found(self.backward, lambda part: part.with_prefix(key), True)

    def starting_with(self, piece: str) -> set[str]:
        if not piece or "\n" in piece:
            return set()
        key = piece.encode("utf-8", "surrogatepass")
        return self._found(self.forward, lambda part: part.with_prefix(key), False)


@dataclass
class ClauseMatch:
    """One clause, evaluated: the posts it matches and what the ranking needs to know."""

    clause: Clause
    docs: set[int]
    #: Posts known to hold the clause's text literally, and posts that may (checked lazily).
    exact: frozenset[int] = frozenset()
    maybe: frozenset[int] = frozenset()
    #: The clause's distinct words, and the words that weigh nothing and match nothing on their
    #: own (the function words, when the query has other words).
    words: list[str] = dataclasses.field(default_factory=list)
    ignored: frozenset[str] = frozenset()
    piece: str = ""
    fields: tuple[str, ...] = ()
    #: Words that only add to the score: the search-mode sub-words of the clause's words (the
    #: query may be cut differently from the post).
    extra: list[str] = dataclasses.field(default_factory=list)
    #: "synonym" for a synonym of another clause of its group (``of``; see alternatives.py).
    via: str = ""
    of: ClauseMatch | None = None
    #: The indexed words a Latin keyword reads as in pinyin (``initials``: as their initials).
    pinyin: tuple[str, ...] = ()
    initials: bool = False
    #: What ``docs`` was made of, when it is the union of these: each field's literal posts (as
    #: the cache keeps them), the posts of these words, and these posts (see ``posts_array``).
    parts: tuple[list[Posts], list[WordHits], frozenset[int]] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    _array: Any = dataclasses.field(default=None, repr=False, compare=False)

    def posts_array(self, np: Any, size: int) -> Any | None:
        """``docs`` as a sorted NumPy array, made from its parts (the cached literal arrays, the
        words' arrays, a few checked posts) rather than from the set, once; None if unknown."""
        if self._array is None and self.parts is not None:
            literal, hits, checked = self.parts
            mask = np.zeros(size, dtype=bool)
            for posts in (*literal, checked):
                if isinstance(posts, array):
                    mask[np.frombuffer(posts, dtype=np.int32)] = True
                elif posts:
                    mask[np.fromiter(posts, dtype=np.int64, count=len(posts))] = True
            for h in hits:
                mask[h.posts_array(np)] = True
            self._array = np.flatnonzero(mask)
        return self._array


@dataclass
class Selection:
    """The posts that match a query, and its evaluated clauses by role."""

    docs: set[int]
    #: Groups of OR alternatives that rank (plain keywords): at least one must match.
    soft: list[list[ClauseMatch]]
    #: Groups that must match (phrases, ``title:``); their words count for the score too.
    required: list[list[ClauseMatch]]

    @property
    def textual(self) -> bool:
        return bool(self.soft or self.required)

    @property
    def scored(self) -> list[ClauseMatch]:
        return [e for g in self.soft + self.required for e in g]

    def highlights(self) -> tuple[set[str], list[str]]:
        """Words and literal pieces the query's alternatives add to what hits highlight: the
        words pinyin keywords read as, and the synonyms' words and pieces."""
        words: set[str] = set()
        pieces: list[str] = []
        for e in self.scored:
            words.update(e.pinyin)
            if e.via:
                words.update(e.words)
                if e.piece:
                    pieces.append(e.piece)
        return words, pieces


class Matcher:
    """Answers literal, word and keyword questions about one snapshot of the index."""

    def __init__(self, snapshot: Snapshot, analyzer: Analyzer):
        self.snap = snapshot
        self.analyzer = analyzer
        self.stats = Statistics.of(snapshot)
        self._literal_cache: dict[tuple[str, str], _KeptLiteral] = {}
        #: (field, piece) -> the candidates of its plan that hold it (see ``verify``).
        self._verified: dict[tuple[str, str], Posts] = {}
        #: (field, piece) -> post -> whether it holds it, for candidates checked a few at a time.
        self._checked: dict[tuple[str, str], dict[int, bool]] = {}
        self._token_strings: dict[tuple[int, str], str] = {}

    # --- vocabulary and postings ----------------------------------------------------------------

    def vocabulary(self, field: str) -> Vocabulary:
        return self.snap.memo(
            ("vocab", field),
            lambda: Vocabulary(
                self.snap.vocabularies(field),
                self.snap.vocabularies(field, reverse=True),
                partial(self.snap.note_segments, field),
            ),
        )

    def docs(self, field: str, term: str) -> Sequence[int]:
        return self.snap.postings(field, term).docs

    def docs_of_terms(self, field: str, terms: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for t in terms:
            out.update(self.snap.postings(field, t).docs)
        return out

    # --- literal pieces -------------------------------------------------------------------------

    def piece(self, text: str) -> str:
        """A query piece as the index sees it (see ``Analyzer.token_string``)."""
        return self.analyzer.token_string(text)

    def literal(self, field: str, piece: str) -> Literal:
        """Posts whose ``field`` contains ``piece`` (normalised, separators ignored).

        ``exact`` posts are known to contain it; ``maybe`` posts have its words in the right
        places as far as document sets tell, and ``verify`` checks them. Callers verify only
        what they need: all of them for a filter, the top of the ranking otherwise.
        """
        if not piece:
            return _NO_LITERAL
        return self._kept_literal(field, piece).literal()

    def _kept_literal(self, field: str, piece: str) -> _KeptLiteral:
        return _remember(
            self._literal_cache,
            (field, piece),
            512,
            lambda: _KeptLiteral.of(self._literal(field, piece)),
        )

    def literal_docs(self, field: str, piece: str) -> frozenset[int]:
        """Exactly the posts whose ``field`` contains ``piece``."""
        lit = self.literal(field, piece)
        if not lit.maybe:
            return lit.exact
        return lit.exact | self.verify(field, piece, lit.maybe)

    def _literal(self, field: str, q: str) -> Literal:
        text = q.replace(BOUNDARY, "")
        n = len(text)
        # Cut points a split match may use: between Han characters, where the kind of character
        # changes, and where the query separates two letter-or-digit tokens; never inside one.
        mandatory: set[int] = set()
        k = 0
        for ch in q:
            if ch == BOUNDARY:
                mandatory.add(k)
            else:
                k += 1
        if not mandatory and 2 <= n <= 3 and _all_han(text) and self.analyzer.is_word(text):
            # A dictionary word of two or three characters is a precise word, a search-mode
            # sub-word of a longer one, or a join across words: exact, no positions needed.
            found = set(self.docs(field, text))
            found.update(self.docs(SUB_FIELDS[field], text))
            found.update(self.docs(JOIN_FIELDS[field], text))
            return Literal(frozenset(found), frozenset())
        found = set()
        if not mandatory:
            found = self.docs_of_terms(field, self.vocabulary(field).containing(text))
        if n == 1:
            return Literal(frozenset(found), frozenset())
        if n > LATTICE_MAX:
            return self._long(field, q, found)
        alnum = [_ALNUM_CHAR.match(ch) is not None for ch in text]
        cuts = {c for c in range(1, n) if c in mandatory or not (alnum[c - 1] and alnum[c])}
        plan = self._plan(field, text, found, cuts, mandatory)
        if plan is None:
            return Literal(frozenset(found), frozenset())
        return Literal(frozenset(found), frozenset(plan.candidates), plan)

    def _plan(
        self, field: str, q: str, found: set[int], cuts: set[int], mandatory: set[int]
    ) -> _Plan | None:
        """The ways q can run across precise words (the end of one word, whole words, then the
        start of another) and the posts where they might, from document sets alone."""
        vocab = self.vocabulary(field)
        n = len(q)

        def spans_mandatory(i: int, j: int) -> bool:
            return any(i < m < j for m in mandatory)

        # edges[(i, j)]: the terms that can cover q[i:j] at one position of a split match.
        edges: dict[tuple[int, int], list[str]] = {}
        for j in sorted(cuts):
            if not spans_mandatory(0, j):
                terms = vocab.ending_with(q[:j])
                if terms:
                    edges[(0, j)] = sorted(terms)
        for i in sorted(cuts):
            if not spans_mandatory(i, n):
                terms = vocab.starting_with(q[i:])
                if terms:
                    edges[(i, n)] = sorted(terms)
            for j in sorted(cuts):
                if j > i and not spans_mandatory(i, j) and self.snap.has_term(field, q[i:j]):
                    edges[(i, j)] = [q[i:j]]
        edge_docs: dict[tuple[int, int], set[int]] = {}

        def docs_of(edge: tuple[int, int]) -> set[int]:
            got = edge_docs.get(edge)
            if got is None:
                got = edge_docs[edge] = self.docs_of_terms(field, edges[edge])
            return got

        # Each way is checked on document sets. First the joins: a dictionary word of two or
        # three characters that straddles a cut of the way must be one of the post's joins.
        # Then the edges, cheapest first; an edge with a large vocabulary (the one-character
        # end of a piece) is only read when nothing else narrows the way. Candidates may be
        # more than the matches: that is what ``verify`` is for.
        join_field = JOIN_FIELDS[field]
        is_word = self.analyzer.is_word
        paths = _paths(edges, n, _MAX_PATHS)
        edge_cands: dict[tuple[int, int], set[int]] = {}
        if paths is None:
            # Too many ways: the candidates are narrowed first by the characters whose edges
            # have the fewest posts, so that the programme need not read a common
            # one-character word or a large end of q.
            narrowed, readable = self._narrow(field, edges, n, docs_of)
            if narrowed is not None:
                narrowed -= found
                if not narrowed:
                    return None
            reached = _reach(edges, lambda e: docs_of(e) if readable(e) else None, n)
            if reached is None:
                candidates = narrowed if narrowed is not None else set()
            else:
                candidates = reached - found if narrowed is None else reached & narrowed
            edge_cands = dict.fromkeys(edges, candidates)
        else:
            candidates = set()
            for path in paths:
                docs: set[int] | None = None
                for _, k in path[:-1]:
                    for g in (q[k - 1 : k + 1], q[max(k - 2, 0) : k + 1], q[k - 1 : k + 2]):
                        if len(g) >= 2 and _all_han(g) and is_word(g):
                            jd = set(self.docs(join_field, g))
                            docs = jd - found if docs is None else docs & jd
                            if not docs:
                                break
                    if docs is not None and not docs:
                        break
                if docs is not None and not docs:
                    continue
                for edge in sorted(path, key=lambda e: len(edges[e])):
                    if docs is not None and len(edges[edge]) > _BIG_EDGE:
                        continue
                    ed = docs_of(edge)
                    docs = ed - found if docs is None else docs & ed
                    if not docs:
                        break
                if docs:
                    candidates |= docs
                    for e in path:
                        edge_cands.setdefault(e, set()).update(docs)
        if not candidates:
            return None
        return _Plan(n, {e: edges[e] for e in edge_cands}, candidates, dict(edge_cands))

    def _narrow(
        self,
        field: str,
        edges: dict[tuple[int, int], list[str]],
        n: int,
        docs_of: Callable[[tuple[int, int]], set[int]],
    ) -> tuple[set[int] | None, Callable[[tuple[int, int]], bool]]:
        """Posts that may hold a split match, from a few characters' edges, and which edges are
        worth reading once they are known.

        A way covers each character of the piece with exactly one edge, so a post that holds
        the piece across words has the terms of one of the edges over each character. The
        characters whose edges have the fewest posts (document frequencies from the term
        tables) are read, cheapest first, while they cost little beside what is left; an edge
        with more posts than that is not read at all. None when every character has an edge of
        many terms (the ends of a short piece): then there is nothing cheap to narrow by.
        """
        cost: dict[tuple[int, int], float] = {}

        def cost_of(edge: tuple[int, int]) -> float:
            got = cost.get(edge)
            if got is None:
                terms = edges[edge]
                got = cost[edge] = (
                    math.inf
                    if len(terms) > _NARROW_TERMS
                    else sum(i.df for t in terms for _, i in self.snap.term_infos(field, t))
                )
            return got

        covers = [[e for e in edges if e[0] <= p < e[1]] for p in range(n)]
        priced: list[tuple[float, int]] = []
        for p, cover in enumerate(covers):
            if cover and all(len(edges[e]) <= _NARROW_TERMS for e in cover):
                priced.append((sum(cost_of(e) for e in cover), p))
        narrowed: set[int] | None = None
        for price, p in sorted(priced):
            if narrowed is not None and price > _narrow_limit(len(narrowed)):
                break
            got: set[int] = set().union(*(docs_of(e) for e in covers[p]))
            narrowed = got if narrowed is None else narrowed & got
            if not narrowed:
                break
        if narrowed is None:
            return None, lambda e: True
        limit = _narrow_limit(len(narrowed))
        return narrowed, lambda e: cost_of(e) <= limit

    def verify(self, field: str, piece: str, docs: Iterable[int]) -> set[int]:
        """Which of ``docs`` really contain ``piece`` in ``field``."""
        docs = set(docs)
        if not docs:
            return set()
        kept = self._kept_literal(field, piece) if piece else None
        if kept is None:
            return self._on_texts(field, piece, docs)
        # Only the piece's candidates are checked: a post holds it within a word (``exact``)
        # or across words (a candidate), or not at all (see ``literal``). A keyword's posts to
        # check are often another field's candidates.
        sure = _among(docs, kept.exact)
        docs = _among(docs - sure, kept.maybe)
        if docs:
            sure |= self._check(field, piece, kept, docs)
        return sure

    def _check(self, field: str, piece: str, kept: _KeptLiteral, docs: set[int]) -> set[int]:
        """Which of ``docs``, candidates of ``piece`` in ``field``, hold it."""
        key = (field, piece)
        if kept.plan is not None and (len(docs) * 4 >= len(kept.maybe) or key in self._verified):
            # Most candidates asked for (a piece across words that makes posts match), or a
            # piece checked before: all of them checked once on positions (a few microseconds
            # a post, against 30-250 for reading and normalising a stored text), kept for the
            # next ask and query.
            return _among(docs, self._split_holders(key, kept))
        # A few candidates: what was found of each is kept for the next ask and query (the
        # ranking of a query asks for the same posts each time it runs, a page 2 too), up to
        # CHECKED_KEPT posts a piece.
        known = _remember(self._checked, key, 64, dict)
        todo = {d for d in docs if d not in known}
        if todo:
            found = self._check_now(field, piece, kept, todo)
            if len(known) + len(todo) <= CHECKED_KEPT:
                for d in todo:
                    known[d] = d in found
            else:
                return found | {d for d in docs - todo if known[d]}
        return {d for d in docs if known[d]}

    def _check_now(self, field: str, piece: str, kept: _KeptLiteral, docs: set[int]) -> set[int]:
        """``_check`` of a few candidates, done now: on positions or on the stored texts."""
        plan = kept.plan
        if plan is not None:
            terms = sum(len(t) for t in plan.edges.values())
            if len(docs) > _TEXT_CHECK_MAX or terms < 2 * len(docs):
                # On positions, a piece costs about 50-100 microseconds a term of its ways
                # (their postings looked up), a post little more: fewer terms than twice the
                # posts cost less than the posts' texts (measured at 144,264 posts on the
                # pieces of the benchmark's questions).
                return self._positions(field, plan, docs)
        return self._on_texts(field, piece, docs)

    def _on_texts(self, field: str, piece: str, docs: set[int]) -> set[int]:
        """Which of ``docs`` hold ``piece`` in their stored ``field``."""
        if _all_han(piece) and self.analyzer.normalize(piece) == piece:
            # A post whose stored field has the piece as it is holds it: normalising maps
            # one character to one, the piece's own characters to themselves, and drops no
            # Han character (cheaper than normalising the whole field, as below).
            found = {d for d in docs if piece in (self.snap.stored(d).get(field) or "")}
            return found | {d for d in docs - found if piece in self.token_string(d, field)}
        return {d for d in docs if piece in self.token_string(d, field)}

    def _split_holders(self, key: tuple[str, str], kept: _KeptLiteral) -> Posts:
        """The candidates of a piece (``key``: field, piece) that hold it, checked once."""
        plan = kept.plan
        assert plan is not None
        return _remember(
            self._verified,
            key,
            512,
            lambda: _pack(self._positions(key[0], plan, set(kept.maybe))),
        )

    def _positions(self, field: str, plan: _Plan, docs: set[int]) -> set[int]:
        """The exact check of split matches: (post, position) keys packed into ints."""
        found: set[int] = set()
        at: dict[int, set[int]] = {}
        shift = _POS_BITS
        n = plan.n
        for (i, j), terms in sorted(plan.edges.items()):
            if i == 0:
                relevant = docs.intersection(plan.edge_cands[(i, j)])
            elif at.get(i):
                relevant = {k >> shift for k in at[i]}.intersection(plan.edge_cands[(i, j)])
            else:
                continue
            if not relevant:
                continue
            keys: set[int] = set()
            for t in terms:
                for d, v in self._values(field, t, relevant):
                    base = d << shift
                    keys.update([base + p for p in decode_positions(v)])
            if i > 0:
                keys &= {k + 1 for k in at[i]}
            if not keys:
                continue
            if j == n:
                found.update({k >> shift for k in keys})
            else:
                at.setdefault(j, set()).update(keys)
        return found

    def _values(self, field: str, term: str, docs: set[int]) -> Iterable[tuple[int, bytes]]:
        """(post, positions) of ``term`` for the posts in ``docs``."""
        cached = self.snap.cached_postings(field, term, values=True)
        if cached is None and len(docs) * _WHOLE_LIST < len(self.snap.postings(field, term)):
            return self.snap.values_for(field, term, docs).items()
        post = cached or self.snap.postings(field, term, values=True)
        values = post.values or ()
        if len(docs) * _BISECT_LIST < len(post.docs):
            # A few posts of a long list kept whole: found by bisection (its posts are in
            # order), not by walking the list (a literal check of 32 posts in a list of 15,000
            # cost about 1 ms a term at 144,264 posts).
            found, n = post.docs, len(post.docs)
            out = []
            for d in docs:
                i = bisect_left(found, d)
                if i < n and found[i] == d:
                    out.append((d, values[i]))
            return out
        return ((d, v) for d, v in zip(post.docs, values, strict=False) if d in docs)

    def _long(self, field: str, q: str, found: set[int]) -> Literal:
        """A long piece: posts that have its first, middle and last pieces may contain it."""
        k = LATTICE_MAX // 2
        mid = (len(q) - k) // 2
        candidates: set[int] | None = None
        for part in (q[:k], q[-k:], q[mid : mid + k]):
            part = part.strip(BOUNDARY)
            if not part:
                continue
            docs = self.literal_docs(field, part)
            candidates = set(docs) if candidates is None else candidates & docs
            if not candidates:
                break
        return Literal(frozenset(found), frozenset((candidates or set()) - found))

    def token_string(self, doc: int, field: str) -> str:
        """The stored field as the index sees it: normalised, separators dropped."""
        return _remember(
            self._token_strings,
            (doc, field),
            256,
            lambda: self.piece(self.snap.stored(doc).get(field) or ""),
        )

    # --- words ---------------------------------------------------------------------------------

    def word_hits(self, word: str) -> WordHits:
        """The posts that have ``word`` in the title, the text or their sub-words."""
        return self.stats.word(word)

    # --- keywords -------------------------------------------------------------------------------

    def keyword_docs(self, field: str, value: str) -> set[int]:
        return set(self.snap.postings(field, keyword_term(value, self.analyzer.normalize)).docs)

    # --- queries --------------------------------------------------------------------------------

    def select(
        self,
        parsed: ParsedQuery,
        categories: list[str],
        tags: list[str],
        dated: bool = False,
        *,
        pinyin: bool = True,
        synonyms: SynonymMap | None = None,
    ) -> Selection:
        """The posts that match a parsed query and the filters, and its clauses by role.

        ``dated`` says that a date filter will narrow the posts down (the caller applies it).
        Latin keywords also match the words they read as in pinyin (unless ``pinyin`` is
        False), and keywords their ``synonyms`` (see alternatives.py).

        Category and tag clauses filter; quoted phrases and ``title:`` clauses must match; of the
        other keywords at least one must, unless a phrase or ``title:`` clause is there (then
        they only rank). A clause with nothing searchable in it (``"。"``,
        ``title:！``, ``-。``) is left out, as if it had not been typed.
        """
        excluded = [c for c in parsed.excluded if c.kind in (CATEGORY, TAG) or self.piece(c.text)]
        groups = [
            [c for c in g if c.kind in (CATEGORY, TAG) or self.piece(c.text)] for g in parsed.groups
        ]
        groups = [g for g in groups if g]
        ignored = self._ignored(groups)
        evals = []
        for alts in self.alternatives(groups, pinyin=pinyin, synonyms=synonyms):
            group = [self.clause(a.clause, ignored, a) for a in alts]
            for a, e in zip(alts, group, strict=True):
                if a.via:
                    e.of = group[a.source]
            evals.append(group)
        # A keyword made of function words only, in a query that has other words, ranks nothing.
        evals = [
            g
            for g in evals
            if not all(
                e.clause.kind not in REQUIRED_KINDS and e.words and set(e.words) <= e.ignored
                for e in g
            )
        ]
        filters = [g for g in evals if all(e.clause.kind in (CATEGORY, TAG) for e in g)]
        required = [
            g for g in evals if g not in filters and all(e.clause.kind in REQUIRED_KINDS for e in g)
        ]
        soft = [g for g in evals if g not in filters and g not in required]

        matches: set[int] | None = None
        for g in filters + required:
            docs = set().union(*(e.docs for e in g))
            matches = docs if matches is None else matches & docs
        if soft and not required:
            # With a phrase or a title: clause that must match, the other keywords only rank
            # (as a should clause beside a must clause in Lucene's boolean queries).
            clauses = [e.docs for g in soft for e in g]
            if matches is None and len(clauses) == 1:
                # One clause: its own set (80,000 posts for a long question at 144,264 posts),
                # copied only if a filter below changes it.
                matches = clauses[0]
                if categories or tags or excluded:
                    matches = set(matches)
            else:
                any_soft = set().union(*clauses)
                matches = any_soft if matches is None else matches & any_soft
        has_filters = bool(categories or tags or dated or excluded)
        if matches is None:
            matches = self.snap.live_set() if has_filters else set()
        if categories:
            matches &= set().union(*(self.keyword_docs("categories", c) for c in categories))
        if tags:
            matches &= set().union(*(self.keyword_docs("tags", t) for t in tags))
        for clause in excluded:
            matches -= self.exclusion(clause)
        return Selection(matches, soft, required)

    def _ignored(self, groups: list[list[Clause]]) -> frozenset[str]:
        """The words that weigh nothing: the function words, when the query has other words."""
        words = {
            w
            for g in groups
            for c in g
            if c.kind not in (CATEGORY, TAG)
            for w in self.analyzer.query_words(c.text)
        }
        return FUNCTION_WORDS if words - FUNCTION_WORDS else frozenset()

    def alternatives(
        self, groups: list[list[Clause]], *, pinyin: bool, synonyms: SynonymMap | None
    ) -> list[list[Alternative]]:
        """The groups with the pinyin readings and synonyms of their keywords."""
        return expand(
            groups,
            lexicon=lambda: Lexicon.of(self.snap),
            synonyms=synonyms,
            pinyin=pinyin,
            key=self.piece,
        )

    def clause(
        self,
        clause: Clause,
        ignored: frozenset[str] = frozenset(),
        alt: Alternative | None = None,
    ) -> ClauseMatch:
        """The posts one clause matches (with ``alt``: the words it reads as in pinyin too)."""
        if clause.kind in (CATEGORY, TAG):
            name = "categories" if clause.kind == CATEGORY else "tags"
            return ClauseMatch(clause, self.keyword_docs(name, clause.text))
        piece = self.piece(clause.text)
        words = self.analyzer.query_words(clause.text)
        skip = ignored
        fields = ("title",) if clause.kind == TITLE else ("title", "text")
        # The literals as the cache keeps them (large sets as arrays): their sets are made once,
        # as the unions (each field's sets made first would copy 60,000 posts twice at 144,264).
        kept = {f: self._kept_literal(f, piece) for f in fields} if piece else {}
        exact = frozenset().union(*(k.exact for k in kept.values()))
        maybe = frozenset().union(*(k.maybe for k in kept.values())) - exact
        if clause.kind in (PHRASE, TITLE):
            # These must match: every candidate is checked now.
            exact = exact | self._verify(piece, kept, maybe)
            docs = set(exact)
            if clause.kind == TITLE and words:
                docs |= set.intersection(*(self._title_docs(w) for w in words))
            extra = self._extra_words(clause.text, words, skip)
            return ClauseMatch(clause, docs, exact, frozenset(), words, skip, piece, fields, extra)
        docs = set(exact)
        content = [w for w in words if w not in skip]
        united: list[WordHits] | None = []  # the words whose posts all match (None: not so)
        # A clause that is one word: every post with the word holds the piece within a word,
        # so it is in ``exact`` already (tests/test_substring.py checks it; adding the word's
        # posts again cost 4 ms for 中国 at 144,264 posts).
        if content and content != [piece]:
            n = self.snap.doc_count or 1
            found = [h for h in (self.word_hits(w) for w in content) if h.df]
            rare = [h for h in found if h.df <= COMMON_SHARE * n]
            if rare:
                for h in rare:
                    docs.update(h.tf)
                united = rare
            elif found:
                united = None
                # Common words only: the posts that have them all, read from the rarest's
                # posts (no set made of each word's).
                first, *rest = sorted(found, key=lambda h: h.df)
                if rest:
                    docs.update(d for d in first.tf if all(d in h.tf for h in rest))
                else:
                    docs.update(first.tf)
        # A post that may hold the piece only across words, and has none of its words, matches
        # only if it really holds the piece: check those now; the others wait for the ranking.
        checked = self._verify(piece, kept, maybe - docs)
        docs |= checked
        extra = self._extra_words(clause.text, words, skip)
        match = ClauseMatch(clause, docs, exact, maybe, words, skip, piece, fields, extra)
        if alt is not None:
            match.via = alt.via
            match.pinyin, match.initials = alt.pinyin, alt.initials
            for w in alt.pinyin:
                hits = self.word_hits(w)
                docs.update(hits.tf)
                if united is not None:
                    united.append(hits)
        if united is not None:
            match.parts = ([k.exact for k in kept.values()], united, checked)
        return match

    def _extra_words(self, text: str, words: list[str], skip: frozenset[str]) -> list[str]:
        """The search-mode sub-words of the clause's words (none of a function word's, and no
        function word when the query ignores them)."""
        seen = set(words)
        out: list[str] = []
        owner = ""
        for tok in self.analyzer.tokens(text):
            w = tok.text
            if not tok.sub:
                owner = w
            elif w not in seen and owner not in skip and w not in skip:
                seen.add(w)
                out.append(w)
        return out

    def _verify(
        self, piece: str, kept: dict[str, _KeptLiteral], docs: set[int] | frozenset[int]
    ) -> frozenset[int]:
        """Which of ``docs`` hold ``piece`` in one of the fields of ``kept``: candidates of the
        piece that no field holds for sure (``clause`` took those out), so each field's own
        candidates among them are checked as they are (``verify`` would look for them among
        the field's sure posts and candidates first, two passes over 60,000 posts)."""
        asked = set(docs)
        out: set[int] = set()
        for name, k in kept.items():
            todo = _among(asked, k.maybe) - out
            if todo:
                out |= self._check(name, piece, k, todo)
        return frozenset(out)

    def _title_docs(self, word: str) -> set[int]:
        snap = self.snap
        return set(snap.postings("title", word).docs) | set(snap.postings("title_sub", word).docs)

    def exclusion(self, clause: Clause) -> set[int]:
        """The posts an exclusion removes."""
        if clause.kind in (CATEGORY, TAG):
            name = "categories" if clause.kind == CATEGORY else "tags"
            return self.keyword_docs(name, clause.text)
        piece = self.piece(clause.text)
        fields = ("title",) if clause.kind == TITLE else ("title", "text")
        out: set[int] = set()
        for f in fields:
            out |= self.literal_docs(f, piece)
        return out
