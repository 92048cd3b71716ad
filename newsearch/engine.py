"""SearchIndex: the one object a library user holds to search, show and explore an index.

It opens one commit of the index (a snapshot), answers queries with ranked, filtered and
highlighted results as plain dataclasses, and never lets a Whoosh object out.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from . import arguments
from .analysis import Analyzer
from .dates import corpus_zone, in_zone, timestamp
from .errors import IndexClosedError, IndexNotFoundError, PostNotFoundError, QueryError
from .highlight import HighlightQuery, find_spans, make_snippet
from .lexicon import Lexicon
from .matching import Matcher, Selection
from .models import (
    MATCH_FILTER,
    MATCH_SIMILAR,
    Explanation,
    Hit,
    IndexInfo,
    MatchKind,
    Post,
    SearchResults,
    Sort,
    Suggestions,
)
from .passages import Passages
from .query import (
    CATEGORY,
    PHRASE,
    TAG,
    Clause,
    ParsedQuery,
    check_sort,
    parse_date_bound,
    parse_query,
)
from .ranking import Ranker, key_terms, similar_posts, sort_by_date
from .schema import NO_DATE, keyword_term, month_label
from .store import Snapshot
from .suggest import complete, did_you_mean
from .synonyms import SynonymMap, check_groups

#: A query uses its first this many distinct keywords, OR alternatives included (and as many
#: exclusions).
MAX_KEYWORDS = 32


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
        self._analyzer = Analyzer(settings.analysis, queries=True)
        self._matcher = Matcher(self._snap, self._analyzer)
        self._passages = Passages(self._matcher, self._analyzer)
        self._synonyms = SynonymMap(settings.synonyms, self._matcher.piece)

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
        """Move to the newest commit; True if there was another one.

        A commit is known by its index's id and its generation: a folder deleted and built
        again (generation 0 again) or rebuilt is another index, not an older commit.
        """
        with self._lock:
            self._check_open()
            from .store import commit_id

            if commit_id(self.path) == (self._snap.index_id, self._snap.generation):
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
        sort: Sort = "relevance",
        facets: bool = False,
        explain: bool = False,
        pinyin: bool = True,
        synonyms: bool | Iterable[Iterable[str]] = True,
    ) -> SearchResults:
        """Ranked posts for ``query``; ``limit=None`` returns every match on one page.

        ``categories`` and ``tags`` are one value or several (a post matches with any of them).
        With ``explain``, each hit carries the parts of its score (``Hit.explain``). A Latin
        keyword also finds the words it reads as in pinyin unless ``pinyin`` is False; keywords
        find their synonyms: the index's (True), none (False), or the groups given. When the
        query finds nothing or few posts and a near variant finds many, ``suggestion`` says so.
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
        explain = arguments.flag(explain, "explain")
        pinyin = arguments.flag(pinyin, "pinyin")
        chosen = None if isinstance(synonyms, bool) else check_groups(synonyms)
        start = parse_date_bound(arguments.date_bound(since, "since"), self.timezone, end=False)
        stop = parse_date_bound(arguments.date_bound(until, "until"), self.timezone, end=True)
        if start and stop and start > stop:
            raise QueryError("--since is after --until")
        with self._lock:
            self._check_open()
            return self._search(
                query,
                limit,
                page,
                list(cats),
                list(tag_values),
                start,
                stop,
                sort,
                facets,
                explain,
                pinyin,
                self._synonym_map(synonyms, chosen),
            )

    def _synonym_map(
        self, synonyms: object, chosen: tuple[tuple[str, ...], ...] | None
    ) -> SynonymMap | None:
        if chosen is not None:
            return SynonymMap(chosen, self._matcher.piece)
        return self._synonyms if synonyms else None

    def _search(
        self,
        query: str,
        limit: int | None,
        page: int,
        categories: list[str],
        tags: list[str],
        start: datetime | None,
        stop: datetime | None,
        sort: Sort,
        facets: bool,
        explain: bool = False,
        pinyin: bool = True,
        synonyms: SynonymMap | None = None,
    ) -> SearchResults:
        parsed = _bounded(parse_query(query))
        selection = self._matcher.select(
            parsed,
            categories,
            tags,
            dated=bool(start or stop),
            pinyin=pinyin,
            synonyms=synonyms,
        )
        matches = selection.docs
        if start or stop:
            matches = selection.docs = self._in_dates(matches, start, stop)
        offset = (page - 1) * (limit or 0)
        wanted = None if limit is None else offset + limit
        ranker = Ranker(
            self._matcher, matches, selection.soft, selection.scored, selection.required
        )
        if sort == "relevance":
            ranked = ranker.rank(wanted)[offset:wanted]
        else:
            chosen = sort_by_date(self._snap, matches, wanted, newest=sort == "newest")[offset:]
            ranked = ranker.score(chosen)
        hq = self._highlight_query(parsed, selection)
        hits = tuple(
            self._hit(
                r.docnum,
                r.score,
                hq,
                offset + i + 1,
                ranker.match_kind(r.docnum) if selection.textual else MATCH_FILTER,
                ranker.explain(r.docnum) if explain else None,
            )
            for i, r in enumerate(ranked)
        )
        facet_counts = self._facets(matches) if facets else None
        return SearchResults(
            query=query,
            total=len(matches),
            page=page,
            limit=limit,
            hits=hits,
            facets=facet_counts,
            suggestion=did_you_mean(self._matcher, query, selection) if selection.textual else None,
        )

    def _in_dates(self, docs: set[int], start: datetime | None, stop: datetime | None) -> set[int]:
        ts = self._snap.numeric_column("date_ts")
        lo = timestamp(start) if start else NO_DATE + 1  # rounded down, as stored
        hi = timestamp(stop) if stop else 2**62
        return {d for d in docs if ts[d] != NO_DATE and lo <= ts[d] <= hi}

    # --- hits -----------------------------------------------------------------------------------

    def _highlight_query(
        self, parsed: ParsedQuery, selection: Selection | None = None
    ) -> HighlightQuery:
        words: set[str] = set()
        pieces: list[str] = []
        piece_words: list[tuple[str, ...]] = []
        if selection is not None:
            # What the keywords also matched: the words pinyin keywords read as, synonyms.
            words, pieces = selection.highlights()
            piece_words = [
                tuple(t.text for t in self._analyzer.tokens(p, subwords=False)) for p in pieces
            ]
        for c in parsed.clauses:
            if c.kind in (CATEGORY, TAG):
                continue
            if c.kind != PHRASE:
                words.update(self._analyzer.query_words(c.text))
            piece = self._matcher.piece(c.text)
            if piece:
                pieces.append(piece)
                tokens = self._analyzer.tokens(c.text, subwords=False)
                piece_words.append(tuple(t.text for t in tokens))
        return HighlightQuery(frozenset(words), tuple(pieces), tuple(piece_words))

    def _hit(
        self,
        docnum: int,
        score: float,
        hq: HighlightQuery,
        rank: int,
        match: MatchKind,
        explanation: Explanation | None = None,
    ) -> Hit:
        # A long text is not read whole: its snippet comes from the piece around the best
        # window of word positions (passages); the others are searched whole.
        post = _post_from_stored(self._snap.stored(docnum, text=False), self.timezone)
        long_text = self._snap.long_text(docnum)
        if long_text is not None:
            snippet = self._passages.snippet(docnum, long_text, hq)
        else:
            snippet = make_snippet(post.text or post.title, self._analyzer, hq)
        title_spans = find_spans(
            post.title, self._analyzer.normalize(post.title), self._analyzer, hq
        )
        return Hit(
            path=post.path,
            title=post.title,
            date=post.date,
            categories=post.categories,
            tags=post.tags,
            url=post.url,
            source_url=post.source_url,
            score=score,
            snippet=snippet.text,
            highlights=snippet.highlights,
            title_highlights=tuple(title_spans),
            rank=rank,
            match=match,
            explain=explanation,
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
                for value in self._snap.stored(docs[0], text=False).get(field) or []:
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
            return _post_from_stored(self._snap.stored(self._docnum(path)), self.timezone)

    def _docnum(self, path: str) -> int:
        """The document of the post at ``path`` (the newest, should a path be there twice)."""
        docs = self._snap.postings("path", path).docs
        if not docs:
            raise PostNotFoundError(f"no post with path {path!r} in the index")
        return docs[-1]

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
            parsed = _bounded(parse_query(query))
            selection = Selection(set(), [], [])
            groups = [list(g) for g in parsed.groups]
            for g in self._matcher.alternatives(groups, pinyin=True, synonyms=self._synonyms):
                selection.soft.append(
                    [self._matcher.clause(a.clause, frozenset(), a) for a in g if a.via or a.pinyin]
                )
            hq = self._highlight_query(parsed, selection)
            return tuple(find_spans(text, self._analyzer.normalize(text), self._analyzer, hq))

    def suggest(self, prefix: str, limit: int = 10) -> Suggestions:
        """Completions of ``prefix`` as it is typed: the index's words and titles that start
        with it (or whose pinyin does: ``gongx`` → 工信部), most posts first."""
        prefix = arguments.text(prefix, "prefix")
        limit = arguments.count(limit, "limit", error=QueryError)
        with self._lock:
            self._check_open()
            found = complete(Lexicon.of(self._snap), prefix[:200], limit, self._analyzer.normalize)
            return Suggestions(prefix, tuple(found))

    def similar(self, path: str, *, limit: int = 10, terms: int = 12) -> SearchResults:
        """Posts most like the post at ``path``: its key terms (tf-idf), ranked by BM25F."""
        path = arguments.post_path(path)
        limit = arguments.count(limit, "limit", error=QueryError)
        terms = arguments.count(terms, "terms", error=QueryError)
        with self._lock:
            self._check_open()
            me = self._docnum(path)
            post = _post_from_stored(self._snap.stored(me), self.timezone)
            key = key_terms(self._matcher.stats, self._analyzer, post.title, post.text, terms)
            total, top = similar_posts(self._matcher.stats, key, me, limit)
            hq = HighlightQuery(frozenset(w for w, _ in key), ())
            hits = tuple(self._hit(d, s, hq, i + 1, MATCH_SIMILAR) for i, (d, s) in enumerate(top))
            words = tuple(w for w, _ in key)
            return SearchResults(
                query=" ".join(words), total=total, page=1, limit=limit, hits=hits, terms=words
            )

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
