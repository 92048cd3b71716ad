"""Text to search terms: normalisation, jieba segmentation, ordinal positions and exact offsets.

The only module that imports jieba (or rjieba, the Rust port that cuts the same words faster).

How a text becomes terms
------------------------
1. *Normalise* every character on its own through one translation table: NFKC (full-width to
   half-width), lower case, and Traditional to Simplified Chinese (OpenCC's character table). The
   table maps one character to one character, so offsets survive unchanged and a piece of text that
   occurs in a post still occurs, normalised, in the normalised post (the substring guarantee rests
   on this). The table is computed once per index and stored in it, so queries always normalise
   exactly as the index did.
2. *Split* the normalised text into runs: Han runs (jieba's range U+4E00..U+9FD5) are segmented by
   jieba; other ideographs (extension A, compatibility forms, ``〇``) are one token each; letters
   and digits form one token per run (``5g``, ``app``, ``2022``, ``3.5``); the rest separates.
3. *Segment* each Han run with jieba's precise mode. Every precise word gets the next ordinal
   position; search mode adds the dictionary 2- and 3-grams inside longer words ("sub-words"), which
   share the position of their word. Precise words partition the text, which is what lets the index
   find any literal piece of text from its words alone.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any

#: Bump when tokens for the same text change; an index built with another version must be rebuilt.
#: 4: a user dictionary no longer changes jieba's total frequency (see _apply_user_dict).
ANALYSIS_VERSION = 4

_HAN = "\u4e00-\u9fd5"
_OTHER_IDEOGRAPHS = "\u3007\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_ALNUM = rf"[^\W_{_HAN}{_OTHER_IDEOGRAPHS}]"
#: One match per unit: a Han run, one other ideograph, or a letters-and-digits token in which a
#: dot between digits stays inside (``3.5``, ``v2.0``, ``1.5g``). Two such tokens are never
#: adjacent without a separator between them.
_UNIT_RE = re.compile(
    rf"([{_HAN}]+)|([{_OTHER_IDEOGRAPHS}])|({_ALNUM}+(?:(?<=[0-9])\.[0-9]{_ALNUM}*)*)"
)
_HAN_RE = re.compile(f"[{_HAN}]")
#: Between two letter-or-digit tokens, a token string keeps this mark: ``5 g`` is two tokens,
#: ``5g`` one, and a literal match must not join them.
BOUNDARY = "\x00"
_ALNUM_CHAR = _ALNUM
#: A run of characters that separates units ('.' only when not between two digits).
_SEPARATOR = rf"(?:[^\w{_OTHER_IDEOGRAPHS}.\x00]|_|(?<![0-9])\.|\.(?![0-9]))+"
_ALNUM_GAP_RE = re.compile(rf"(?<={_ALNUM_CHAR}){_SEPARATOR}(?={_ALNUM_CHAR})")
_SEPARATOR_RE = re.compile(_SEPARATOR)

#: Texts are analysed in pieces of about this many characters (see ``Analyzer.terms``). A long
#: text is stored in the same pieces (store.texts): a snippet of it cuts one piece into words
#: again, about a millisecond for 4K characters; analysing in pieces of 4K or 16K costs the same.
PIECE_CHARS = 1 << 12
#: Texts of at least this many characters are long: stored in their pieces, each with a filter
#: of the character pairs it holds (``pair_filter``), so that a snippet reads only the piece it
#: shows (see store.texts and passages).
LONG_TEXT = 1 << 15
#: Where a piece may end when no line break is near: characters that are never part of a token,
#: before or after normalisation (a test checks it), so no token runs across the cut.
_CUT_RE = re.compile(r"[\s。，、；：！？,;:!?]")

#: Unicode blocks whose characters OpenCC may convert.
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


# --- normalisation -----------------------------------------------------------------------------


def build_normalization_table() -> dict[int, int]:
    """The character table: NFKC, then lower case, then Traditional to Simplified, 1:1 only.

    A character whose NFKC or lower-case form has several characters (``㎏``, ``İ``) is kept as
    it is: changing the length would break offsets and the substring guarantee.
    """
    t2s = _opencc_t2s_characters()
    table: dict[int, int] = {}
    # Nothing above U+2FFFF changes under NFKC or lower case.
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        out = unicodedata.normalize("NFKC", ch)
        if len(out) != 1:
            out = ch
        lower = out.lower()
        if len(lower) == 1:
            out = lower
        seen = {out}
        while out in t2s:  # follow chains to a fixed point, so normalising twice changes nothing
            out = t2s[out]
            if out in seen:
                break
            seen.add(out)
        if out != ch:
            table[cp] = ord(out)
    return table


def _opencc_t2s_characters() -> dict[str, str]:
    """OpenCC's Traditional-to-Simplified conversion of every single CJK character."""
    import opencc  # only needed when an index is created

    converter = opencc.OpenCC("t2s")
    chars = [chr(c) for lo, hi in _CJK_RANGES for c in range(lo, hi + 1)]
    # One character per line: OpenCC's phrase matching never sees two characters together.
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        raise RuntimeError("OpenCC changed the number of lines while converting characters")
    return {c: o for c, o in zip(chars, converted, strict=True) if o != c and len(o) == 1}


