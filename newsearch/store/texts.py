"""Long texts: the text of a long post stored in separately compressed pieces, with a table of
where each piece starts (character offset, word position) and a filter of the character pairs
of each piece, so that a snippet reads, decompresses and cuts into words only the piece around
its window instead of the whole post.

A post whose text has at least ``LONG_TEXT`` characters keeps, in its stored fields, the
length of its text in place of the text; the text itself goes to the segment's ``.texts``
file, one of the files of the segment's compound file (so it is covered by the segment's
checksums and verified as it is read). The pieces are those the analysis cut the text into
(``TermCounts.pieces``): no word runs across two, so the words of a piece, cut again, have
exactly the positions the index holds; the filters are the analysis' too
(``TermCounts.filters``, ``analysis.pair_filter``).

The file: for each long post, its pieces (zlib, UTF-8), their filters and then its table; at
the end, a directory of the posts (docnum, where the post starts, where its table is) and a
trailer (where the directory is, how many posts, a magic number). Numbers are little-endian.
Opening an index reads none of it.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from ..analysis import LONG_TEXT, PAIR_FILTER_BYTES, TermCounts
from .checksums import damaged

__all__ = ["LONG_TEXT", "LongText", "LongTextWriter", "LongTexts", "read_long_texts"]

TEXTS_EXT = ".texts"
#: zlib level of the pieces (as the stored fields).
COMPRESSION = 1
_MAGIC = b"NSTEXTS1"
#: Trailer: directory offset, number of posts, magic.
_TRAILER = struct.Struct("<QQ8s")
#: A table's header: pieces, characters, bytes of a filter.
_TABLE = struct.Struct("<QQQ")
#: A directory entry: docnum, start of the post's pieces, start and length of its table.
_ENTRY = 4


def _u64(values: list[int]) -> bytes:
    a = array("Q", values)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def _from_u64(data: bytes) -> array[int]:
    a = array("Q")
    a.frombytes(data)
    if sys.byteorder == "big":
        a.byteswap()
    return a


# --- writing -----------------------------------------------------------------------------------


class LongTextWriter:
    """Writes the long texts of one new segment to its ``.texts`` file, post by post."""

    def __init__(self, storage: Any, segment: Any):
        self._storage = storage
        self._segment = segment
        self._file: Any = None
        self._entries: list[int] = []

    def stored_value(self, docnum: int, text: Any, counts: TermCounts) -> Any:
        """What the stored fields keep as the text of post ``docnum``: the text itself, or,
        for a long text analysed in pieces, its length (the text goes to the file)."""
        pieces, filters = counts.pieces, counts.filters
        if not isinstance(text, str) or len(text) < LONG_TEXT or not pieces or not filters:
            return text
        starts = [*pieces[0::2], len(text)]
        blobs = (
            zlib.compress(text[a:b].encode("utf-8", "surrogatepass"), COMPRESSION)
            for a, b in zip(starts, starts[1:], strict=False)
        )
        self._write(docnum, blobs, b"".join(filters), starts[:-1], list(pieces[1::2]), len(text))
        return len(text)

    def copy(self, view: Any, local: int, docnum: int) -> None:
        """Copy the long text of post ``local`` of another segment (a ``SegmentView``) as it
        is stored, without decompressing it (a merge)."""
        source = view.long_texts()
        text = source.get(local) if source is not None else None
        if text is None:
            raise damaged(
                view.files.folder, view.files.name, "stored posts: a long text is missing"
            )
        blobs = (text.blob(i) for i in range(text.count))
        self._write(
            docnum, blobs, text.filters(), list(text.char_starts), list(text.positions), text.chars
        )

    def _write(
        self,
        docnum: int,
        blobs: Iterable[bytes],
        filters: bytes,
        char_starts: list[int],
        positions: list[int],
        chars: int,
    ) -> None:
        if self._file is None:
            self._file = self._segment.create_file(self._storage, TEXTS_EXT)
        out = self._file
        start = out.tell()
        ends: list[int] = []
        size = 0
        for blob in blobs:
            out.write(blob)
            size += len(blob)
            ends.append(size)
        out.write(filters)
        table = _TABLE.pack(len(ends), chars, PAIR_FILTER_BYTES) + _u64(ends)
        table += _u64(char_starts) + _u64(positions)
        self._entries += [docnum, start, start + size + len(filters), len(table)]
        out.write(table)

    def finish(self) -> None:
        """Write the directory and the trailer, and close the file (if there is one)."""
        if self._file is None:
            return
        out, self._file = self._file, None
        where = out.tell()
        out.write(_u64(self._entries))
        out.write(_TRAILER.pack(where, len(self._entries) // _ENTRY, _MAGIC))
        out.close()

    def abandon(self) -> None:
        """Stop writing (a failed batch or merge); the segment's cancel removes the file."""
        out, self._file = self._file, None
        if out is not None:
            out.file.abandon()


