"""Pinyin: reading a query keyword as pinyin (no library), and the readings of indexed words.

Two sides, kept apart so that a search never imports pypinyin:

- **Query side** (``read_keyword``, ``prefix_of``): is a Latin keyword pinyin — full syllables
  (``gongxinbu``, ``gōngxìnbù``, ``gong1xin4bu4``, ``xi'an``) or initials (``gxb``) — and what
  its toneless letters are. It needs only the table of syllables below.
- **Index side** (``word_readings``, ``char_readings``): the toneless reading of each indexed
  word, computed by pypinyin from the whole word so that polyphonic characters take their
  reading in context (银行 = yinhang, 会计 = kuaiji), its initials, and every reading of each
  character (for homophones). Written into each segment (``store/readings.py``).

Readings are toneless, without spaces, with ``v`` for ü (``lv`` for 绿): what people type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: Every toneless syllable of Mandarin as pypinyin writes it (``v`` for ü), except the
#: interjections that have no vowel (m, n, ng, hm, hng): with them almost any string of
#: consonants would read as pinyin.
SYLLABLES = frozenset(
    """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai can
    cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai
    chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den
    deng di dia dian diao die ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang
    fei fen feng fiao fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan
    guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui
    hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke
    kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei len leng
    li lia lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man mang
    mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen
    neng ni nian niang niao nie nin ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan
    pang pao pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin
    qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo
    sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou shu
    shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao
    te tei teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng
    wo wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi
    yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang
    zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong
    zou zu zuan zui zun zuo
    """.split()
)
_LONGEST = max(map(len, SYLLABLES))
#: Every proper prefix of a syllable (``x``, ``zh``, ``gon``): how a syllable being typed ends.
_PARTIAL = frozenset(s[:i] for s in SYLLABLES for i in range(1, len(s)))
#: Letters a syllable can start with: initials are made of these (no i, u or v).
INITIAL_LETTERS = frozenset(s[0] for s in SYLLABLES)
#: Initials of this many letters at most are read as the first letters of a word's syllables.
MAX_INITIALS = 6
#: Syllables that start with a vowel are few (安, 爱, 欧, 恩 ...): initials with more vowels than
#: this are a Latin word (``hello``), not initials.
_VOWELS = frozenset("aoe")
#: A keyword of more letters than this is not read as pinyin (no word reads that long).
MAX_LETTERS = 48

_HAN_WORD = re.compile("^[\u4e00-\u9fd5]+$")
#: What may be in a keyword typed as pinyin: letters (with tone marks), tone numbers after
#: syllables, apostrophes between syllables, ü written as v, ü or u:.
_PINYIN_CHARS = re.compile(r"^[a-zü:'’0-5]+$")


def _strip_tone(ch: str) -> tuple[str, bool]:
    """A letter without its tone mark (ā → a, ǚ → ü), and whether it had one."""
    d = unicodedata.normalize("NFD", ch)
    if len(d) == 1 or not d[0].isascii():
        return ch, False
    marks = d[1:]
    if d[0] in "uU" and "\u0308" in marks:
        return "ü", marks != "\u0308"
    return d[0], True


@dataclass(frozen=True)
class PinyinKeyword:
    """A Latin keyword read as pinyin: its toneless letters, and how they read."""

    letters: str
    #: The letters split into whole syllables (one way of splitting them), if they can be.
    syllables: tuple[str, ...] = ()
    #: The letters are the initials of a word's syllables (``gxb``: 工信部), not syllables.
    initials: bool = False

    @property
    def full(self) -> bool:
        return bool(self.syllables)


def _letters(text: str) -> tuple[list[str], bool] | None:
    """The toneless letters of ``text`` in chunks (split at apostrophes and tone numbers, which
    only stand between syllables), and whether it carried tones; None if it is not letters."""
    text = unicodedata.normalize("NFC", text.strip().lower())
    if not text or len(text) > MAX_LETTERS * 2:
        return None
    out: list[str] = []
    toned = False
    for ch in text:
        base, marked = _strip_tone(ch)
        toned = toned or marked
        out.append(base)
    flat = "".join(out).replace("u:", "ü").replace("ü", "v").replace("’", "'")
    if not _PINYIN_CHARS.match(flat) or not any(c.isalpha() for c in flat):
        return None
    if flat[0].isdigit() or ":" in flat:
        return None
    if any(c.isdigit() for c in flat):
        toned = True
    chunks = [c for c in re.split(r"[0-5']+", flat) if c]
    if not chunks or sum(map(len, chunks)) > MAX_LETTERS:
        return None
    return chunks, toned


def split_syllables(letters: str) -> tuple[str, ...] | None:
    """One way to split ``letters`` into whole syllables (fewest syllables), or None."""
    n = len(letters)
    # best[i]: the fewest syllables that make letters[:i], with the last one's start.
    best: list[tuple[int, int] | None] = [None] * (n + 1)
    best[0] = (0, 0)
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 1, min(n, i + _LONGEST) + 1):
            if letters[i:j] in SYLLABLES:
                cand = (here[0] + 1, i)
                if best[j] is None or cand[0] < best[j][0]:  # type: ignore[index]
                    best[j] = cand
    if best[n] is None:
        return None
    out: list[str] = []
    j = n
    while j > 0:
        step = best[j]
        assert step is not None
        out.append(letters[step[1] : j])
        j = step[1]
    return tuple(reversed(out))


def _initials(letters: str) -> bool:
    return (
        len(letters) <= MAX_INITIALS
        and all(c in INITIAL_LETTERS for c in letters)
        and sum(c in _VOWELS for c in letters) <= 1
    )


def read_keyword(text: str) -> PinyinKeyword | None:
    """``text`` as pinyin (full syllables or initials), or None when it is not pinyin.

    Full: every chunk between apostrophes and tone numbers splits into syllables; tone marks and
    numbers are dropped. Initials: 2 to MAX_INITIALS letters, each a letter a syllable can start
    with, at most one of them a vowel, and not full pinyin themselves (``an`` is a syllable, not
    the initials of 阿娜).
    """
    got = _letters(text)
    if got is None:
        return None
    chunks, toned = got
    parts: list[str] = []
    for chunk in chunks:
        syl = split_syllables(chunk)
        if syl is None:
            parts = []
            break
        parts.extend(syl)
    letters = "".join(chunks)
    if parts:
        return PinyinKeyword(letters, tuple(parts))
    if not toned and len(chunks) == 1 and len(letters) >= 2 and _initials(letters):
        return PinyinKeyword(letters, (), initials=True)
    return None


def prefix_of(text: str) -> tuple[str, bool] | None:
    """``text`` as the start of pinyin being typed: (letters, initials_too).

    The letters are whole syllables followed by a syllable being typed (``gongx``: gong + x),
    so that readings starting with them complete it; ``initials_too`` when the letters may also
    be the first initials of a word (``gx``). None when ``text`` cannot start any pinyin.
    """
    got = _letters(text)
    if got is None:
        return None
    chunks, toned = got
    letters = "".join(chunks)
    whole = all(split_syllables(c) is not None for c in chunks[:-1])
    last = chunks[-1]
    ok = whole and (split_syllables(last) is not None or _ends_partial(last))
    initials = not toned and len(chunks) == 1 and _initials(letters)
    if not ok and not initials:
        return None
    return letters, initials


def _ends_partial(letters: str) -> bool:
    """Whole syllables, then the start of one."""
    for cut in range(len(letters) - 1, max(-1, len(letters) - _LONGEST) - 1, -1):
        if letters[cut:] in _PARTIAL and (cut == 0 or split_syllables(letters[:cut])):
            return True
    return False


def is_han_word(word: str) -> bool:
    return _HAN_WORD.match(word) is not None


# --- the index side: pypinyin ------------------------------------------------------------------

#: Readings already computed in this process (a build's worker writes several segments that
#: share most of their words). Bounded: it starts afresh past this many words (about 27 MB a
#: 100,000 words; a worker of a large build would otherwise grow by that much a segment).
_CACHE_LIMIT = 150_000
_word_cache: dict[str, tuple[str, str]] = {}
_char_cache: dict[str, tuple[str, ...]] = {}


def preload() -> None:
    """Import pypinyin and its dictionaries now (before a build forks workers that share them)."""
    import pypinyin  # noqa: F401


def word_readings(words: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Han word → (toneless reading, initials), from pypinyin's phrase and character data.

    Each word is read whole, so that pypinyin's phrase dictionary chooses the reading of a
    polyphonic character in context (see _reader). A word with a character pypinyin has no
    reading for is left out.
    """
    out: dict[str, tuple[str, str]] = {}
    todo = []
    for w in words:
        hit = _word_cache.get(w)
        if hit is not None:
            out[w] = hit
        elif is_han_word(w):
            todo.append(w)
    if not todo:
        return out
    read = _reader()
    for w in todo:
        syllables = read(w)
        if syllables is None or len(syllables) != len(w):
            continue
        reading = "".join(syllables)
        if reading.isascii() and reading.isalpha():
            value = (reading, "".join(x[0] for x in syllables))
            out[w] = value
            if len(_word_cache) >= _CACHE_LIMIT:
                _word_cache.clear()
            _word_cache[w] = value
    return out