class Normalizer:
    """Normalises text one character at a time (same length in, same length out)."""

    def __init__(self, table: dict[int, int]):
        self.table = table
        self._translate = {k: chr(v) for k, v in table.items()}

    def __call__(self, text: str) -> str:
        return text.translate(self._translate)


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    return Normalizer(build_normalization_table())


# --- segmentation ------------------------------------------------------------------------------


class Segmenter:
    """jieba's precise mode and its dictionary, for cutting Han runs into words."""

    def cut(self, run: str) -> list[str]:
        raise NotImplementedError

    def is_word(self, gram: str) -> bool:
        raise NotImplementedError

    def cut_many(self, runs: list[str]) -> list[list[str]]:
        return [self.cut(run) for run in runs]

    def short_words(self) -> frozenset[str]:
        """The dictionary's two- and three-character words (literal matching across words)."""
        raise NotImplementedError


class JiebaSegmenter(Segmenter):
    """The reference: jieba itself, with an optional user dictionary."""

    def __init__(self, user_dict: str | None = None):
        self._tokenizer = _tokenizer_copy()
        #: Words of the user dictionary with frequency 0: never one word (jieba's force split).
        self._split: frozenset[str] = frozenset()
        if user_dict:
            self._split = frozenset(_apply_user_dict(self._tokenizer, user_dict))
        self._freq = self._tokenizer.FREQ

    def cut(self, run: str) -> list[str]:
        words = list(self._tokenizer.cut(run, HMM=True))
        if self._split:
            # jieba keeps the words to split in a table of its module, shared by every
            # tokenizer of the process: this one's are applied here instead. Only jieba's HMM
            # can give such a word (a word of frequency 0 is never on a route).
            split = self._split
            words = [c for w in words for c in (w if w in split and len(w) > 1 else (w,))]
        return words

    def is_word(self, gram: str) -> bool:
        return bool(self._freq.get(gram))

    def short_words(self) -> frozenset[str]:
        return frozenset(w for w, f in self._freq.items() if f and 2 <= len(w) <= 3)


class RJiebaSegmenter(Segmenter):
    """jieba's algorithm and dictionary in Rust (jieba-rs): the same words, 10-20x faster."""

    name = "jieba"

    def __init__(self) -> None:
        import rjieba

        self._cut = rjieba.cut
        self._has_word = rjieba.has_word

    def cut(self, run: str) -> list[str]:
        return self._cut(run, True)

    def is_word(self, gram: str) -> bool:
        return self._has_word(gram)

    def short_words(self) -> frozenset[str]:
        return _jieba_dict_short_words()

    def cut_many(self, runs: list[str]) -> list[list[str]]:
        # One call for all runs of a text: jieba never joins words across a line break, so the
        # runs are cut exactly as one by one, without the per-call overhead.
        return _split_lines(self._cut("\n".join(runs), True))


