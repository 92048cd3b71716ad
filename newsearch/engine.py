"""SearchIndex: the one object a library user holds to search, show and explore an index.

It opens one commit of the index (a snapshot), answers queries with ranked, filtered and
highlighted results as plain dataclasses, and never lets a Whoosh object out.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import stat
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import arguments
from .analysis import Analyzer
from .dates import corpus_zone, in_zone, timestamp
from .errors import IndexClosedError, IndexNotFoundError, PostNotFoundError, QueryError
from .highlight import HighlightQuery, find_spans, make_snippet
from .matching import K1, Matcher
from .models import Hit, Post, SearchResults
from .query import (
    CATEGORY,
    PHRASE,
    REQUIRED_KINDS,
    TAG,
    TITLE,
    Clause,
    ParsedQuery,
    check_sort,
    parse_date_bound,
    parse_query,
)
from .schema import NO_DATE, keyword_term, month_label
from .store import Snapshot

#: A word found in more than this share of posts does not make a post match on its own when the
#: keyword has rarer words (it still counts for the ranking).
COMMON_SHARE = 0.4
MATCH_LITERAL, MATCH_ALL, MATCH_SOME, MATCH_FILTER = "literal", "all words", "some words", "filter"
MATCH_SIMILAR = "similar"
#: A query uses its first this many distinct keywords, OR alternatives included (and as many
#: exclusions).
MAX_KEYWORDS = 32


@dataclass(frozen=True)
class IndexInfo:
    """What ``newsearch info`` shows."""

    path: str
    posts: int
    segments: int
    size_bytes: int
    first_date: datetime | None
    last_date: datetime | None
    categories: dict[str, int]
    tags: dict[str, int]
    timezone: str
    analysis: dict[str, object]
    generation: int
    #: How the corpus folder was read: "jekyll site" or "folder of posts"; drafts included?
    mode: str = "folder of posts"
    drafts: bool = False


@dataclass
class _ClauseEval:
    """One clause, evaluated: the posts it matches and what the ranking needs to know."""

    clause: Clause
    docs: set[int]
    #: Posts known to hold the clause's text literally, and posts that may (checked lazily).
    exact: frozenset[int] = frozenset()
    maybe: frozenset[int] = frozenset()
    words: list[str] = field(default_factory=list)
    piece: str = ""
    fields: tuple[str, ...] = ()


@dataclass
class _Ranked:
    docnum: int
    literal: int
    coverage: float
    score: float


def open_index(index_dir: str | os.PathLike[str] = "index") -> SearchIndex:
    """Open the index in ``index_dir`` for searching (IndexNotFoundError if there is none)."""
    return SearchIndex(index_dir)


class SearchIndex:
    """A searchable view of an index on disk; use it as a context manager.

    It sees the commit that was current when it was opened (``refresh()`` moves to the newest).
    Searching from several threads is safe: calls are serialised by a lock.
    """

    def __init__(self, index_dir: str | os.PathLike[str] = "index"):
        self.path = os.path.abspath(arguments.fs_path(index_dir, "index_dir"))
        self._lock = threading.RLock()
        self._closed = False
        self._open()

    def _open(self) -> None:
        self._snap = Snapshot(self.path)
        settings = self._snap.settings
        self.timezone = settings.timezone
        self._analyzer = Analyzer(settings.analysis)
        self._matcher = Matcher(self._snap, self._analyzer)

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SearchIndex:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index's files; closing twice is fine, using it afterwards is not."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._snap.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise IndexClosedError(f"the index {self.path} was closed; open it again to use it")

    def refresh(self) -> bool:
        """Move to the newest commit; True if there was a newer one."""
        with self._lock:
            self._check_open()
            from .store import read_toc

            if read_toc(self.path).generation == self._snap.generation:
                return False
            old = self._snap
            self._open()
            old.close()
            return True

    def __len__(self) -> int:
        self._check_open()
        return self._snap.doc_count

    # --- search ---------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int | None = 10,
        page: int = 1,
        categories: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        sort: str = "relevance",
        facets: bool = False,
    ) -> SearchResults:
        """Ranked posts for ``query``; ``limit=None`` returns every match on one page.

        ``categories`` and ``tags`` are one value or several (a post matches with any of them).
        """
        query = arguments.text(query, "query")
        check_sort(sort)
        limit = arguments.optional_count(limit, "limit", error=QueryError)
        page = arguments.count(page, "page", error=QueryError)
        if limit is None and page != 1:
            raise QueryError("page must be 1 when limit is None (every match is on one page)")
        cats = arguments.values(categories, "categories")
        tag_values = arguments.values(tags, "tags")
        facets = arguments.flag(facets, "facets")
        start = parse_date_bound(arguments.date_bound(since, "since"), self.timezone, end=False)
        stop = parse_date_bound(arguments.date_bound(until, "until"), self.timezone, end=True)
        if start and stop and start > stop:
            raise QueryError("--since is after --until")
        with self._lock:
            self._check_open()
            return self._search(
                query, limit, page, list(cats), list(tag_values), start, stop, sort, facets
            )

    def _search(
        self,
        query: str,
        limit: int | None,
        page: int,
        categories: list[str],
        tags: list[str],
        start: datetime | None,
        stop: datetime | None,
        sort: str,
        facets: bool,
    ) -> SearchResults:
        parsed = _bounded(parse_query(query))
        m = self._matcher
        # An exclusion with nothing searchable in it ("-", "-。") excludes nothing and is not a
        # filter: it must not turn a query into "every post".
        excluded = [c for c in parsed.excluded if c.kind in (CATEGORY, TAG) or m.piece(c.text)]
        evals = [[self._eval(c) for c in group] for group in parsed.groups]
        # Category and tag clauses filter; quoted phrases and title: clauses must match; of the
        # other keywords at least one must, and the more match, the higher a post ranks.
        filters = [g for g in evals if all(e.clause.kind in (CATEGORY, TAG) for e in g)]
        required = [
            g for g in evals if g not in filters and all(e.clause.kind in REQUIRED_KINDS for e in g)
        ]
        soft = [g for g in evals if g not in filters and g not in required]

        matches: set[int] | None = None
        for g in filters + required:
            docs = set().union(*(e.docs for e in g))
            matches = docs if matches is None else matches & docs
        if soft:
            any_soft = set().union(*(e.docs for g in soft for e in g))
            matches = any_soft if matches is None else matches & any_soft
        has_filters = bool(categories or tags or start or stop or excluded)
        if matches is None:
            matches = set(self._snap.live_docs()) if has_filters else set()
        if categories:
            matches &= set().union(*(m.keyword_docs("categories", c) for c in categories))
        if tags:
            matches &= set().union(*(m.keyword_docs("tags", t) for t in tags))
        if start or stop:
            matches = self._in_dates(matches, start, stop)
        for clause in excluded:
            matches -= self._exclusion(clause)

        offset = (page - 1) * (limit or 0)
        wanted = None if limit is None else offset + limit
        ranked = self._rank(matches, soft, evals, sort, wanted)
        page_items = ranked[offset:wanted]
        hq = self._highlight_query(parsed)
        textual = bool(soft or required)
        hits = tuple(
            self._hit(r, hq, offset + i + 1, len(soft), textual) for i, r in enumerate(page_items)
        )
        facet_counts = self._facets(matches) if facets else None
        return SearchResults(
            query=query, total=len(matches), page=page, limit=limit, hits=hits, facets=facet_counts
        )

    def _eval(self, clause: Clause) -> _ClauseEval:
        m = self._matcher
        if clause.kind in (CATEGORY, TAG):
            name = "categories" if clause.kind == CATEGORY else "tags"
            return _ClauseEval(clause, m.keyword_docs(name, clause.text))
        piece = m.piece(clause.text)
        words = self._analyzer.query_words(clause.text)
        fields = ("title",) if clause.kind == TITLE else ("title", "text")
        lits = {f: m.literal(f, piece) for f in fields}
        exact = frozenset().union(*(lit.exact for lit in lits.values()))
        maybe = frozenset().union(*(lit.maybe for lit in lits.values())) - exact
        if clause.kind in (PHRASE, TITLE):
            # These must match: every candidate is checked now.
            exact = exact | self._verify(piece, lits, maybe)
            docs = set(exact)
            if clause.kind == TITLE and words:
                docs |= set.intersection(*(self._title_docs(w) for w in words))
            return _ClauseEval(clause, docs, exact, frozenset(), words, piece, fields)
        docs = set(exact)
        if words:
            n = self._snap.doc_count or 1
            found = [h for h in (m.word_hits(w) for w in words) if h.df]
            rare = [h for h in found if h.df <= COMMON_SHARE * n]
            if rare:
                for h in rare:
                    docs.update(h.tf)
            elif found:
                docs |= set.intersection(*(set(h.tf) for h in found))
        # A post that may hold the piece only across words, and has none of its words, matches
        # only if it really holds the piece: check those now; the others wait for the ranking.
        docs |= self._verify(piece, lits, maybe - docs)
        return _ClauseEval(clause, docs, exact, maybe, words, piece, fields)

    def _verify(self, piece: str, lits: dict[str, Any], docs: Iterable[int]) -> frozenset[int]:
        docs = set(docs)
        out: set[int] = set()
        for name, lit in lits.items():
            todo = (docs & lit.maybe) - out
            if todo:
                out |= self._matcher.verify(name, piece, todo)
        return frozenset(out)

    def _title_docs(self, word: str) -> set[int]:
        snap = self._snap
        return set(snap.postings("title", word).docs) | set(snap.postings("title_sub", word).docs)

    def _exclusion(self, clause: Clause) -> set[int]:
        m = self._matcher
        if clause.kind in (CATEGORY, TAG):
            return m.keyword_docs("categories" if clause.kind == CATEGORY else "tags", clause.text)
        piece = m.piece(clause.text)
        fields = ("title",) if clause.kind == TITLE else ("title", "text")
        out: set[int] = set()
        for f in fields:
            out |= m.literal_docs(f, piece)
        return out

    def _in_dates(self, docs: set[int], start: datetime | None, stop: datetime | None) -> set[int]:
        ts = self._snap.numeric_column("date_ts")
        lo = timestamp(start) if start else NO_DATE + 1  # rounded down, as stored
        hi = timestamp(stop) if stop else 2**62
        return {d for d in docs if ts[d] != NO_DATE and lo <= ts[d] <= hi}

    # --- ranking --------------------------------------------------------------------------------

    def _rank(
        self,
        docs: set[int],
        soft: list[list[_ClauseEval]],
        evals: list[list[_ClauseEval]],
        sort: str,
        wanted: int | None,
    ) -> list[_Ranked]:
        """The first ``wanted`` matches in order (all of them when ``wanted`` is None).

        Relevance order is: more keywords found literally, then a larger share of the words,
        then BM25F, then newer, then path. Posts that may hold a keyword literally only across
        words are checked lazily, as they reach the top; scores are computed only for the
        groups of posts that reach the page.
        """
        if not docs:
            return []
        m = self._matcher
        words: dict[str, None] = {}
        for g in evals:
            for e in g:
                for w in e.words:
                    words.setdefault(w, None)
        hits = {w: m.word_hits(w) for w in words}
        weights = [(hits[w].tf, m.idf(hits[w].df) * (K1 + 1.0)) for w in words if hits[w].df]
        ts = self._snap.numeric_column("date_ts")
        order = self._path_order()
        if sort != "relevance" or not soft:
            scores = _scores(docs, weights) if sort == "relevance" else {}
            ranked = self._top(docs, wanted, scores, ts, order, sort)
            if sort != "relevance":
                page = _scores({r.docnum for r in ranked}, weights)
                ranked = [_Ranked(r.docnum, 0, 0.0, page.get(r.docnum, 0.0)) for r in ranked]
            return ranked
        buckets, could = _tiers(docs, soft, hits)
        checked: dict[int, int] = {}
        out: list[_Ranked] = []
        while buckets:
            key = max(buckets)
            bucket = buckets.pop(key)
            scores = _scores(bucket, weights)
            need = None if wanted is None else wanted - len(out)
            for d in self._order_bucket(bucket, need, scores, ts, order):
                if d in could and d not in checked:
                    true = key[0] - could[d] + self._literal_count(d, soft)
                    checked[d] = true
                    if true < key[0]:
                        buckets.setdefault((true, key[1]), set()).add(d)
                        continue
                out.append(_Ranked(d, key[0], key[1], scores.get(d, 0.0)))
                if wanted is not None and len(out) >= wanted:
                    return out
        return out

    def _literal_count(self, d: int, soft: list[list[_ClauseEval]]) -> int:
        """How many soft groups hold ``d`` literally only across words (checked on the text)."""
        n = 0
        for g in soft:
            if any(d in e.exact for e in g):
                continue
            for e in g:
                if d in e.maybe and any(self._matcher.verify(f, e.piece, (d,)) for f in e.fields):
                    n += 1
                    break
        return n

    def _order_bucket(
        self,
        bucket: set[int],
        need: int | None,
        scores: dict[int, float],
        ts: list[int],
        order: list[int],
    ) -> Iterator[int]:
        """Posts of one bucket by score, then newer, then path. When only the first few are
        needed, only those (and the ties at the cut) are sorted; the rest follow if lazily
        checked posts leave the bucket."""

        def key(d: int) -> tuple[float, int, int]:
            return (-scores.get(d, 0.0), -ts[d], order[d])

        if need is None or len(bucket) <= 4 * need + 64:
            yield from sorted(bucket, key=key)
            return
        score = scores.get
        head = heapq.nlargest(2 * need + 16, bucket, key=lambda d: score(d, 0.0))
        floor = score(head[-1], 0.0)
        # Everything above the floor is in the head; ties at the floor may not be.
        chosen = {d for d in head if score(d, 0.0) > floor}
        chosen.update(d for d in bucket if score(d, 0.0) == floor)
        yield from sorted(chosen, key=key)
        rest = [d for d in bucket if d not in chosen]
        yield from sorted(rest, key=key)

    def _top(
        self,
        docs: set[int],
        wanted: int | None,
        scores: dict[int, float],
        ts: list[int],
        order: list[int],
        sort: str,
    ) -> list[_Ranked]:
        if sort == "newest":
            key: Any = lambda d: (-ts[d], order[d])  # noqa: E731
        elif sort == "oldest":
            key = lambda d: (ts[d] if ts[d] != NO_DATE else 2**62, order[d])  # noqa: E731
        else:
            key = lambda d: (-scores.get(d, 0.0), -ts[d], order[d])  # noqa: E731
        chosen = sorted(docs, key=key) if wanted is None else heapq.nsmallest(wanted, docs, key=key)
        return [_Ranked(d, 0, 0.0, scores.get(d, 0.0)) for d in chosen]

    def _path_order(self) -> list[int]:
        """Rank of each document's path in sorting order: the final tie-breaker."""

        def make() -> list[int]:
            paths = [(path, d) for d, path, _ in self._snap.states()]
            order = [0] * self._snap.doc_count_all
            for rank, (_, d) in enumerate(sorted(paths)):
                order[d] = rank
            return order

        return self._snap.memo("path_order", make)

    # --- hits -----------------------------------------------------------------------------------

    def _highlight_query(self, parsed: ParsedQuery) -> HighlightQuery:
        words: set[str] = set()
        pieces: list[str] = []
        for c in parsed.clauses:
            if c.kind in (CATEGORY, TAG):
                continue
            if c.kind != PHRASE:
                words.update(self._analyzer.query_words(c.text))
            piece = self._matcher.piece(c.text)
            if piece:
                pieces.append(piece)
        return HighlightQuery(frozenset(words), tuple(pieces))

    def _hit(
        self,
        r: _Ranked,
        hq: HighlightQuery,
        rank: int,
        soft: int,
        textual: bool,
        match: str | None = None,
    ) -> Hit:
        stored = self._snap.stored(r.docnum)
        post = _post_from_stored(stored, self.timezone)
        snippet = make_snippet(post.text or post.title, self._analyzer, hq)
        title_spans = find_spans(
            post.title, self._analyzer.normalize(post.title), self._analyzer, hq
        )
        if match is not None:
            pass
        elif not textual:
            match = MATCH_FILTER
        elif r.literal == soft:
            match = MATCH_LITERAL
        elif r.coverage >= soft - 1e-9:
            match = MATCH_ALL
        else:
            match = MATCH_SOME
        return Hit(
            path=post.path,
            title=post.title,
            date=post.date,
            categories=post.categories,
            tags=post.tags,
            url=post.url,
            source_url=post.source_url,
            score=r.score,
            snippet=snippet.text,
            highlights=snippet.highlights,
            title_highlights=tuple(title_spans),
            rank=rank,
            match=match,
        )

    # --- facets ---------------------------------------------------------------------------------

    def _facets(self, docs: set[int]) -> dict[str, dict[str, int]]:
        cats: dict[str, int] = {}
        for term, name in self._keyword_names("categories").items():
            n = len(docs.intersection(self._snap.postings("categories", term).docs))
            if n:
                cats[name] = n
        months = self._snap.numeric_column("month")
        counts = Counter(months[d] for d in docs)
        by_month = {month_label(k): v for k, v in sorted(counts.items()) if k}
        if counts.get(0):
            by_month["undated"] = counts[0]
        return {
            "category": dict(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))),
            "month": by_month,
        }

    def _keyword_names(self, field: str) -> dict[str, str]:
        """Indexed keyword term -> its spelling in a post (terms are normalised)."""

        def make() -> dict[str, str]:
            out: dict[str, str] = {}
            for t in self._snap.terms(field):
                docs = self._snap.postings(field, t).docs
                if not docs:
                    continue
                out[t] = t
                for value in self._snap.stored(docs[0]).get(field) or []:
                    if keyword_term(value, self._analyzer.normalize) == t:
                        out[t] = value
                        break
            return out

        return self._snap.memo(("names", field), make)

    # --- posts ----------------------------------------------------------------------------------

    def get(self, path: str) -> Post:
        """The post with this path (as the index stores it)."""
        path = arguments.post_path(path)
        with self._lock:
            self._check_open()
            docs = self._snap.postings("path", path).docs
            if not docs:
                raise PostNotFoundError(f"no post with path {path!r} in the index")
            return _post_from_stored(self._snap.stored(docs[-1]), self.timezone)

    def paths(self) -> list[str]:
        with self._lock:
            self._check_open()
            return sorted(path for _, path, _ in self._snap.states())

    def highlight(self, text: str, query: str) -> tuple[tuple[int, int], ...]:
        """Where ``query`` matches in ``text`` (a post's title or whole text): the same spans
        as the highlights of its hits, for showing a whole post with the query marked."""
        text = arguments.text(text, "text")
        query = arguments.text(query, "query")
        with self._lock:
            self._check_open()
            hq = self._highlight_query(_bounded(parse_query(query)))
            return tuple(find_spans(text, self._analyzer.normalize(text), self._analyzer, hq))

    def similar(self, path: str, *, limit: int = 10, terms: int = 12) -> SearchResults:
        """Posts most like the post at ``path``: its key terms (tf-idf), ranked by BM25F."""
        path = arguments.post_path(path)
        limit = arguments.count(limit, "limit", error=QueryError)
        terms = arguments.count(terms, "terms", error=QueryError)
        with self._lock:
            self._check_open()
            docs = self._snap.postings("path", path).docs
            if not docs:
                raise PostNotFoundError(f"no post with path {path!r} in the index")
            me = docs[-1]
            post = _post_from_stored(self._snap.stored(me), self.timezone)
            key = self._key_terms(post, terms)
            m = self._matcher
            found = [(m.word_hits(w), weight) for w, weight in key]
            weights = [(h.tf, weight * m.idf(h.df) * (K1 + 1.0)) for h, weight in found]
            others = set().union(*(h.tf.keys() for h, _ in found)) - {me}
            scores = _scores(others, weights)
            top = heapq.nlargest(limit, scores.items(), key=lambda kv: (kv[1], -kv[0]))
            hq = HighlightQuery(frozenset(w for w, _ in key), ())
            hits = tuple(
                self._hit(_Ranked(d, 0, 0.0, s), hq, i + 1, 1, True, MATCH_SIMILAR)
                for i, (d, s) in enumerate(top)
            )
            key_terms = tuple(w for w, _ in key)
            return SearchResults(
                query=" ".join(key_terms),
                total=len(scores),
                page=1,
                limit=limit,
                hits=hits,
                terms=key_terms,
            )

    def _key_terms(self, post: Post, count: int) -> list[tuple[str, float]]:
        counts = Counter[str]()
        for tok in self._analyzer.tokens(post.title + "\n" + post.text, subwords=False):
            # One-character words and bare numbers say little about what a post is about.
            if len(tok.text) > 1 and not tok.text.replace(".", "").isdigit():
                counts[tok.text] += 1
        n = self._snap.doc_count or 1
        scored = []
        for w, tf in counts.items():
            df = len(self._matcher.word_hits(w).tf)
            if df <= 1 or df > 0.5 * n:
                continue
            scored.append((tf * self._matcher.idf(df), w))
        scored.sort(reverse=True)
        top = scored[:count]
        if not top:
            return []
        best = top[0][0]
        return [(w, s / best) for s, w in top]

    # --- info -----------------------------------------------------------------------------------

    def info(self) -> IndexInfo:
        with self._lock:
            self._check_open()
            snap = self._snap
            ts = snap.numeric_column("date_ts")
            live = list(snap.live_docs())
            dated = [ts[d] for d in live if ts[d] != NO_DATE]
            from .schema import ts_to_datetime

            cats = {
                name: len(snap.postings("categories", term).docs)
                for term, name in self._keyword_names("categories").items()
            }
            tags = {
                name: len(snap.postings("tags", term).docs)
                for term, name in self._keyword_names("tags").items()
            }
            size = self._size_on_disk()
            return IndexInfo(
                path=self.path,
                posts=snap.doc_count,
                segments=len(snap.segments),
                size_bytes=size,
                first_date=ts_to_datetime(min(dated), self.timezone) if dated else None,
                last_date=ts_to_datetime(max(dated), self.timezone) if dated else None,
                categories=dict(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))),
                tags=dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))),
                timezone=self.timezone,
                analysis=snap.settings.analysis.describe(),
                generation=snap.generation,
                mode=snap.settings.reading_mode,
                drafts=snap.settings.drafts,
            )

    def _size_on_disk(self) -> int:
        """Bytes of the files in the index folder (a file a build removes meanwhile counts 0)."""
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            raise IndexNotFoundError(
                f"the index folder {self.path} cannot be read any more ({exc.strerror}); "
                "it was moved or deleted after it was opened"
            ) from exc
        size = 0
        for name in names:
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(self.path, name))
                if stat.S_ISREG(st.st_mode):
                    size += st.st_size
        return size