def _reader() -> Callable[[str], list[str] | None]:
    """word -> its toneless syllables, as ``pypinyin.lazy_pinyin(word)`` gives them.

    lazy_pinyin cuts a word into the phrases of its dictionary (maximum matching), reads each
    phrase as the dictionary says and each other character by its first reading, then converts
    the tones, one syllable at a time. Doing the same from its tables, with the tone removal
    cached per syllable, is three times faster, and a build reads every word of every segment;
    a test checks that the readings are lazy_pinyin's. With another layout of pypinyin's tables,
    lazy_pinyin itself is called.
    """
    try:
        from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
        from pypinyin.seg.mmseg import seg
    except ImportError:
        return _lazy
    cut = seg.cut
    plain: dict[str, str] = {}

    def toneless(syllable: str) -> str:
        got = plain.get(syllable)
        if got is None:
            got = plain[syllable] = _toneless(syllable)
        return got

    def read(word: str) -> list[str] | None:
        phrase = PHRASES_DICT.get(word)
        if phrase is not None and len(phrase) == len(word):
            return [toneless(p[0]) for p in phrase]
        out: list[str] = []
        for part in cut(word):
            if len(part) > 1:
                phrase = PHRASES_DICT.get(part)
                if phrase is not None and len(phrase) == len(part):
                    out.extend(toneless(p[0]) for p in phrase)
                    continue
            for c in part:
                readings = PINYIN_DICT.get(ord(c))
                if readings is None:
                    return None
                out.append(toneless(readings.split(",")[0]))
        return out

    return read