class QuerySegmenter(Segmenter):
    """rjieba's cuts without rjieba's 0.1 s dictionary: for the short texts of a search.

    jieba-rs starts empty and is given, before each text, the dictionary words that are
    substrings of it (their frequencies from ``wordtable``), plus one word that never occurs
    (a private-use character) holding the rest of the main dictionary's total frequency. jieba's
    cut only looks up substrings of the text (the words of its graph, and whether a run of
    single characters is a word before the HMM cuts it), and scores a way by ``log(freq) -
    log(total)`` of its words: with the same words at the same frequencies and the same total,
    the cut is the same (a test compares them on thousands of real texts). Past a budget of
    characters (more than the whole dictionary would cost to load) it hands over to the whole
    dictionary, which cuts the same.
    """

    name = "jieba"
    #: Characters learnt word by word before the whole dictionary is cheaper.
    BUDGET = 16_384
    _FILLER = "\ue000"

    def __init__(self) -> None:
        from .wordtable import table_for

        self._table = table_for(_jieba_dict_path())
        self._jieba = _rjieba_module().Jieba.empty()
        self._known: set[str] = set()
        self._sum = 0
        self._left = self.BUDGET
        self._whole: RJiebaSegmenter | None = None
        # Searches may run in threads (the server): what is learnt and the total stay one.
        self._lock = threading.Lock()

    def _learn(self, text: str) -> bool:
        """Give jieba-rs the words of ``text``; False once the budget is spent."""
        if self._whole is not None:
            return False
        self._left -= len(text)
        if self._left < 0:
            self._whole = RJiebaSegmenter()
            return False
        freq = self._table.freq
        known = self._known
        add = self._jieba.add_word
        new = 0
        n = len(text)
        for i in range(n):
            for j in range(i + 1, n + 1):
                w = text[i:j]
                f = freq(w)
                if f is None:
                    break
                if f and w not in known:
                    known.add(w)
                    add(w, f, None)
                    new += f
        if new:
            self._sum += new
            add(self._FILLER, max(self._table.total - self._sum, 0), None)
        return True

    def cut(self, run: str) -> list[str]:
        with self._lock:
            if self._learn(run):
                words: list[str] = self._jieba.cut(run, True)
                return words
        assert self._whole is not None
        return self._whole.cut(run)

    def cut_many(self, runs: list[str]) -> list[list[str]]:
        text = "\n".join(runs)
        with self._lock:
            if self._learn(text):
                return _split_lines(self._jieba.cut(text, True))
        assert self._whole is not None
        return self._whole.cut_many(runs)

    def is_word(self, gram: str) -> bool:
        return bool(self._table.freq(gram))

    def short_words(self) -> frozenset[str]:
        return _jieba_dict_short_words()


