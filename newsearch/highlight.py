"""Text + query to a snippet: a window of whole sentences where the query matches best, with exact
highlight spans for every matched word and literal piece.

Whoosh's own fragmenters split on ``.!?`` and look at the first 32K characters only; Chinese
sentences end with 。！？；… and a long post's best passage may be anywhere, so newsearch chooses
snippets itself. Offsets come from the analyser, so a highlight never cuts a word short.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from .analysis import BOUNDARY, Analyzer

SNIPPET_MIN = 100
SNIPPET_MAX = 160
ELLIPSIS = "…"

#: Sentence ends: Chinese and Western, plus line breaks.
_SENTENCE_END = re.compile(r"[。！？；…!?;]+[”’」』)）]*|\.(?=\s)|\n+")
#: Places inside a long sentence where a cut reads well.
_SOFT_BREAK = re.compile(r"[，、：,:\s]")
#: Units of text as the index sees them (same as analysis): used to find literal pieces.
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class HighlightQuery:
    """What to highlight: query words and literal pieces (normalised, separators dropped)."""

    words: frozenset[str]
    pieces: tuple[str, ...]


def find_spans(
    text: str, norm: str, analyzer: Analyzer, hq: HighlightQuery, base: int = 0
) -> list[tuple[int, int]]:
    """Spans of matched words (whole tokens or sub-words) and literal pieces in ``text``."""
    spans: list[tuple[int, int]] = []
    if hq.words:
        for tok in analyzer.tokens(text):
            if tok.text in hq.words:
                spans.append((base + tok.start, base + tok.end))
    for piece in hq.pieces:
        spans.extend((base + s, base + e) for s, e in literal_spans(norm, piece, analyzer))
    return merge_spans(spans)


def literal_spans(norm: str, piece: str, analyzer: Analyzer) -> list[tuple[int, int]]:
    """Where ``piece`` occurs in normalised text, separators between its characters ignored."""
    if not piece:
        return []
    out: list[tuple[int, int]] = []
    i = norm.find(piece)
    while i != -1:
        out.append((i, i + len(piece)))
        i = norm.find(piece, i + 1)
    if out or len(norm) > 400_000:
        return out
    # Slow path: the piece spans punctuation or spaces in the text ("经济，社会"). Build the
    # text's token string (see Analyzer.token_string) with each character's offset.
    chars: list[str] = []
    offsets: list[int] = []
    prev_alnum_end = -1
    for text, start, alnum in analyzer.unit_spans(norm):
        if alnum and prev_alnum_end >= 0:
            chars.append(BOUNDARY)
            offsets.append(prev_alnum_end)
        chars.append(text)
        offsets.extend(range(start, start + len(text)))
        prev_alnum_end = start + len(text) if alnum else -1
    flat = "".join(chars)
    i = flat.find(piece)
    while i != -1:
        out.append((offsets[i], offsets[i + len(piece) - 1] + 1))
        i = flat.find(piece, i + 1)
    return out


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        # Overlapping spans are joined; touching ones stay apart (each is one matched item).
        if out and s < out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, the end mark included, whitespace around trimmed."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        _append_trimmed(text, start, end, out)
        start = end
    _append_trimmed(text, start, len(text), out)
    return out


def _append_trimmed(text: str, s: int, e: int, out: list[tuple[int, int]]) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        out.append((s, e))


def make_snippet(
    text: str, analyzer: Analyzer, hq: HighlightQuery, max_len: int = SNIPPET_MAX
) -> Snippet:
    """The best window of ``text`` for the query, about 100-160 characters, with highlights."""
    if not text:
        return Snippet("", ())
    norm = analyzer.normalize(text)
    hits = _rough_hits(norm, hq)
    # Only the neighbourhood of the best spot is split into sentences: a post may be megabytes.
    focus = _focus(hits, max_len)
    lo = max(0, focus - 2 * max_len)
    hi = min(len(text), focus + 3 * max_len)
    sents = [(s + lo, e + lo) for s, e in sentences(text[lo:hi])]
    if not sents:
        return Snippet("", ())
    # Score sentences by the distinct query items they contain, literal pieces first.
    best = 0
    best_score = -1.0
    if hits:
        for k, (s, e) in enumerate(sents):
            score = 0.0
            for _item, weight, positions in hits:
                if any(s <= p < e for p in positions):
                    score += weight
            if score > best_score:
                best, best_score = k, score
    start, end = sents[best]
    if end - start > max_len:
        first = min((p for _, _, ps in hits for p in ps if start <= p < end), default=start)
        start, end = _cut_long(text, start, end, first, max_len)
    else:
        # Grow with the sentences that follow, then those before, up to the length limit.
        k_after, k_before = best + 1, best - 1
        while True:
            grown = False
            if (
                k_after < len(sents)
                and sents[k_after][1] - start <= max_len
                and (end - start < SNIPPET_MIN or _has_hit(hits, *sents[k_after]))
            ):
                end = sents[k_after][1]
                k_after += 1
                grown = True
            elif (
                k_before >= 0 and end - sents[k_before][0] <= max_len and end - start < SNIPPET_MIN
            ):
                start = sents[k_before][0]
                k_before -= 1
                grown = True
            if not grown:
                break
    window = text[start:end]
    spans = find_spans(window, norm[start:end], analyzer, hq)
    prefix = ELLIPSIS if start > 0 and not _starts_sentence(text, start) else ""
    suffix = ELLIPSIS if end < len(text.rstrip()) and not _ends_sentence(text, end) else ""
    body = _SPACES.sub(" ", window) if "\n" in window else window
    if body != window:
        spans = _remap_spaces(window, spans)
    shift = len(prefix)
    return Snippet(prefix + body + suffix, tuple((s + shift, e + shift) for s, e in spans))


def _remap_spaces(window: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Offsets after collapsing runs of whitespace to one space."""
    mapping: list[int] = []
    out_pos = 0
    i = 0
    n = len(window)
    while i < n:
        if window[i].isspace():
            j = i
            while j < n and window[j].isspace():
                mapping.append(out_pos)
                j += 1
            out_pos += 1
            i = j
        else:
            mapping.append(out_pos)
            out_pos += 1
            i += 1
    mapping.append(out_pos)
    return [(mapping[s], mapping[e - 1] + 1) for s, e in spans]


