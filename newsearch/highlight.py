"""Text + query to a snippet: a window of whole sentences where the query matches best, with exact
highlight spans for every matched word and literal piece.

Whoosh's own fragmenters split on ``.!?`` and look at the first 32K characters only; Chinese
sentences end with 。！？；… and a long post's best passage may be anywhere, so newsearch chooses
snippets itself. Offsets come from the analyser, so a highlight never cuts a word short.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .analysis import Analyzer, literal_pattern

SNIPPET_MIN = 100
SNIPPET_MAX = 160
ELLIPSIS = "…"

#: Sentence ends: Chinese and Western, plus line breaks.
_SENTENCE_END = re.compile(r"[。！？；…!?;]+[”’」』)）]*|\.(?=\s)|\n+")
#: Places inside a long sentence where a cut reads well.
_SOFT_BREAK = re.compile(r"[，、：,:\s]")
#: Runs of white space, folded to one space in a snippet that spans lines.
_SPACES = re.compile(r"\s+")
#: Where a window that must lose text at its start may begin: after a break or a sentence end.
_CUT = re.compile(r"[，、：,:。！？；…!?;\s]")
#: Occurrences of each query item looked at to choose a window.
_ROUGH_LIMIT = 200


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class HighlightQuery:
    """What to highlight: query words and literal pieces (normalised, separators dropped)."""

    words: frozenset[str]
    pieces: tuple[str, ...]
    #: The precise words of each piece as typed, separators and all (``经济、社会`` is 经济 and
    #: 社会, where its piece ``经济社会`` may be one word): where a long post's snippet looks
    #: for the piece (see passages). Empty when not known: then the piece is cut.
    piece_words: tuple[tuple[str, ...], ...] = ()


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
        spans.extend((base + s, base + e) for s, e in literal_spans(norm, piece))
    return merge_spans(spans)


def literal_spans(norm: str, piece: str) -> list[tuple[int, int]]:
    """Where ``piece`` (a token string) occurs in normalised text, wherever literal matching
    finds it: separators between its characters are ignored (``经济社会`` in ``经济、社会``)."""
    return list(_literal_matches(norm, piece))


def _literal_matches(norm: str, piece: str) -> Iterator[tuple[int, int]]:
    """Every occurrence of ``piece`` in ``norm``, overlapping ones included, in order.

    One scan of the text, like ``str.find`` (a regular expression with the piece's first
    character as a literal prefix): a post of megabytes costs about what a plain search did.
    """
    if not piece:
        return
    pattern = literal_pattern(piece)
    m = pattern.search(norm)
    while m is not None:
        yield m.span()
        m = pattern.search(norm, m.start() + 1)


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
    hits, occurrences = _rough_hits(norm, hq)
    return _window(text, norm, analyzer, hq, hits, occurrences, _focus(hits, max_len), max_len)


@dataclass(frozen=True)
class Passage:
    """A piece of a long text, around the place where a snippet's window should start."""

    #: The piece of text, and the offset of its first character in the whole text.
    text: str
    start: int
    #: Whether the piece ends where the whole text does.
    at_end: bool
    #: Where the window may start, as offsets into ``text``: the window chosen from word
    #: positions, give or take a little (a literal piece may start before its first word).
    focus: tuple[int, int]


def passage_snippet(
    passage: Passage, analyzer: Analyzer, hq: HighlightQuery, max_len: int = SNIPPET_MAX
) -> Snippet:
    """The snippet of a long text from a passage of it: the query's items are searched in the
    passage only, and the window starts at the best of them in ``passage.focus``, as
    ``make_snippet`` would choose it there. The passage must hold ``3 * max_len`` characters
    before the focus and ``4 * max_len`` after it (or the text's start and end)."""
    text = passage.text
    if not text:
        return Snippet("", ())
    norm = analyzer.normalize(text)
    hits, occurrences = _rough_hits(norm, hq)
    lo, hi = passage.focus
    focus = _focus(hits, max_len, lo, hi)
    return _window(
        text, norm, analyzer, hq, hits, occurrences, focus, max_len, passage.start, passage.at_end
    )