def _bounded(parsed: ParsedQuery) -> ParsedQuery:
    """The query without repeated keywords, and with at most MAX_KEYWORDS of them (a query of
    thousands of words would otherwise rank every post once per word)."""
    seen: set[tuple[Clause, ...]] = set()
    groups = []
    clauses = 0
    for g in parsed.groups:
        alternatives = tuple(dict.fromkeys(g))  # "A OR A" is A
        key = tuple(sorted(alternatives, key=lambda c: (c.kind, c.text)))
        if key in seen:
            continue
        seen.add(key)
        alternatives = alternatives[: MAX_KEYWORDS - clauses]
        if not alternatives:
            break
        groups.append(alternatives)
        clauses += len(alternatives)
    excluded = list(dict.fromkeys(parsed.excluded))
    return ParsedQuery(tuple(groups), tuple(excluded[:MAX_KEYWORDS]))


def _scores(docs: set[int], weights: list[tuple[dict[int, float], float]]) -> dict[int, float]:
    """BM25F of the given posts: for each word, idf * tf * (k1 + 1) / (tf + k1), summed."""
    out: dict[int, float] = {}
    get = out.get
    for tf, weight in weights:
        if len(tf) <= len(docs):
            for d, t in tf.items():
                if d in docs:
                    out[d] = get(d, 0.0) + weight * t / (t + K1)
        else:
            tget = tf.get
            for d in docs:
                found = tget(d)
                if found is not None:
                    out[d] = get(d, 0.0) + weight * found / (found + K1)
    return out


