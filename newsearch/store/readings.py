"""The readings file of a segment: its words, how many of its posts hold each, their pinyin, the
pinyin of their characters, and its posts' titles.

What pinyin search, did-you-mean and suggestions need from the index, so that a search never
computes a reading (pypinyin is imported by the index-time code only):

- every term of the word and sub-word fields, with the number of the segment's posts that hold it
  as a word of its own (title or text), or, for a term found only inside longer words, as such a
  part;
- for each Han word, its toneless reading (pypinyin, from the whole word, so that polyphonic
  characters read as in context) and its initials; reading → words and initials → words are
  built from these when the file is read;
- for each Han character of those words, every reading it has (homophones for did-you-mean);
- each post's title, by document number (completions of titles).

The file is one more part of the segment's compound file (``.rdg``), written through the store's
``Output`` like every other part, so it is covered by the segment's checksums and verified by
``newsearch check``. Merges carry the readings of the merged segments (nothing is computed
again) and count the posts anew.
"""

from __future__ import annotations

import json
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The name of the part, after the segment's name.
READINGS_EXT = ".rdg"
#: The version of the file's layout; a file of another version is not read.
VERSION = 1
#: Fields whose terms the file lists (the precise words and the sub-words of title and text).
WORD_FIELDS = ("title", "text")
SUB_FIELDS = ("title_sub", "text_sub")
#: field -> the field whose postings a post must not be counted twice against.
PAIRED = {"text": "title", "text_sub": "title_sub"}


@dataclass(frozen=True)
class SegmentReadings:
    """One segment's readings file, decoded."""

    words: Sequence[str]
    counts: Sequence[int]
    #: Per word: its toneless reading and initials ("" for a word that is not Han).
    readings: Sequence[str]
    initials: Sequence[str]
    #: Han character -> its readings.
    chars: dict[str, tuple[str, ...]]
    #: Titles by the segment's own document numbers.
    title_docs: Sequence[int]
    titles: Sequence[str]

    def known(self) -> dict[str, tuple[str, str]]:
        """Han word -> (reading, initials): what a merge carries over."""
        return {
            w: (r, i) for w, r, i in zip(self.words, self.readings, self.initials, strict=True) if r
        }


def _contains(ids: list[int], d: int) -> bool:
    i = bisect_left(ids, d)
    return i < len(ids) and ids[i] == d


@dataclass(frozen=True)
class PartialCounts:
    """Post counts of some of a segment's terms (see ``ReadingsWriter.partial_counts``)."""

    words: dict[str, int]
    subs: dict[str, int]
    #: Paired field (title, title_sub) -> its terms whose lists were counted with these.
    paired: dict[str, list[str]]


