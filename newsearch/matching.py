"""Which posts match, and how well: literal pieces through the word index, words, BM25F.

A literal piece of text is found from the precise words alone. jieba's precise mode partitions
every Han run into words, so a piece that occurs in a post is either inside one indexed word, or
the end of one word, then whole words, then the start of another, at consecutive positions. The
index's own vocabulary answers "which words contain / end with / start with this", the postings
give the positions. Long pieces are narrowed down by two short pieces and checked on the stored
text. No character n-gram field is needed.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from .analysis import Analyzer
from .schema import SUB_FIELDS, decode_positions
from .store import Snapshot

#: Pieces up to this length are matched through the word lattice; longer ones are narrowed down
#: by their first and last pieces of this length and checked against the stored text.
LATTICE_MAX = 6
#: BM25F parameters: saturation, and per field the weight and the length normalisation.
K1 = 1.2
FIELD_WEIGHTS = {"title": 3.0, "title_sub": 1.5, "text": 1.0, "text_sub": 0.5}
FIELD_B = {"title": 0.5, "title_sub": 0.5, "text": 0.75, "text_sub": 0.75}


class Vocabulary:
    """The terms of one word field (all segments): which contain, start or end with a piece."""

    def __init__(self, blobs: list[str]):
        # Each blob is "\nterm\nterm\n...\n"; a term never contains a line break.
        self.blobs = blobs

    def containing(self, piece: str) -> set[str]:
        out: set[str] = set()
        if not piece or "\n" in piece:
            return out
        for blob in self.blobs:
            i = blob.find(piece)
            while i != -1:
                start = blob.rfind("\n", 0, i) + 1
                end = blob.find("\n", i + len(piece))
                out.add(blob[start:end])
                i = blob.find(piece, end)
        return out

    def ending_with(self, piece: str) -> set[str]:
        out: set[str] = set()
        needle = piece + "\n"
        for blob in self.blobs:
            i = blob.find(needle)
            while i != -1:
                end = i + len(piece)
                out.add(blob[blob.rfind("\n", 0, i) + 1 : end])
                i = blob.find(needle, end)
        return out

    def starting_with(self, piece: str) -> set[str]:
        out: set[str] = set()
        needle = "\n" + piece
        for blob in self.blobs:
            i = blob.find(needle)
            while i != -1:
                end = blob.find("\n", i + 1)
                out.add(blob[i + 1 : end])
                i = blob.find(needle, end)
        return out


@dataclass
class WordHits:
    """One query word: its term frequency per field and the posts that have it."""

    word: str
    df: int
    #: post -> combined, length-normalised term frequency (the BM25F tf~).
    tf: dict[int, float]


class Matcher:
    """Answers literal, word and keyword questions about one snapshot of the index."""

    def __init__(self, snapshot: Snapshot, analyzer: Analyzer):
        self.snap = snapshot
        self.analyzer = analyzer
        self._literal_cache: dict[tuple[str, str], frozenset[int]] = {}

    # --- vocabulary and postings ----------------------------------------------------------------

    def vocabulary(self, field: str) -> Vocabulary:
        return self.snap.memo(("vocab", field), lambda: Vocabulary(self.snap.vocabularies(field)))

    def docs(self, field: str, term: str) -> list[int]:
        return self.snap.postings(field, term).docs

    def docs_of_terms(self, field: str, terms: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for t in terms:
            out.update(self.snap.postings(field, t).docs)
        return out

    # --- literal pieces -------------------------------------------------------------------------

    def piece(self, text: str) -> str:
        """A query piece as the index sees it: normalised, separators dropped."""
        return "".join(u.text for u in self.analyzer.units(text))

    def literal(self, field: str, piece: str) -> frozenset[int]:
        """Posts whose ``field`` contains ``piece`` (normalised, separators ignored)."""
        if not piece:
            return frozenset()
        key = (field, piece)
        hit = self._literal_cache.get(key)
        if hit is None:
            if len(piece) <= LATTICE_MAX:
                hit = frozenset(self._lattice(field, piece))
            else:
                hit = frozenset(self._long(field, piece))
            if len(self._literal_cache) > 512:
                self._literal_cache.clear()
            self._literal_cache[key] = hit
        return hit

    def _lattice(self, field: str, q: str) -> set[int]:
        vocab = self.vocabulary(field)
        n = len(q)
        found = self.docs_of_terms(field, vocab.containing(q))
        if n == 1:
            return found
        # edges[i][j]: the terms that can cover q[i:j] at one position.
        edges: dict[tuple[int, int], list[str]] = {}
        for j in range(1, n):
            terms = vocab.ending_with(q[:j])
            if terms:
                edges[(0, j)] = sorted(terms)
        for i in range(1, n):
            terms = vocab.starting_with(q[i:])
            if terms:
                edges[(i, n)] = sorted(terms)
            for j in range(i + 1, n):
                if self.snap.has_term(field, q[i:j]):
                    edges[(i, j)] = [q[i:j]]
        # Posts that can reach each node, ignoring positions: a cheap superset.
        edge_docs: dict[tuple[int, int], set[int]] = {}

        def docs_of(edge: tuple[int, int]) -> set[int]:
            d = edge_docs.get(edge)
            if d is None:
                d = edge_docs[edge] = self.docs_of_terms(field, edges[edge])
            return d

        reach: dict[int, set[int]] = {0: set()}
        for j in range(1, n + 1):
            acc: set[int] = set()
            for i in range(0, j):
                if (i, j) not in edges:
                    continue
                if i == 0:
                    acc |= docs_of((0, j))
                elif reach.get(i):
                    acc |= reach[i] & docs_of((i, j))
            reach[j] = acc
        candidates = reach[n] - found
        if not candidates:
            return found
        # Exact check with positions, post by post.
        positions: dict[str, tuple[list[int], list[bytes]]] = {}

        def term_positions(term: str, doc: int) -> set[int]:
            p = positions.get(term)
            if p is None:
                post = self.snap.postings(field, term, values=True)
                p = positions[term] = (post.docs, post.values or [])
            docs, values = p
            k = bisect_left(docs, doc)
            if k < len(docs) and docs[k] == doc:
                return set(decode_positions(values[k]))
            return set()

        order = sorted(edges)
        for doc in candidates:
            at: dict[int, set[int]] = {}
            for i, j in order:
                if i == 0:
                    here: set[int] = set()
                    for t in edges[(i, j)]:
                        here |= term_positions(t, doc)
                else:
                    prev = at.get(i)
                    if not prev:
                        continue
                    here = set()
                    for t in edges[(i, j)]:
                        here |= term_positions(t, doc)
                    here &= {p + 1 for p in prev}
                if here:
                    if j == n:
                        found.add(doc)
                        break
                    at.setdefault(j, set()).update(here)
        return found

    def _long(self, field: str, q: str) -> set[int]:
        k = LATTICE_MAX
        candidates = set(self.literal(field, q[:k]))
        if candidates:
            candidates &= self.literal(field, q[-k:])
        if candidates and len(q) > 2 * k:
            mid = (len(q) - k) // 2
            candidates &= self.literal(field, q[mid : mid + k])
        return {d for d in candidates if q in self.token_string(d, field)}

    def token_string(self, doc: int, field: str) -> str:
        """The stored field as the index sees it: normalised, separators dropped."""
        value = self.snap.stored(doc).get(field) or ""
        return self.piece(value)

    # --- words ----------------------------------------------------------------------------------

    def word_hits(self, word: str) -> WordHits:
        """Term frequencies of one word over title, text and their sub-words (BM25F tf~)."""
        snap = self.snap
        tf: dict[int, float] = {}
        for field in ("title", "text"):
            for f in (field, SUB_FIELDS[field]):
                post = snap.postings(f, word)
                if not post.docs:
                    continue
                norm = self._norms(f)
                w = FIELD_WEIGHTS[f]
                get = tf.get
                for d, freq in zip(post.docs, post.weights, strict=True):
                    tf[d] = get(d, 0.0) + w * freq / norm[d]
        return WordHits(word, len(tf), tf)

    def _norms(self, field: str) -> list[float]:
        def make() -> list[float]:
            lengths = self.snap.field_lengths(field)
            avg = self.snap.average_length(field) or 1.0
            b = FIELD_B[field]
            return [(1.0 - b) + b * (n / avg) for n in lengths]

        return self.snap.memo(("norm", field), make)

    def idf(self, df: int) -> float:
        n = self.snap.doc_count
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    # --- keywords -------------------------------------------------------------------------------

    def keyword_docs(self, field: str, value: str) -> set[int]:
        from .schema import keyword_term

        return set(self.snap.postings(field, keyword_term(value, self.analyzer.normalize)).docs)


def bm25(idf: float, tf: float) -> float:
    return idf * tf * (K1 + 1.0) / (tf + K1)