def _tiers(
    docs: set[int], soft: list[list[_ClauseEval]], hits: dict[str, Any]
) -> tuple[dict[tuple[int, float], set[int]], dict[int, int]]:
    """Posts grouped by (keywords that may be literal, share of the words found), and for each
    post how many of those keywords are literal only maybe (to check lazily).

    The common query, one keyword, is done with set operations; several keywords count per post.
    """
    if len(soft) == 1 and len(soft[0]) == 1:
        (e,) = soft[0]
        sure = docs & e.exact
        maybe = (docs & e.maybe) - sure
        literal = sure | maybe
        could = dict.fromkeys(maybe, 1)
        levels: dict[float, set[int]] = {}
        if e.words:
            present = [hits[w].tf.keys() for w in e.words]
            all_words = set(docs)
            for p in present:
                all_words &= p
            levels[1.0] = all_words
            rest = docs - all_words
            k = len(e.words)
            if k > 1 and rest:
                counts: dict[int, int] = {}
                for p in present:
                    for d in rest & p:
                        counts[d] = counts.get(d, 0) + 1
                for d, c in counts.items():
                    levels.setdefault(round(c / k, 6), set()).add(d)
                rest -= counts.keys()
            levels[0.0] = rest
        else:
            levels[1.0] = set(docs)
        buckets: dict[tuple[int, float], set[int]] = {}
        for cov, group in levels.items():
            if group & literal:
                buckets[(1, cov)] = group & literal
            if group - literal:
                buckets[(0, cov)] = group - literal
        return buckets, could
    ub: dict[int, int] = {}
    could = {}
    cover: dict[int, float] = {}
    for g in soft:
        g_sure = frozenset().union(*(e.exact for e in g)) & docs
        g_could = (frozenset().union(*(e.maybe for e in g)) & docs) - g_sure
        for d in g_sure:
            ub[d] = ub.get(d, 0) + 1
        for d in g_could:
            ub[d] = ub.get(d, 0) + 1
            could[d] = could.get(d, 0) + 1
        best: dict[int, float] = {}
        for e in g:
            if not e.words:
                for d in e.docs & docs:
                    best[d] = 1.0
                continue
            per: dict[int, int] = {}
            for w in e.words:
                for d in docs & hits[w].tf.keys():
                    per[d] = per.get(d, 0) + 1
            k = len(e.words)
            for d, c in per.items():
                if c / k > best.get(d, 0.0):
                    best[d] = c / k
        for d, v in best.items():
            cover[d] = cover.get(d, 0.0) + v
    buckets = {}
    for d in docs:
        buckets.setdefault((ub.get(d, 0), round(cover.get(d, 0.0), 6)), set()).add(d)
    return buckets, could


def _post_from_stored(stored: dict[str, Any], timezone: str) -> Post:
    raw_date = stored.get("date")
    when = datetime.fromisoformat(raw_date) if raw_date else None
    if when is not None:  # shown in the corpus zone, as filters and facets count it
        when = in_zone(when, corpus_zone(timezone)) or when
    return Post(
        path=stored.get("path", ""),
        title=stored.get("title", ""),
        date=when,
        categories=tuple(stored.get("categories") or ()),
        tags=tuple(stored.get("tags") or ()),
        url=stored.get("url", ""),
        source_url=stored.get("source_url"),
        text=stored.get("text", ""),
    )


__all__ = ["IndexInfo", "SearchIndex", "open_index"]