def _has_hit(hits: list[tuple[str, float, list[int]]], s: int, e: int) -> bool:
    return any(s <= p < e for _, _, ps in hits for p in ps)


def _starts_sentence(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return j < 0 or bool(_SENTENCE_END.match(text, j)) or text[j] == "\n"


def _ends_sentence(text: str, i: int) -> bool:
    return i > 0 and bool(_SENTENCE_END.match(text, i - 1))


def _cut_long(text: str, start: int, end: int, focus: int, max_len: int) -> tuple[int, int]:
    """A window of at most ``max_len`` inside a long sentence, around ``focus``, cut at a comma."""
    lo = max(start, focus - max_len // 3)
    # Prefer to start right after a soft break before the focus.
    m = None
    for m_ in _SOFT_BREAK.finditer(text, lo, focus):
        m = m_
    if m is not None and focus - m.end() < max_len // 2:
        lo = m.end()
    elif lo > start:
        lo = max(start, lo)
    hi = min(end, lo + max_len)
    if hi < end:
        cut = None
        for m_ in _SOFT_BREAK.finditer(text, lo + SNIPPET_MIN // 2, hi):
            cut = m_
        if cut is not None:
            hi = cut.start() + 1
    return lo, hi


def _focus(hits: list[tuple[str, float, list[int]]], max_len: int) -> int:
    """The hit position whose window of ``max_len`` holds the most (weighted, distinct) items."""
    best, best_score = 0, -1.0
    for _, _, positions in hits:
        for p in positions:
            score = 0.0
            for _item, weight, ps in hits:
                k = bisect_left(ps, p)
                if k < len(ps) and ps[k] < p + max_len:
                    score += weight
            if score > best_score or (score == best_score and p < best):
                best, best_score = p, score
    return best


def _rough_hits(norm: str, hq: HighlightQuery) -> list[tuple[str, float, list[int]]]:
    """Where each query item occurs (plain substring search; good enough to choose a window)."""
    out: list[tuple[str, float, list[int]]] = []
    for piece in hq.pieces:
        ps = _positions(norm, piece, 200)
        if ps:
            out.append((piece, 3.0, ps))
    for w in hq.words:
        ps = _positions(norm, w, 200)
        if ps:
            out.append((w, 1.0, ps))
    return out


def _positions(norm: str, needle: str, limit: int) -> list[int]:
    out: list[int] = []
    if not needle:
        return out
    i = norm.find(needle)
    while i != -1 and len(out) < limit:
        out.append(i)
        i = norm.find(needle, i + 1)
    return out