def _split_lines(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w == "\n":
            out.append([])
        else:
            out[-1].append(w)
    return out


def _rjieba_module() -> Any:
    """rjieba's compiled module, loaded without the package's ``__init__`` (which builds the
    whole dictionary)."""
    import os
    from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader
    from importlib.util import find_spec, module_from_spec, spec_from_file_location

    loaded = sys.modules.get("rjieba.rjieba")
    if loaded is not None:
        return loaded
    spec = find_spec("rjieba")
    if spec is None or spec.origin is None:
        raise ImportError("rjieba is not installed")
    folder = os.path.dirname(spec.origin)
    for suffix in EXTENSION_SUFFIXES:
        path = os.path.join(folder, "rjieba" + suffix)
        if os.path.exists(path):
            loader = ExtensionFileLoader("rjieba.rjieba", path)
            found = spec_from_file_location("rjieba.rjieba", path, loader=loader)
            if found is None:
                break
            module = module_from_spec(found)
            loader.exec_module(module)
            # Registered, so that importing rjieba later (the whole dictionary) reuses it.
            sys.modules["rjieba.rjieba"] = module
            return module
    raise ImportError("rjieba's compiled module is missing")


def _jieba_dict_path() -> str:
    """jieba's main dictionary file (the one rjieba embeds too), found without importing jieba,
    which costs 0.1 s (it imports pkg_resources)."""
    import os
    from importlib.util import find_spec

    spec = find_spec("jieba")
    if spec is None or spec.origin is None:
        raise ImportError("jieba is not installed")
    return os.path.join(os.path.dirname(spec.origin), "dict.txt")


@lru_cache(maxsize=1)
def _jieba_dict_short_words() -> frozenset[str]:
    """Two- and three-character words of jieba's main dictionary, the one rjieba embeds too
    (kept in the user's cache: see ``wordtable.short_words_for``)."""
    from .wordtable import short_words_for

    return short_words_for(_jieba_dict_path())


@lru_cache(maxsize=1)
def _main_tokenizer() -> object:
    """jieba's tokenizer with its main dictionary, loaded once (about 0.6 s)."""
    import jieba

    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def _tokenizer_copy() -> Any:
    """A tokenizer of its own (a user dictionary changes its table), without loading the main
    dictionary again."""
    import jieba

    main: Any = _main_tokenizer()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = dict(main.FREQ)
    tokenizer.total = main.total
    tokenizer.initialized = True
    return tokenizer


def _apply_user_dict(tokenizer: Any, content: str) -> set[str]:
    """Add the words of a jieba user dictionary (``word [freq] [tag]`` per line) as jieba's
    ``Tokenizer.add_word`` does, except that the total frequency stays the main dictionary's.

    jieba's ``calc`` scores a way of cutting a text by the sum of ``log(freq) - log(total)``
    over its words, and ``add_word`` adds each word's frequency to ``total``: a user word would
    then change the cut of texts that do not contain it (ways with more words lose a little
    more). With ``total`` fixed, a text is cut as with the main dictionary unless it holds a
    word of the user dictionary, so that a changed dictionary needs only the posts that hold
    its changed words analysed again (``user_dict_changes``), and the index is the same as if
    it had been built whole with it. Returns the words of frequency 0 (never one word).
    """
    split: set[str] = set()
    freqs = tokenizer.FREQ
    for line in content.splitlines():
        parts = line.strip().split()
        if not parts:
            continue
        word = parts[0]
        if len(parts) > 1 and parts[1].isdigit():
            freq = int(parts[1])
        else:
            # What jieba suggests: enough for the word to be cut out (the product of its
            # pieces' probabilities, with the fixed total).
            freq = tokenizer.suggest_freq(word, False)
        freqs[word] = freq
        for i in range(len(word)):
            frag = word[: i + 1]
            if frag not in freqs:
                freqs[frag] = 0
        if freq == 0:
            split.add(word)
        else:
            split.discard(word)
    return split


def user_words(content: str | None) -> list[str]:
    """The words of a user dictionary, in order."""
    out: dict[str, None] = {}
    for line in (content or "").splitlines():
        parts = line.strip().split()
        if parts:
            out.setdefault(parts[0], None)
    return list(out)


def user_dict_changes(old: str | None, new: str | None) -> list[str]:
    """The words whose entry in jieba's dictionary differs between two user dictionaries
    (added, removed, another frequency, or split): only texts that hold one of them are cut
    differently (see _apply_user_dict)."""
    if (old or None) == (new or None):
        return []
    states = []
    for content in (old, new):
        tokenizer = _tokenizer_copy()
        split = _apply_user_dict(tokenizer, content) if content else set()
        states.append((tokenizer.FREQ, split))
    (fa, sa), (fb, sb) = states
    words = dict.fromkeys(user_words(old) + user_words(new))
    return [w for w in words if (fa.get(w) or 0, w in sa) != (fb.get(w) or 0, w in sb)]


def read_user_dict(path: str) -> str:
    """The text of a user dictionary file, with a clear error for a bad file."""
    from .errors import NewsearchError

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise NewsearchError(f"cannot read user dictionary {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NewsearchError(f"user dictionary {path} is not UTF-8 text") from exc


@lru_cache(maxsize=8)
def make_segmenter(
    user_dict: str | None = None, prefer_fast: bool = True, queries: bool = False
) -> Segmenter:
    """rjieba when it is installed and no user dictionary is needed; jieba otherwise. For
    ``queries`` (short texts), rjieba with only the words it meets (``QuerySegmenter``) where
    its word table can be read or made."""
    if prefer_fast and not user_dict:
        if queries:
            try:
                return QuerySegmenter()
            except (ImportError, OSError, ValueError):
                pass
        try:
            return RJiebaSegmenter()
        except ImportError:
            pass
    return JiebaSegmenter(user_dict)


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One term of a text: ``normalize(text[start:end]) == token.text``."""

    text: str
    pos: int
    start: int
    end: int
    #: A search-mode sub-word of the precise word at the same position.
    sub: bool = False


@dataclass(frozen=True)
class TermCounts:
    """What the index stores for one field of one post."""

    #: Number of precise words (the field length).
    length: int
    #: Precise word -> its positions, ascending (compact arrays: a long post has millions).
    words: dict[str, array[int]]
    #: Sub-word -> number of occurrences.
    subs: dict[str, int]
    #: Two- and three-character dictionary words that straddle a boundary between precise
    #: words (``其中|国家`` holds ``中国``): with them and the sub-words, such a word is found
    #: literally wherever it occurs, without looking at positions.
    joins: frozenset[str] = frozenset()
    #: Where each piece of the analysis starts: its character offset and the position of its
    #: first word, in pairs (see ``terms``). A long text is stored in these pieces, so that the
    #: place of a word position in it is found by cutting one piece into words.
    pieces: array[int] | None = None
    #: For a long text (``LONG_TEXT``), the ``pair_filter`` of each piece.
    filters: list[bytes] | None = None


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that decides which terms a text gives; stored in the index, checked on update."""

    version: int
    segmenter: str
    table: dict[int, int]
    user_dict: str | None = None

    @property
    def user_dict_digest(self) -> str | None:
        if not self.user_dict:
            return None
        return hashlib.sha256(self.user_dict.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        return {
            "analysis_version": self.version,
            "segmenter": self.segmenter,
            "normalization": f"NFKC + lower case + OpenCC t2s ({len(self.table)} characters)",
            "user_dict": self.user_dict_digest,
            "user_dict_words": len(
                [ln for ln in (self.user_dict or "").splitlines() if ln.strip()]
            ),
        }


def current_settings(user_dict: str | None = None) -> AnalysisSettings:
    return AnalysisSettings(
        version=ANALYSIS_VERSION,
        segmenter=f"jieba {_jieba_version()} precise/search, HMM",
        table=default_normalizer().table,
        user_dict=user_dict or None,
    )


_VERSION_RE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.M)


@lru_cache(maxsize=1)
def _jieba_version() -> str:
    """``jieba.__version__``, read from its source: importing jieba costs a build 0.1 s before
    its workers start (it imports pkg_resources), and rjieba cuts the words without it."""
    import os
    from importlib.util import find_spec

    spec = find_spec("jieba")
    if (
        spec is not None
        and spec.origin is not None
        and os.path.basename(spec.origin) == ("__init__.py")
    ):
        try:
            with open(spec.origin, encoding="utf-8") as fh:
                found = _VERSION_RE.search(fh.read())
            if found:
                return found[1]
        except (OSError, UnicodeDecodeError):
            pass
    import jieba

    return str(jieba.__version__)


class Analyzer:
    """Turns text into tokens and terms, for the index and for queries alike."""

    def __init__(
        self, settings: AnalysisSettings, *, prefer_fast: bool = True, queries: bool = False
    ):
        """``queries``: the analyzer cuts short texts (queries, snippets), not whole posts
        (see ``QuerySegmenter``)."""
        self.settings = settings
        self.normalize = Normalizer(settings.table)
        self._user_dict = settings.user_dict
        self._prefer_fast = prefer_fast
        self._queries = queries
        self._segmenter: Segmenter | None = None
        self._short_word_set: frozenset[str] | None = None

    @property
    def segmenter(self) -> Segmenter:
        # Loading jieba's dictionary is the slowest step of a cold start; only pay it when a
        # Han run has to be cut.
        if self._segmenter is None:
            self._segmenter = make_segmenter(self._user_dict, self._prefer_fast, self._queries)
        return self._segmenter

    def _units(self, norm: str) -> list[tuple[int, str, list[str] | None]]:
        """The units of a normalised text, in order: (start, text, words), where ``words`` is
        the precise cut of a Han run and None for a single token (another ideograph, or letters
        and digits). The Han runs are cut together, in one call of the segmenter."""
        matches = list(_UNIT_RE.finditer(norm))
        runs = [m[1] for m in matches if m[1]]
        cuts = iter(self.segmenter.cut_many(runs) if runs else ())
        return [(m.start(), m[1], next(cuts)) if m[1] else (m.start(), m[0], None) for m in matches]

    def tokens(self, text: str, *, subwords: bool = True) -> list[Token]:
        """Every token of ``text`` in order: a precise word, then the sub-words inside it."""
        norm = self.normalize(text)
        # The segmenter's own dictionary test: loading the set of short words costs a cold
        # start 0.2 s, and the two agree (a test checks it).
        is_word = self.segmenter.is_word
        out: list[Token] = []
        pos = 0
        for start, unit, cut in self._units(norm):
            if cut is None:
                out.append(Token(unit, pos, start, start + len(unit)))
                pos += 1
                continue
            offset = start
            for word in cut:
                end = offset + len(word)
                out.append(Token(word, pos, offset, end))
                if subwords:
                    for gram_start, gram in _subwords(word, is_word):
                        s = offset + gram_start
                        out.append(Token(gram, pos, s, s + len(gram), sub=True))
                offset = end
                pos += 1
        return out

    def terms(self, text: str, *, piece: int = PIECE_CHARS) -> TermCounts:
        """The index terms of ``text``: precise words with positions, sub-words with counts.

        A long text is analysed in pieces of about ``piece`` characters cut after a line break
        (or a punctuation mark), where no token can run across: the terms are exactly those of
        the whole text, and the memory is that of one piece plus 4 bytes a word.
        """
        positions: dict[str, array[int]] = {}
        joins: set[str] = set()
        short = self._short_words
        count = 0
        tail = ""  # the last two characters of the words so far
        starts = array("Q")
        filters: list[bytes] | None = [] if len(text) >= LONG_TEXT else None
        offset = 0
        for part in _pieces(text, piece):
            starts.extend((offset, count))
            offset += len(part)
            norm = self.normalize(part)
            if filters is not None:
                filters.append(pair_filter(_token_string(norm)))
            words = self._words(norm)
            if not words:
                continue
            local: dict[str, list[int]] = {}
            for i, w in enumerate(words, count):
                p = local.get(w)
                if p is None:
                    local[w] = [i]
                else:
                    p.append(i)
            for w, plist in local.items():
                have = positions.get(w)
                if have is None:
                    positions[w] = array("I", plist)
                else:
                    have.extend(plist)
            flat = tail + "".join(words)
            # Every 2- and 3-character piece that crosses a boundary b starts at b-1 or b-2;
            # the boundary before this part's first word is one too.
            first = len(tail)
            bounds = list(accumulate(map(len, words[:-1]), initial=first))
            if not tail:
                bounds = bounds[1:]
            if bounds:
                grams = {flat[b - 1 : b + 1] for b in bounds}
                grams.update([flat[b - 1 : b + 2] for b in bounds])
                grams.update([flat[b - 2 : b + 1] for b in bounds if b >= 2])
                joins.update(short.intersection(grams))
            tail = flat[-2:]
            count += len(words)
        # jieba's search mode (see _subwords), inlined: this loop runs for every word indexed.
        subs: dict[str, int] = {}
        get = subs.get
        for w, found in positions.items():
            size = len(w)
            if size > 2 and _HAN_RE.match(w):
                n = len(found)
                for k in range(size - 1):
                    gram = w[k : k + 2]
                    if gram in short:
                        subs[gram] = get(gram, 0) + n
                if size > 3:
                    for k in range(size - 2):
                        gram = w[k : k + 3]
                        if gram in short:
                            subs[gram] = get(gram, 0) + n
        return TermCounts(count, positions, subs, frozenset(joins), starts, filters)

    def _words(self, norm: str) -> list[str]:
        """The precise words of a normalised text, in order."""
        # ``_units`` without the starts: this runs for every piece indexed, and findall's tuples
        # cost 30% less than match objects (4% of the whole analysis).
        units = _UNIT_RE.findall(norm)
        runs = [han for han, _, _ in units if han]
        if not runs:
            return [ideo or alnum for _, ideo, alnum in units]
        words: list[str] = []
        cuts = iter(self.segmenter.cut_many(runs))
        for han, ideo, alnum in units:
            if han:
                words += next(cuts)
            else:
                words.append(ideo or alnum)
        return words

    def word_starts(self, norm: str) -> array[int]:
        """Where each precise word of a normalised text starts: the offsets of ``tokens(text,
        subwords=False)``, in position order, without a Token for each word (a snippet of a
        long post cuts a piece of 4K characters this way to place a word position)."""
        out = array("I")
        for start, _, cut in self._units(norm):
            if cut is None:
                out.append(start)
            else:
                out.extend(accumulate(map(len, cut[:-1]), initial=start))
        return out

    def preload(self) -> None:
        """Load the segmenter and its dictionary now (before forking workers that share it)."""
        _ = self.segmenter, self._short_words

    @property
    def _short_words(self) -> frozenset[str]:
        if self._short_word_set is None:
            self._short_word_set = self.segmenter.short_words()
        return self._short_word_set

    def is_word(self, text: str) -> bool:
        """Whether ``text`` (normalised) is a word of the segmenter's dictionary."""
        return self.segmenter.is_word(text)

    def query_words(self, text: str) -> list[str]:
        """The distinct precise-mode words of a query, in order."""
        seen: dict[str, None] = {}
        for tok in self.tokens(text, subwords=False):
            seen.setdefault(tok.text, None)
        return list(seen)

    def token_string(self, text: str) -> str:
        """``text`` as literal matching sees it: normalised, separators dropped, and a BOUNDARY
        between two letter-or-digit tokens (so ``5 G`` does not read as ``5g``)."""
        return _token_string(self.normalize(text))


def _token_string(norm: str) -> str:
    norm = norm.replace(BOUNDARY, " ")
    return _SEPARATOR_RE.sub("", _ALNUM_GAP_RE.sub(BOUNDARY, norm))


def _pieces(text: str, size: int) -> Iterator[str]:
    """``text`` in pieces of at least ``size`` characters, each ending after a line break or,
    when none is near, after a space or punctuation mark (a piece grows until it finds one)."""
    n = len(text)
    start = 0
    while n - start > size:
        end = start + size
        cut = text.find("\n", end, end + size)
        if cut < 0:
            match = _CUT_RE.search(text, end)
            if match is None:
                break
            cut = match.start()
        yield text[start : cut + 1]
        start = cut + 1
    if start < n or not n:
        yield text[start:] if start else text


def _subwords(word: str, is_word: Callable[[str], bool]) -> Iterator[tuple[int, str]]:
    """jieba's search mode: the dictionary 2-grams (then 3-grams) inside a longer word."""
    n = len(word)
    if n > 2:
        for i in range(n - 1):
            gram = word[i : i + 2]
            if is_word(gram):
                yield i, gram
    if n > 3:
        for i in range(n - 2):
            gram = word[i : i + 3]
            if is_word(gram):
                yield i, gram


#: A separator run as it appears in normalised text, where a NUL counts as a space (see
#: ``token_string``, which turns NULs into spaces before it drops separators).
_TEXT_SEPARATOR = rf"(?:[^\w{_OTHER_IDEOGRAPHS}.]|_|(?<![0-9])\.|\.(?![0-9]))+"
_ALNUM_ONE_RE = re.compile(_ALNUM_CHAR)


@lru_cache(maxsize=256)
def literal_pattern(piece: str) -> re.Pattern[str]:
    """A pattern that finds ``piece`` (a token string) in *normalised* text, where its token
    string would find it: separators may stand between its characters, except between two
    letters or digits (they make one token there) and around a ``.`` between digits; a BOUNDARY
    of the piece stands for a separator the text must have."""
    parts: list[str] = []
    prev = ""
    for ch in piece:
        if ch == BOUNDARY:
            parts.append(_TEXT_SEPARATOR)
            prev = ""
            continue
        if prev:
            sticky = (
                ch == "."
                or prev == "."
                or (_ALNUM_ONE_RE.match(prev) is not None and _ALNUM_ONE_RE.match(ch) is not None)
            )
            if not sticky:
                parts.append(f"(?:{_TEXT_SEPARATOR})?")
        parts.append(re.escape(ch))
        prev = ch
    return re.compile("".join(parts))


# --- pair filters ------------------------------------------------------------------------------

#: Bytes of a pair filter: 32768 bits, three of them set for each distinct pair of a piece of
#: about 4K characters (about 2,700 pairs): a pair the piece does not hold passes the filter
#: about 1% of the time.
PAIR_FILTER_BYTES = 4096
_PAIR_BITS = 15
_PAIR_MASK = (1 << _PAIR_BITS) - 1
_BITS = [1 << k for k in range(8)]


def _pairs(token_string: str) -> set[int]:
    """The distinct pairs of adjacent UTF-16 code units of a token string, as 32-bit numbers
    (read in C: the string's UTF-16 bytes as 32-bit words, from offset 0 and from offset 2)."""
    data = token_string.encode("utf-16-le", "surrogatepass")
    n = len(data)
    even, odd = array("I", data[: n - n % 4]), array("I", data[2 : 2 + (n - 2) // 4 * 4])
    if sys.byteorder == "big":
        even.byteswap()
        odd.byteswap()
    return {*even, *odd}


def _pair_bits(pair: int) -> tuple[int, int, int]:
    # A fixed multiplicative hash (Python's own hash of strings changes from run to run).
    h = pair * 0x9E3779B97F4A7C15 >> 20
    return h & _PAIR_MASK, h >> _PAIR_BITS & _PAIR_MASK, h >> 2 * _PAIR_BITS & _PAIR_MASK


def pair_filter(token_string: str) -> bytes:
    """A Bloom filter of the pairs of adjacent characters of a token string (see
    ``Analyzer.token_string``): a literal piece can be in a text only if its own pairs all
    pass the text's filter (``may_hold``). Pairs are those of the text's token string: a
    piece across two texts is in neither."""
    bits = bytearray(PAIR_FILTER_BYTES)
    masks, mask = _BITS, _PAIR_MASK
    for pair in _pairs(token_string):
        h = pair * 0x9E3779B97F4A7C15 >> 20  # _pair_bits, inlined: it runs for every pair
        i, j, k = h & mask, h >> _PAIR_BITS & mask, h >> 2 * _PAIR_BITS & mask
        bits[i >> 3] |= masks[i & 7]
        bits[j >> 3] |= masks[j & 7]
        bits[k >> 3] |= masks[k & 7]
    return bytes(bits)


def pair_probe(token_string: str) -> tuple[tuple[int, int], ...]:
    """What ``may_hold`` tests of a filter for ``token_string``: (byte, bit mask) pairs."""
    out = set()
    for pair in _pairs(token_string):
        for k in _pair_bits(pair):
            out.add((k >> 3, _BITS[k & 7]))
    return tuple(sorted(out))


def may_hold(filter_bytes: bytes | memoryview, probe: tuple[tuple[int, int], ...]) -> bool:
    """Whether a text whose ``pair_filter`` is ``filter_bytes`` may hold the token string of
    ``probe`` (``pair_probe``; always true for a string of one character)."""
    return all(filter_bytes[b] & m for b, m in probe)