class ReadingsWriter:
    """Collects what a segment's readings file holds while the segment is written: the titles as
    documents are added (``add_title``), the post counts as posting lists are written
    (``add_list``, fields in the segment's order: title before text), then ``write``."""

    def __init__(self) -> None:
        self.titles: dict[int, str] = {}
        #: Word and sub-word counts per term: posts that hold it.
        self._words: dict[str, int] = {}
        self._subs: dict[str, int] = {}
        #: The title's (and title sub-words') postings, until the text's are counted against them.
        self._first: dict[str, dict[str, array[int]]] = {"title": {}, "title_sub": {}}
        self._known: dict[str, tuple[str, str]] = {}
        self._known_chars: dict[str, tuple[str, ...]] = {}

    def add_title(self, doc: int, title: Any) -> None:
        if title:
            self.titles[doc] = str(title)

    def add_list(self, fname: str, term: str, ids: list[int]) -> None:
        """One posting list of a word or sub-word field (local docnums, ascending)."""
        counts = self._words if fname in WORD_FIELDS else self._subs
        first = self._first.get(fname)
        if first is not None:  # title, title_sub: counted when the text's lists come
            first[term] = array("I", ids)
            return
        earlier = self._first[PAIRED[fname]].pop(term, None)
        n = len(ids)
        if earlier is not None:
            n += sum(1 for d in earlier if not _contains(ids, d))
        counts[term] = counts.get(term, 0) + n

    def partial_counts(self, before: dict[str, set[str]]) -> PartialCounts:
        """What this writer counted for some fields' terms (``add_list`` of the paired fields
        first: ``before`` is the terms each of those had), for ``take`` in another writer: a
        merge counts the posts of its last terms in another process."""
        paired = {
            fname: sorted(terms - self._first[fname].keys()) for fname, terms in before.items()
        }
        return PartialCounts(dict(self._words), dict(self._subs), paired)

    def take(self, part: PartialCounts) -> None:
        """Add the counts of ``partial_counts``: its terms are counted, their title lists too."""
        for fname, terms in part.paired.items():
            first = self._first[fname]
            for term in terms:
                first.pop(term, None)
        for mine, theirs in ((self._words, part.words), (self._subs, part.subs)):
            for term, n in theirs.items():
                mine[term] = mine.get(term, 0) + n

    def carry(self, sources: list[SegmentReadings | None]) -> None:
        """Take the readings of merged segments, so that a merge computes none again."""
        for src in sources:
            if src is None:
                continue
            self._known.update(src.known())
            self._known_chars.update(src.chars)

    def _finish_counts(self) -> dict[str, int]:
        """Every term's count, in one dict (the writer's own, emptied: see ``encode``)."""
        for fname, first in self._first.items():
            counts = self._words if fname in WORD_FIELDS else self._subs
            for term, ids in first.items():  # terms of the title only
                counts[term] = counts.get(term, 0) + len(ids)
            first.clear()
        out = self._subs
        out.update(self._words)  # a word of its own counts as such, not as a part
        self._subs, self._words = {}, {}
        return out

    def encode(self) -> bytes:
        """The file's bytes (readings of new words computed here, with pypinyin); once: what
        the writer collected goes as soon as it is in the file's lists, since a segment's
        readings are written at the end of its writing, when its process holds most."""
        from .. import pinyin

        counts = self._finish_counts()
        words = sorted(counts)
        count_list = [counts[w] for w in words]
        del counts
        han = [w for w in words if pinyin.is_han_word(w)]
        known = {w: self._known[w] for w in han if w in self._known}
        self._known = {}
        missing = [w for w in han if w not in known]
        del han
        if missing:
            known.update(pinyin.word_readings(missing))
        del missing
        chars = sorted({c for w in known for c in w})
        char_known = {c: self._known_chars[c] for c in chars if c in self._known_chars}
        self._known_chars = {}
        lacking = [c for c in chars if c not in char_known]
        if lacking:
            char_known.update(pinyin.char_readings(lacking))
        docs = sorted(self.titles)
        titles = [self.titles[d] for d in docs]
        self.titles = {}
        readings = [known[w][0] if w in known else "" for w in words]
        initials = [known[w][1] if w in known else "" for w in words]
        del known
        data = {
            "version": VERSION,
            "words": words,
            "counts": count_list,
            "readings": readings,
            "initials": initials,
            "chars": [c for c in chars if c in char_known],
            "char_readings": [" ".join(char_known[c]) for c in chars if c in char_known],
            "title_docs": docs,
            "titles": titles,
        }
        del words, count_list, readings, initials, chars, char_known, docs, titles
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        del data
        # Terms may hold lone surrogates (from text that was not UTF-8), as the term table does.
        return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)

    def write(self, segment: Any, storage: Any) -> None:
        """Write the file as a part of ``segment`` (before the segment is assembled)."""
        data = self.encode()
        with segment.create_file(storage, READINGS_EXT) as fh:
            fh.write(data)


def decode(data: bytes) -> SegmentReadings:
    """A readings file's bytes, decoded (ValueError if they are not one)."""
    raw = json.loads(zlib.decompress(data).decode("utf-8", "surrogatepass"))
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a readings file of this version")
    words, counts = raw["words"], raw["counts"]
    readings, initials = raw["readings"], raw["initials"]
    chars, char_readings = raw["chars"], raw["char_readings"]
    docs, titles = raw["title_docs"], raw["titles"]
    if not (len(words) == len(counts) == len(readings) == len(initials)):
        raise ValueError("its word lists differ in length")
    if len(chars) != len(char_readings) or len(docs) != len(titles):
        raise ValueError("its character or title lists differ in length")
    # Tuples: a snapshot keeps these for its life, and the garbage collector stops walking a
    # tuple of strings or numbers once it has seen one, never a list.
    return SegmentReadings(
        tuple(words),
        tuple(counts),
        tuple(readings),
        tuple(initials),
        {c: tuple(r.split()) for c, r in zip(chars, char_readings, strict=True)},
        tuple(docs),
        tuple(titles),
    )


def read(view: Any) -> SegmentReadings | None:
    """The readings file of one segment of a snapshot (``SegmentView``), or None if it has none."""
    name = view.segment.make_filename(READINGS_EXT)
    if not view.files.file_exists(name):
        return None
    with view.files.open_file(name) as fh:
        data = fh.read()
    try:
        return decode(data)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:  # UnicodeError is a ValueError
        from .checksums import damaged

        # Its bytes passed their checksums: the file was written wrong, or by something else.
        raise damaged(view.files.folder, view.files.name, f"readings: {exc}") from exc


def check(view: Any, terms: dict[str, set[str]]) -> list[str]:
    """What is wrong with a segment's readings file, given the terms of its word and sub-word
    fields (``newsearch check``)."""
    name = view.segment.make_filename(READINGS_EXT)
    if not view.files.file_exists(name):
        return ["the segment has no readings file"]
    with view.files.open_file(name) as fh:
        data = fh.read()
    try:
        got = decode(data)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:  # UnicodeError is a ValueError
        return [f"cannot be decoded ({exc})"]
    problems = []
    expected = set().union(*terms.values()) if terms else set()
    if set(got.words) != expected or len(got.words) != len(expected):
        problems.append("its words are not the terms of the word fields")
    if any(c < 1 or c > view.count for c in got.counts):
        problems.append("a word held by no post, or by more posts than the segment has")
    if any(d < 0 or d >= view.count for d in got.title_docs):
        problems.append("a title of a document the segment does not have")
    return problems