# --- reading -----------------------------------------------------------------------------------


class LongText:
    """One long post's text: its pieces, where each starts, read and decompressed one by one."""

    def __init__(self, texts: LongTexts, start: int, table_at: int, table: bytes):
        self._texts = texts
        count, chars, filter_bytes = _TABLE.unpack_from(table)
        if len(table) != _TABLE.size + 24 * count or count == 0:
            raise texts.damaged("a table of the wrong size")
        body = _from_u64(table[_TABLE.size :])
        ends, starts, positions = body[:count], body[count : 2 * count], body[2 * count :]
        if (
            starts[0] != 0
            or any(a > b for a, b in zip(ends, ends[1:], strict=False))
            or any(a >= b for a, b in zip(starts, starts[1:], strict=False))
            or starts[-1] >= chars
            or positions[0] != 0
            or any(a > b for a, b in zip(positions, positions[1:], strict=False))
            or filter_bytes != PAIR_FILTER_BYTES
            or start + ends[-1] + count * filter_bytes != table_at
        ):
            raise texts.damaged("a table that does not fit its text")
        self.count = count
        #: Number of characters of the text.
        self.chars = chars
        #: Character offset and first word position of each piece.
        self.char_starts = starts
        self.positions = positions
        self._start = start
        self._ends = ends
        self._filters: bytes | None = None

    def blob(self, i: int) -> bytes:
        lo = self._ends[i - 1] if i else 0
        return self._texts.read(self._start + lo, self._ends[i] - lo)

    def filters(self) -> bytes:
        """The pair filters of the pieces, one after the other (``analysis.pair_filter``)."""
        if self._filters is None:
            at = self._start + self._ends[-1]
            self._filters = self._texts.read(at, self.count * PAIR_FILTER_BYTES)
        return self._filters

    def filter(self, i: int) -> memoryview:
        return memoryview(self.filters())[i * PAIR_FILTER_BYTES : (i + 1) * PAIR_FILTER_BYTES]

    def piece(self, i: int) -> str:
        """The text of piece ``i``."""
        try:
            text = zlib.decompress(self.blob(i)).decode("utf-8", "surrogatepass")
        except (zlib.error, UnicodeDecodeError) as exc:
            raise self._texts.damaged(f"a piece that does not decode ({exc})") from exc
        lo, hi = self.piece_span(i)
        if len(text) != hi - lo:
            raise self._texts.damaged("a piece of the wrong length")
        return text

    def text(self) -> str:
        """The whole text."""
        return "".join(self.piece(i) for i in range(self.count))

    def piece_at_position(self, pos: int) -> int:
        """The piece that holds word position ``pos``."""
        # A piece without words has the position of the next one: the last of equal ones.
        return max(0, bisect_right(self.positions, pos) - 1)

    def piece_at_char(self, offset: int) -> int:
        return max(0, bisect_right(self.char_starts, offset) - 1)

    def piece_span(self, i: int) -> tuple[int, int]:
        """Character offsets of piece ``i`` in the text."""
        end = self.char_starts[i + 1] if i + 1 < self.count else self.chars
        return self.char_starts[i], end


