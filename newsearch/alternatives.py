"""What a query's keywords may also mean: the indexed words a Latin keyword reads as in pinyin,
and the synonyms of a keyword. The matcher evaluates them beside the keywords themselves.

Pinyin applies to Latin keywords only: a keyword typed in Chinese characters is never expanded to
its homophones (the way pinyin matching fails elsewhere: 景点 matching 经典). Adjacent Latin
keywords that are each whole syllables read as one when the index has words that read as all of
them together (``gong xin bu``: 工信部).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .lexicon import Lexicon
from .pinyin import PinyinKeyword, read_keyword
from .query import TEXT, Clause
from .ranking import FUNCTION_WORDS
from .synonyms import SynonymMap

#: A keyword reads as at most this many indexed words (those most posts hold): initials of two
#: letters read as hundreds.
MAX_PINYIN_WORDS = 32
#: Adjacent pinyin keywords read together, at most this many.
MAX_RUN = 8

VIA_SYNONYM = "synonym"


@dataclass(frozen=True)
class Alternative:
    """One clause of a group as the matcher evaluates it."""

    clause: Clause
    #: "" for a clause as typed; "synonym" for a synonym of clause ``source`` of the group.
    via: str = ""
    source: int = -1
    #: The indexed words the (Latin) keyword reads as in pinyin, most posts first.
    pinyin: tuple[str, ...] = ()
    #: ``pinyin`` are words whose initials the keyword is (``gxb``), not its full reading.
    initials: bool = False


def expand(
    groups: list[list[Clause]],
    *,
    lexicon: Callable[[], Lexicon],
    synonyms: SynonymMap | None,
    pinyin: bool,
    key: Callable[[str], str],
) -> list[list[Alternative]]:
    """The groups with their keywords' pinyin readings and synonyms (see the module docstring).

    ``lexicon`` is called only when a keyword may be pinyin; ``key`` normalises a keyword the way
    synonym terms are (literal matching's form).
    """
    readings: dict[int, PinyinKeyword] = {}
    if pinyin:
        for i, g in enumerate(groups):
            if len(g) == 1 and g[0].kind == TEXT:
                got = read_keyword(g[0].text)
                if got is not None:
                    readings[i] = got
    lex = lexicon() if readings else None
    out: list[list[Alternative]] = []
    i = 0
    while i < len(groups):
        g = groups[i]
        merged = _run(groups, readings, i, lex) if lex is not None else None
        if merged is not None:
            clause, words, end = merged
            out.append(_with_synonyms([Alternative(clause, pinyin=words)], synonyms, key))
            i = end
            continue
        alts = []
        for c in g:
            got = readings.get(i) if len(g) == 1 else None
            if got is None and pinyin and c.kind == TEXT and len(g) > 1:
                got = read_keyword(c.text)
                if got is not None and lex is None:
                    lex = lexicon()
            reads: tuple[str, ...] = ()
            initials = False
            if got is not None and lex is not None:
                reads = _words_of(got, lex)
                initials = bool(reads) and got.initials
            alts.append(Alternative(c, pinyin=reads, initials=initials))
        out.append(_with_synonyms(alts, synonyms, key))
        i += 1
    return out


def _run(
    groups: list[list[Clause]], readings: dict[int, PinyinKeyword], i: int, lex: Lexicon
) -> tuple[Clause, tuple[str, ...], int] | None:
    """The longest run of two or more whole-syllable keywords from ``i`` that reads as indexed
    words: (the run as one clause, those words, where the run ends)."""
    end = i
    while end < len(groups) and end - i < MAX_RUN and end in readings and readings[end].full:
        end += 1
    for stop in range(end, i + 1, -1):
        letters = "".join(readings[k].letters for k in range(i, stop))
        words = _pick(lex.by_reading(letters))
        if words:
            text = " ".join(groups[k][0].text for k in range(i, stop))
            return Clause(TEXT, text), words, stop
    return None


def _words_of(got: PinyinKeyword, lex: Lexicon) -> tuple[str, ...]:
    if got.full:
        return _pick(lex.by_reading(got.letters))
    return _pick(w for w in lex.by_initials(got.letters) if len(w) == len(got.letters))


def _pick(words: object) -> tuple[str, ...]:
    out = []
    for w in words:  # type: ignore[attr-defined]
        if w in FUNCTION_WORDS:
            continue
        out.append(w)
        if len(out) >= MAX_PINYIN_WORDS:
            break
    return tuple(out)


def _with_synonyms(
    alts: list[Alternative], synonyms: SynonymMap | None, key: Callable[[str], str]
) -> list[Alternative]:
    if not synonyms:
        return alts
    typed = {key(a.clause.text) for a in alts}
    out = list(alts)
    for idx, a in enumerate(alts):
        if a.clause.kind != TEXT:
            continue
        for term in synonyms.others(key(a.clause.text)):
            k = key(term)
            if k in typed:
                continue
            typed.add(k)
            out.append(Alternative(Clause(TEXT, term), via=VIA_SYNONYM, source=idx))
    return out


__all__ = ["MAX_PINYIN_WORDS", "VIA_SYNONYM", "Alternative", "expand"]