def _window(
    text: str,
    norm: str,
    analyzer: Analyzer,
    hq: HighlightQuery,
    hits: list[tuple[str, float, list[int]]],
    occurrences: list[list[tuple[int, int]]],
    focus: int,
    max_len: int,
    base: int = 0,
    at_end: bool = True,
) -> Snippet:
    """The snippet around ``focus``: whole sentences, the best of them first. ``text`` is the
    whole text, or a passage of it that starts at ``base`` (and ends where the text does if
    ``at_end``)."""
    # Only the neighbourhood of the best spot is split into sentences: a post may be megabytes.
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
    start, end = _keep_whole(text, sents, occurrences, start, end, max_len)
    window = text[start:end]
    spans = find_spans(window, norm[start:end], analyzer, hq)
    prefix = ELLIPSIS if base + start > 0 and not _starts_sentence(text, start) else ""
    more = end < len(text.rstrip()) if at_end else True
    suffix = ELLIPSIS if more and not _ends_sentence(text, end) else ""
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
    hi = min(end, lo + max_len)
    if hi < end:
        cut = None
        for m_ in _SOFT_BREAK.finditer(text, lo + SNIPPET_MIN // 2, hi):
            cut = m_
        if cut is not None:
            hi = cut.start() + 1
    return lo, hi


def _focus(
    hits: list[tuple[str, float, list[int]]], max_len: int, lo: int = 0, hi: int | None = None
) -> int:
    """The hit position whose window of ``max_len`` holds the most (weighted, distinct) items;
    only positions in [lo, hi) are looked at (``lo`` when none is there)."""
    best, best_score = lo, -1.0
    for _, _, positions in hits:
        for p in positions:
            if p < lo or (hi is not None and p >= hi):
                continue
            score = 0.0
            for _item, weight, ps in hits:
                k = bisect_left(ps, p)
                if k < len(ps) and ps[k] < p + max_len:
                    score += weight
            if score > best_score or (score == best_score and p < best):
                best, best_score = p, score
    return best


def _rough_hits(
    norm: str, hq: HighlightQuery
) -> tuple[list[tuple[str, float, list[int]]], list[list[tuple[int, int]]]]:
    """Where each query item occurs (enough of them to choose a window), and the spans of each
    literal piece's occurrences."""
    out: list[tuple[str, float, list[int]]] = []
    occurrences: list[list[tuple[int, int]]] = []
    for piece in hq.pieces:
        spans = _piece_spans(norm, piece, _ROUGH_LIMIT)
        if spans:
            out.append((piece, 3.0, [s for s, _ in spans]))
            occurrences.append(spans)
    for w in hq.words:
        ps = _positions(norm, w, _ROUGH_LIMIT)
        if ps:
            out.append((w, 1.0, ps))
    return out, occurrences


def _piece_spans(norm: str, piece: str, limit: int) -> list[tuple[int, int]]:
    """The first ``limit`` occurrences of a literal piece as typed, or, when it never occurs as
    typed, across separators (``经济、社会`` for ``经济社会``): as typed reads best."""
    typed: list[tuple[int, int]] = []
    across: list[tuple[int, int]] = []
    n = len(piece)
    for s, e in _literal_matches(norm, piece):
        if e - s == n and norm.startswith(piece, s):
            typed.append((s, e))
            if len(typed) >= limit:
                break
            continue
        across.append((s, e))
        if len(across) >= limit:
            # Enough of those; the rest of the text is searched for the piece as typed only,
            # with one plain search (a post may hold a million "的，是" and no "的是").
            i = norm.find(piece, s + 1)
            while i != -1 and len(typed) < limit:
                typed.append((i, i + n))
                i = norm.find(piece, i + 1)
            break
    return typed or across


def _keep_whole(
    text: str,
    sents: list[tuple[int, int]],
    occurrences: list[list[tuple[int, int]]],
    start: int,
    end: int,
    max_len: int,
) -> tuple[int, int]:
    """The window widened so that it holds one whole occurrence of each literal piece that
    starts in it: a piece across punctuation may run past the sentence end or the comma where
    the window was cut. The window then ends with the sentence of that occurrence if it fits,
    and loses text at its start if it must."""
    for spans in occurrences:
        if any(start <= s and e <= end for s, e in spans):
            continue
        cut = next(((s, e) for s, e in spans if start <= s < end), None)
        if cut is None:
            continue
        s, e = cut
        end = next((se for ss, se in sents if ss < e <= se and se - start <= max_len), e)
        if end - start > max_len:
            start = min(s, end - max_len)
            m = _CUT.search(text, start, s)
            if m is not None:
                start = m.end()
            while start < s and text[start].isspace():
                start += 1
    return start, end


def _positions(norm: str, needle: str, limit: int) -> list[int]:
    out: list[int] = []
    if not needle:
        return out
    i = norm.find(needle)
    while i != -1 and len(out) < limit:
        out.append(i)
        i = norm.find(needle, i + 1)
    return out