class LongTexts:
    """The ``.texts`` file of one segment: its directory, read once, and the posts in it."""

    def __init__(self, files: Any, name: str):
        self._files = files
        self.folder = files.folder
        self.name = name
        self._length = files.file_length(name)
        if self._length < _TRAILER.size:
            raise self.damaged("too short")
        where, count, magic = _TRAILER.unpack(
            self.read(self._length - _TRAILER.size, _TRAILER.size)
        )
        if magic != _MAGIC or where + 8 * _ENTRY * count + _TRAILER.size != self._length:
            raise self.damaged("its trailer does not match its size")
        entries = _from_u64(self.read(where, 8 * _ENTRY * count))
        self._posts: dict[int, tuple[int, int, int]] = {}
        self._tables: dict[int, LongText] = {}
        for k in range(0, len(entries), _ENTRY):
            docnum, start, table, size = entries[k : k + _ENTRY]
            if not (start <= table and table + size <= where):
                raise self.damaged("a directory entry outside the file")
            self._posts[docnum] = (start, table, size)

    def damaged(self, what: str) -> Exception:
        return damaged(self.folder, self._files.name, f"long texts: {what}")

    def read(self, offset: int, length: int) -> bytes:
        data: bytes = self._files.read(self.name, offset, length, "long texts")
        return data

    def docnums(self) -> list[int]:
        return sorted(self._posts)

    def get(self, local: int) -> LongText | None:
        """The long text of the segment's post ``local``, or None if its text is not long."""
        text = self._tables.get(local)
        if text is not None:
            return text
        entry = self._posts.get(local)
        if entry is None:
            return None
        start, table, size = entry
        text = LongText(self, start, table, self.read(table, size))
        if len(self._tables) >= 64:  # a table is 24 bytes a piece: keep the recent ones
            self._tables.clear()
        self._tables[local] = text
        return text


def read_long_texts(files: Any, segment: Any) -> LongTexts | None:
    """The long texts of a segment, or None if it has none."""
    name = segment.make_filename(TEXTS_EXT)
    if not files.file_exists(name):
        return None
    return LongTexts(files, name)


def is_long_marker(value: Any) -> bool:
    """Whether a stored text is the length of a long text (the text is in the ``.texts`` file)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_long_texts(view: Any, lengths: dict[int, int]) -> list[str]:
    """What is wrong with the long texts of a segment (``newsearch check``): each one decoded
    whole; ``lengths`` are the posts whose stored fields say their text is long, and its
    length."""
    from ..errors import NewsearchError

    try:
        texts = view.long_texts()
    except NewsearchError as exc:
        return [_what(exc)]
    have = set(texts.docnums()) if texts is not None else set()
    problems = []
    missing = sorted(set(lengths) - have)
    if missing:
        problems.append(f"{len(missing)} long posts without their text (post {missing[0]}, ...)")
    extra = sorted(have - set(lengths))
    if extra:
        problems.append(f"{len(extra)} texts of posts that are not long (post {extra[0]}, ...)")
    for d in sorted(have & set(lengths)):
        try:
            assert texts is not None
            text = texts.get(d)
            assert text is not None
            size = sum(len(text.piece(i)) for i in range(text.count))
        except NewsearchError as exc:
            problems.append(f"post {d}: {_what(exc)}")
            continue
        if size != lengths[d] or text.chars != lengths[d]:
            problems.append(f"post {d}: {size} characters, its stored fields say {lengths[d]}")
    return problems


def _what(exc: Exception) -> str:
    """The part of a damage error that says what is wrong."""
    message = str(exc)
    start = message.find("long texts: ")
    if start >= 0:
        message = message[start + len("long texts: ") :]
    end = message.find("); see the full report")
    return message[:end] if end >= 0 else message