def _lazy(word: str) -> list[str] | None:
    from pypinyin import lazy_pinyin

    return list(lazy_pinyin(word, errors=_as_is))


def _toneless(syllable: str) -> str:
    """A syllable with tone marks without them, ü as v (pypinyin's Style.NORMAL)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", syllable):
        if unicodedata.combining(ch):
            if ch == "\u0308" and out:
                out[-1] = "v"
            continue
        out.append(ch)
    return "".join(out).replace("ü", "v")


def _as_is(text: str) -> Any:
    """pypinyin's errors callback: text without a reading stays, one item per character."""
    return list(text)


def char_readings(chars: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Han character → every toneless reading pypinyin knows for it (for homophones)."""
    out: dict[str, tuple[str, ...]] = {}
    todo = []
    for c in chars:
        hit = _char_cache.get(c)
        if hit is not None:
            out[c] = hit
        else:
            todo.append(c)
    if not todo:
        return out
    from pypinyin import Style, pinyin

    for c in todo:
        got = (
            pinyin(c, style=Style.NORMAL, heteronym=True, errors="ignore") if is_han_word(c) else []
        )
        readings = tuple(
            dict.fromkeys(r for r in (got[0] if got else ()) if r.isascii() and r.isalpha())
        )
        if readings:
            out[c] = readings
            _char_cache[c] = readings
    return out


__all__ = [
    "INITIAL_LETTERS",
    "SYLLABLES",
    "PinyinKeyword",
    "char_readings",
    "prefix_of",
    "read_keyword",
    "split_syllables",
    "word_readings",
]
