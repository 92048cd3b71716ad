"""Reading an index: one commit as a ``Snapshot`` of segments, read lazily from the mapped
segment files, and caches for repeated queries.

Opening a commit reads its table of contents and, per segment, the footer and the directory of
its compound file: nothing whose size grows with the number of posts. Everything else is read
when a query needs it, from the mapped bytes, each chunk checked (``checksums``) before it is
decoded: a term's entry in the term table (a hash lookup), its posting blocks, one post's
stored fields or column value, a field's lengths (one byte a post), a vocabulary searched in
place for the terms that contain, start or end with a piece.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import struct
import sys
import threading
import time
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, TypeVar, cast

from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.util.numeric import byte_to_length

from ..errors import NewsearchError
from ..schema import FileState, IndexSettings, NewsearchSchema, decode_state
from .checksums import ChunkedFile, damaged, file_record
from .compound import directory_of
from .folder import storage_for
from .terms import TermTable
from .texts import TEXTS_EXT, LongText, LongTexts, is_long_marker, read_long_texts
from .toc import latest_generation_in, read_commit
from .writer import INFO_EXT, REVERSED_VOCAB_EXT, SCORABLE, VOCAB_EXT

T = TypeVar("T")

_INT = struct.Struct("!i")
_TERMINFO = struct.Struct("!BfIBBfII")
_EXTENT = struct.Struct("!qi")
_LENGTHS = [byte_to_length(b) for b in range(256)]
_USHORT = struct.Struct("!H")
_BIG_ENDIAN = sys.byteorder == "big"

#: A term's postings in one segment: docnums, weights and, when asked for, values.
RawPostings = tuple[list[int], list[float], "list[bytes] | None"]


@dataclass
class Postings:
    """One term's postings over the whole index: global docnums, weights, optional values.

    Arrays and a tuple rather than lists: the snapshot caches millions of postings, and the
    cyclic garbage collector walks every item of a list on each full pass (about 0.2 s at
    144,000 posts), never an array's and, once it has seen it hold only bytes, not the tuple's.
    """

    docs: array[int]
    weights: array[float]
    values: tuple[bytes, ...] | None = None

    def __len__(self) -> int:
        return len(self.docs)


EMPTY = Postings(array("i"), array("d"), None)


def describe_part(name: str) -> str:
    """What a file inside a segment holds, in words (for error messages and reports)."""
    ext = name.partition(".")[2]
    if ext == "trm":
        return "term table"
    if ext == "pst":
        return "postings"
    if ext.endswith(VOCAB_EXT):
        return f"vocabulary of {ext[: -len(VOCAB_EXT)]}"
    if ext.endswith(REVERSED_VOCAB_EXT):
        return f"reversed vocabulary of {ext[: -len(REVERSED_VOCAB_EXT)]}"
    if ext == INFO_EXT[1:]:
        return "segment statistics"
    if ext == "rdg":
        return "readings"
    if ext == "_stored.col":
        return "stored posts"
    if "." + ext == TEXTS_EXT:
        return "long texts"
    if ext.startswith("_") and ext.endswith("_len.col"):
        return f"lengths of {ext[1 : -len('_len.col')]}"
    if ext.endswith(".col"):
        return f"column {ext[: -len('.col')]}"
    return name


@dataclass(frozen=True)
class TermInfo:
    """A term's entry in a segment's term table (Whoosh's ``W3TermInfo``), decoded lazily:
    its statistics, and where its postings are (or the postings themselves, for short lists)."""

    df: int
    weight: float
    minlength: int  # bytes, as stored
    maxlength: int
    maxweight: float
    minid: int
    maxid: int
    offset: int = -1
    length: int = 0
    inlined: bytes = b""

    @classmethod
    def parse(cls, value: bytes | memoryview) -> TermInfo:
        flags, weight, df, minl, maxl, maxw, minid, maxid = _TERMINFO.unpack_from(value, 0)
        if flags:
            return cls(
                df, weight, minl, maxl, maxw, minid, maxid, -1, 0, bytes(value[_TERMINFO.size :])
            )
        offset, length = _EXTENT.unpack_from(value, _TERMINFO.size)
        return cls(df, weight, minl, maxl, maxw, minid, maxid, offset, length)

    def is_inlined(self) -> bool:
        return self.offset < 0

    def doc_frequency(self) -> int:
        return self.df


class _SegmentFiles:
    """The parts of one compound segment file, served from a single mmap without copies.

    Whoosh reads a compound segment either by copying each part it opens whole into memory
    (with mmap) or through a system call per read (without): both are slow for an index of
    tens of megabytes that a search touches here and there.
    """

    def __init__(self, folder: str, segment: Any):
        self.name = segment.make_filename(segment.COMPOUND_EXT)
        self.source = ChunkedFile(folder, self.name, file_record(segment))
        try:
            source = self.source
            source.verify(0, min(source.length, 12), "compound directory")
            where, size = struct.unpack_from("!qi", source.view, 0)
            if where < 12 or where + size > source.length:
                raise damaged(folder, self.name, "its directory is not where its header says")
            source.verify(where, where + size, "compound directory")
            self._dir = directory_of(source.view)
        except BaseException:
            self.source.close()
            raise
        self.folder = folder
        for _name, (offset, length) in self._dir.items():
            if offset < 0 or offset + length > source.length:
                self.source.close()
                raise damaged(folder, self.name, "a part outside the file")

    def range(self, name: str) -> tuple[int, int]:
        return self._dir[name]

    def read(self, name: str, offset: int, length: int, what: str) -> bytes:
        """Bytes of one part of the segment, checked."""
        base, size = self._dir[name]
        start, stop = base + min(offset, size), base + min(offset + length, size)
        self.source.verify(start, stop, what)
        return bytes(self.source.view[start:stop])

    def view(self, name: str, what: str) -> memoryview:
        """A whole part, checked, without a copy."""
        base, size = self._dir[name]
        self.source.verify(base, base + size, what)
        return self.source.view[base : base + size]

    def checker(self, name: str, what: str) -> Callable[[int, int], None]:
        """A function that checks bytes [start, stop) of a part before they are read."""
        base, size = self._dir[name]
        source = self.source
        chunk, ok = source.chunk, source.ok

        def check(start: int, stop: int) -> None:
            a = base + start
            c = a // chunk
            if stop <= size and c == (base + stop - 1) // chunk and ok[c]:
                return
            source.verify(a, base + min(stop, size), what)

        return check

    def open_file(self, name: str) -> io.BytesIO:
        """A part as a file (checked whole first): for readers of parts written by other
        modules (store.readings)."""
        return io.BytesIO(bytes(self.view(name, describe_part(name))))

    def file_exists(self, name: str) -> bool:
        return name in self._dir

    def file_length(self, name: str) -> int:
        return self._dir[name][1]

    def list(self) -> list[str]:
        return list(self._dir)

    def close(self) -> None:
        self.source.close()


class VocabularyPart:
    """One segment's vocabulary of a word field, searched where it is mapped: sorted lines
    (``\\nterm\\nterm\\n``) in which a term is found by bisection and a piece by a byte search;
    nothing is decoded but the terms found.

    ``check(start, stop)`` verifies mapped bytes [start, stop) before they are used: the whole
    vocabulary before a byte search, only the lines a bisection reads (a term and the line
    breaks around it, checked before it is compared: a cold search reads a few kilobytes of a
    megabyte's vocabulary that way)."""

    def __init__(
        self, mm: Any, start: int, end: int, check: Callable[[int, int], None] | None = None
    ):
        self._mm = mm
        self._start = start
        self._end = end
        self._check = check
        self._whole = check is None
        #: No vocabulary file (a segment without one): it says nothing of the terms there.
        self.missing = False

    def __len__(self) -> int:
        return self._end - self._start

    def _checked_whole(self) -> None:
        if not self._whole:
            assert self._check is not None
            self._check(self._start, self._end)
            self._whole = True

    def _line(self, s: int, e: int) -> None:
        """Check the line [s, e) with its line breaks (``e`` is at the break after it)."""
        if not self._whole:
            assert self._check is not None
            self._check(max(self._start, s - 1), min(self._end, e + 1))

    def containing(self, piece: bytes) -> list[bytes]:
        self._checked_whole()
        mm, start, end = self._mm, self._start, self._end
        out = []
        i = mm.find(piece, start, end)
        while i != -1:
            s = mm.rfind(b"\n", start, i) + 1
            e = mm.find(b"\n", i, end)
            out.append(mm[s:e])
            i = mm.find(piece, e, end)
        return out

    def _first_at_least(self, key: bytes) -> int:
        mm, end = self._mm, self._end
        lo, hi = self._start + 1, end
        while lo < hi:
            mid = (lo + hi) // 2
            s = mm.rfind(b"\n", lo - 1, mid) + 1
            e = mm.find(b"\n", s, end)
            self._line(s, e if e >= 0 else end)
            if mm[s:e] < key:
                lo = e + 1
            else:
                hi = s
        return lo

    def with_prefix(self, prefix: bytes) -> list[bytes]:
        mm, end = self._mm, self._end
        pos = self._first_at_least(prefix)
        out = []
        n = len(prefix)
        while pos < end:
            e = mm.find(b"\n", pos, end)
            self._line(pos, e if e >= 0 else end)
            if e < 0 or mm[pos : pos + n] != prefix:
                break
            out.append(mm[pos:e])
            pos = e + 1
        return out

    def lines(self) -> list[bytes]:
        self._checked_whole()
        data = self._mm[self._start + 1 : self._end - 1]
        return data.split(b"\n") if data else []


_NO_VOCABULARY = VocabularyPart(b"\n", 0, 1)
_NO_VOCABULARY.missing = True


class _VarBytesPart:
    """A Whoosh ``VarBytesColumn`` part read one value at a time: the offsets table (which
    newsearch always writes) gives any document's value without a pass over the others."""

    def __init__(self, files: _SegmentFiles, name: str, count: int, what: str):
        self._check = files.checker(name, what)
        base, size = files.range(name)
        self._buf = files.source.view[base : base + size]
        self._what = what
        self._count = count
        check, buf = self._check, self._buf
        check(size - 3, size)
        codes = bytes(buf[size - 3 : size])
        if codes[2:3] != b"X":
            raise ValueError(f"{what}: a column without offsets")
        lcode, ocode = chr(codes[0]), chr(codes[1])
        self._lsize, self._osize = struct.calcsize(lcode), struct.calcsize(ocode)
        self._offsets = size - 3 - count * self._osize
        self._lengths = self._offsets - count * self._lsize
        if self._lengths < 0:
            raise ValueError(f"{what}: shorter than its tables")
        self._lunpack = struct.Struct("!" + lcode).unpack_from
        self._ounpack = struct.Struct("!" + ocode).unpack_from

    def __getitem__(self, local: int) -> bytes:
        if not 0 <= local < self._count:
            raise IndexError(local)
        check, buf = self._check, self._buf
        lpos = self._lengths + local * self._lsize
        opos = self._offsets + local * self._osize
        check(lpos, lpos + self._lsize)
        check(opos, opos + self._osize)
        (length,) = self._lunpack(buf, lpos)
        (offset,) = self._ounpack(buf, opos)
        if offset + length > self._lengths:
            raise ValueError(f"{self._what}: a value outside the column")
        check(offset, offset + length)
        return bytes(buf[offset : offset + length])

    def __len__(self) -> int:
        return self._count


class SegmentView:
    """One segment of a snapshot: where its documents start, and lazy reads of its parts."""

    def __init__(
        self,
        storage: FileStorage,
        schema: NewsearchSchema,
        segment: Any,
        offset: int,
        generation: int = 0,
    ):
        self.segment = segment
        self.schema = schema
        if not segment.is_compound():
            raise damaged(storage.folder, segment.segment_id(), "not a segment newsearch wrote")
        self.files = _SegmentFiles(storage.folder, segment)
        self.offset = offset
        self.count = segment.doc_count_all()
        deleted = segment.deleted_docs()
        self.deleted = frozenset(deleted) if deleted else frozenset()
        self._postings_name = segment.make_filename(W3Codec.POSTS_EXT)
        self._long_texts: LongTexts | None = None
        self._long_texts_read = False
        self._terms: TermTable | None = None
        self._parts: dict[str, Any] = {}
        self._lock = threading.Lock()

    # --- terms and postings ----------------------------------------------------------------------

    def term_table(self) -> TermTable:
        table = self._terms
        if table is None:
            name = self.segment.make_filename(W3Codec.TERMS_EXT)
            if not self.files.file_exists(name):
                raise damaged(self.files.folder, self.files.name, "no term table")
            base, size = self.files.range(name)
            table = TermTable(
                self.files.source.view[base : base + size],
                self.files.checker(name, "term table"),
            )
            self._terms = table
        return table

    def term_info(self, fieldname: str, tbytes: bytes) -> TermInfo | None:
        value = self.term_table().lookup(fieldname, tbytes)
        return TermInfo.parse(value) if value is not None else None

    def postings(self, fieldname: str, tbytes: bytes, want_values: bool) -> RawPostings | None:
        """A term's postings with the snapshot's docnums, deleted documents left out."""
        info = self.term_info(fieldname, tbytes)
        if info is None:
            return None
        ids, weights, vals = self.read_postings(info, want_values, fieldname)
        if self.deleted:
            keep = [i for i, d in enumerate(ids) if d not in self.deleted]
            if len(keep) != len(ids):
                ids = [ids[i] for i in keep]
                weights = [weights[i] for i in keep]
                if vals:  # (a field without positions has no values: an empty list)
                    vals = [vals[i] for i in keep]
        if self.offset:
            off = self.offset
            ids = [d + off for d in ids]
        return ids, weights, vals

    def term_items(self, fieldname: str) -> Iterator[tuple[bytes, TermInfo]]:
        """(term, term info) of every term of ``fieldname``, in order."""
        for tbytes, value in self.term_table().entries(fieldname):
            yield tbytes, TermInfo.parse(value)

    def terms(self, fieldname: str) -> Iterator[bytes]:
        for tbytes, _value in self.term_table().entries(fieldname):
            yield tbytes

    def read_postings(self, info: TermInfo, want_values: bool, fieldname: str = "") -> RawPostings:
        """A term's postings with local document numbers, deleted documents included."""
        if info.is_inlined():
            ids, weights, values = pickle.loads(info.inlined)
            return list(ids), list(weights), list(values) if want_values else None
        return _read_blocks(self._postings_data(info, fieldname), want_values)

    def values_for(self, fieldname: str, tbytes: bytes, wanted: list[int]) -> dict[int, bytes]:
        """Values (positions) of the postings of ``wanted`` local docs (sorted), decoding only
        the blocks that can hold them."""
        info = self.term_info(fieldname, tbytes)
        out: dict[int, bytes] = {}
        if info is None or not wanted:
            return out
        want = set(wanted)
        if info.is_inlined():
            ids, _weights, values = self.read_postings(info, True)
            for d, v in zip(ids, values or (), strict=False):
                if d in want:
                    out[d] = v
            return out
        prev_max = -1
        data = self._postings_data(info, fieldname)
        for (_count, maxid, _maxw, _comp, _mn, _mx), body in _blocks(data):
            k = bisect_right(wanted, prev_max)
            if k < len(wanted) and wanted[k] <= maxid:
                bids, _bw, bvalues = body()
                for d, v in zip(accumulate(bids), bvalues or (), strict=False):
                    if d in want:
                        out[d] = v
            prev_max = maxid
            if prev_max >= wanted[-1]:
                break
        return out

    def _postings_data(self, info: TermInfo, fieldname: str) -> bytes:
        """The bytes of a term's posting blocks, checked, from the segment's mapped file."""
        what = f"postings of {fieldname}" if fieldname else "postings"
        return self.files.read(self._postings_name, info.offset, info.length, what)

    # --- per-document values ---------------------------------------------------------------------

    def _part(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            got = self._parts.get(key)
            if got is None:
                got = self._parts[key] = make()
            return got

    def numeric_column(self, fieldname: str, column: Any = None) -> array[Any]:
        """A numeric column of every document (the schema's column type unless given)."""
        if column is None:
            column = self.schema[fieldname].column_type
        typecode, default = column._typecode, column._default
        name = W3Codec.column_filename(self.segment, fieldname)
        size = struct.calcsize(typecode)
        a = array(typecode)
        if self.files.file_exists(name):
            data = self.files.view(name, describe_part(name))
            usable = len(data) - len(data) % size
            a.frombytes(data[:usable])
            if a.itemsize > 1 and not _BIG_ENDIAN:  # columns are big-endian
                a.byteswap()
        if len(a) < self.count:
            a.extend([default] * (self.count - len(a)))
        return a[: self.count]

    def length_bytes(self, fieldname: str) -> bytes:
        """Each document's length of a scorable field, as stored (one byte: ``byte_to_length``)."""

        def make() -> bytes:
            name = W3Codec.column_filename(self.segment, f"_{fieldname}_len")
            if not self.files.file_exists(name):
                return bytes(self.count)
            data = bytes(self.files.view(name, describe_part(name))[: self.count])
            return data + bytes(self.count - len(data))

        data: bytes = self._part(f"len:{fieldname}", make)
        return data

    def lengths(self, fieldname: str) -> list[int]:
        table = _LENGTHS
        return [table[b] for b in self.length_bytes(fieldname)]

    def info(self) -> dict[str, Any]:
        """The segment's own statistics (see writer.INFO_EXT)."""

        def make() -> dict[str, Any]:
            name = self.segment.make_filename(INFO_EXT)
            if not self.files.file_exists(name):
                raise damaged(self.files.folder, self.files.name, "no segment statistics")
            try:
                info = json.loads(bytes(self.files.view(name, "segment statistics")))
                lengths = info["lengths"]
                if not all(isinstance(lengths.get(f), int) for f in SCORABLE):
                    raise ValueError("lengths")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise damaged(
                    self.files.folder, self.files.name, "segment statistics: cannot be read"
                ) from exc
            return dict(info)

        info: dict[str, Any] = self._part("info", make)
        return info

    def live_length_total(self, fieldname: str) -> int:
        """The sum of a field's (stored) lengths over the live documents."""
        total = int(self.info()["lengths"][fieldname])
        if self.deleted:
            lengths = self.length_bytes(fieldname)
            table = _LENGTHS
            total -= sum(table[lengths[d]] for d in self.deleted if 0 <= d < self.count)
        return total

    def _var_bytes(self, column: str, what: str) -> _VarBytesPart:
        """A column of one byte string a document (``_stored``, ``state``), opened once."""
        name = W3Codec.column_filename(self.segment, column)
        return self._part(  # type: ignore[no-any-return]
            f"col:{column}", lambda: _VarBytesPart(self.files, name, self.count, what)
        )

    def stored_raw(self, local: int) -> bytes:
        """One document's stored record as the segment holds it (compressed)."""
        return self._var_bytes("_stored", "stored posts")[local]

    def stored(self, local: int) -> dict[str, Any]:
        """One document's stored fields."""
        raw = self.stored_raw(local)
        if not raw:
            return {}
        value = pickle.loads(zlib.decompress(raw))
        if not isinstance(value, dict):
            raise damaged(self.files.folder, self.files.name, "stored posts: not a record")
        return value

    def state_raw(self, local: int) -> bytes:
        return self._var_bytes("state", "column state")[local]

    def vocabulary(self, fieldname: str, reverse: bool = False) -> VocabularyPart:
        """A word field's terms (or its reversed terms), sorted, one a line."""
        ext = REVERSED_VOCAB_EXT if reverse else VOCAB_EXT
        name = self.segment.make_filename(f".{fieldname}{ext}")

        def make() -> VocabularyPart:
            if not self.files.file_exists(name):
                return _NO_VOCABULARY
            base, size = self.files.range(name)
            what = describe_part(name)
            source = self.files.source
            return VocabularyPart(
                source._mm, base, base + size, lambda a, b: source.verify(a, b, what)
            )

        part: VocabularyPart = self._part(f"voc:{name}", make)
        return part

    def long_texts(self) -> LongTexts | None:
        """The segment's long texts (see store.texts), read on first use: opening a segment
        reads nothing more for them."""
        if not self._long_texts_read:
            self._long_texts = read_long_texts(self.files, self.segment)
            self._long_texts_read = True
        return self._long_texts

    def readings(self) -> Any:
        """The segment's readings file (``store.readings.SegmentReadings``), or None."""
        from .readings import read

        return read(self)

    def close(self) -> None:
        self._parts.clear()
        self._terms = None
        self.files.close()


def _blocks(data: bytes) -> Iterator[tuple[tuple[Any, ...], Callable[[], Any]]]:
    """Whoosh's whoosh3 posting blocks: (block info, a function that decodes the block's data).

    A posting list is a 4-byte header, then blocks: a big-endian int length (negative for the
    last block), a pickled info tuple (count, last id, max weight, compression, min and max
    length bytes) and the pickled (ids as deltas, weights, values) tuple, zlib-compressed or not.
    """
    pos, end = 4, len(data)
    while pos < end:
        (blen,) = _INT.unpack_from(data, pos)
        pos += 4
        last = blen < 0
        blen = -blen if last else blen
        buf = io.BytesIO(data[pos : pos + blen])
        info = pickle.load(buf)
        comp = info[3]

        def body(buf: io.BytesIO = buf, comp: int = comp) -> Any:
            raw = buf.read()
            return pickle.loads(zlib.decompress(raw) if comp else raw)

        yield info, body
        pos += blen
        if last:
            return


def _read_blocks(data: bytes, want_values: bool) -> RawPostings:
    """Decode a whole on-disk posting list (Whoosh's whoosh3 block format) in bulk."""
    ids: list[int] = []
    weights: list[float] = []
    values: list[bytes] | None = [] if want_values else None
    for (count, _maxid, _maxw, _comp, _mn, _mx), body in _blocks(data):
        bids, bweights, bvalues = body()
        ids.extend(accumulate(bids))
        if bweights is None:
            weights.extend([1.0] * count)
        elif isinstance(bweights, float):
            weights.extend([bweights] * count)
        else:
            weights.extend(bweights)
        if values is not None and bvalues:
            values.extend(bvalues)
    return ids, weights, values


#: Terms whose segments a snapshot keeps (``Snapshot.note_segments``); it starts afresh past it.
_WHERE_LIMIT = 1 << 17
#: The postings cache of a snapshot holds this many postings a post of the index, and at least
#: CACHE_POSTINGS (about 16 bytes a posting). Sized to the index, not fixed: the common words'
#: lists grow with it, and a fixed cache holds ever less of what the searches read (the 53
#: benchmark queries read 1.06 million postings at 36,066 posts and 4.85 million at 144,264:
#: with 4 million cached, every second run of a query decoded lists again, 高质量发展 62 ms
#: instead of 20).
CACHE_POSTINGS = 4_000_000
CACHE_POSTINGS_PER_POST = 40


class Snapshot:
    """A read-only view of one commit of the index, with caches for repeated queries.

    Searches may run while another process indexes: the snapshot keeps the files of its commit
    open, and a commit never rewrites a file in place.
    """

    def __init__(self, folder: str, *, cache_postings: int | None = None):
        self.folder = folder
        failed_generation = None
        for attempt in range(8):
            try:
                self._open(folder)
                break
            except NewsearchError:
                raise
            except Exception as exc:
                # Either a commit in another process removed files of the commit being opened
                # (then a newer commit exists: try again), or the index is damaged.
                generation = latest_generation_in(folder)
                if generation == failed_generation or attempt == 7:
                    raise damaged(folder, "a segment", f"{type(exc).__name__}: {exc}") from exc
                failed_generation = generation
                time.sleep(0.02 * (attempt + 1))
        self._cache: OrderedDict[tuple[str, str, bool], Postings] = OrderedDict()
        self._cache_size = 0
        self._cache_limit = (
            cache_postings
            if cache_postings is not None
            else max(CACHE_POSTINGS, CACHE_POSTINGS_PER_POST * self.doc_count_all)
        )
        self._memo: dict[Hashable, object] = {}
        #: (field, term) -> the segments whose vocabulary holds it (``note_segments``).
        self._where: dict[tuple[str, str], tuple[int, ...]] = {}
        self._lock = threading.RLock()

    def _open(self, folder: str) -> None:
        self.storage = storage_for(folder, readonly=True)
        toc = read_commit(folder)
        self.schema: NewsearchSchema = toc.schema
        self.settings: IndexSettings = self.schema.settings()
        self.generation = toc.generation
        self.index_id = toc.index_id
        views = []
        offset = 0
        try:
            for seg in toc.segments:
                views.append(SegmentView(self.storage, self.schema, seg, offset, toc.generation))
                offset += seg.doc_count_all()
        except BaseException:
            for v in views:
                v.close()
            raise
        self.segments = views
        self._starts = [v.offset for v in views]
        self.doc_count_all = offset
        self.doc_count = offset - sum(len(v.deleted) for v in views)

    # postings ---------------------------------------------------------------------------------

    def postings(self, fieldname: str, term: str, values: bool = False) -> Postings:
        key = (fieldname, term, values)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            if not values:
                hit = self._cache.get((fieldname, term, True))
                if hit is not None:
                    return hit
        tbytes = term.encode("utf-8", "surrogatepass")
        docs: array[int] = array("i")
        weights: array[float] = array("d")
        vals: list[bytes] | None = [] if values else None
        for view in self._segments_of(fieldname, term):
            got = view.postings(fieldname, tbytes, values)
            if got is None:
                continue
            docs.extend(got[0])
            weights.extend(got[1])
            if vals is not None and got[2] is not None:
                vals.extend(got[2])
        kept = tuple(vals) if vals is not None else None
        result = Postings(docs, weights, kept) if docs else EMPTY
        with self._lock:
            self._cache[key] = result
            self._cache_size += len(docs) + 1
            while self._cache_size > self._cache_limit and self._cache:
                _, old = self._cache.popitem(last=False)
                self._cache_size -= len(old.docs) + 1
        return result

    def term_infos(self, fieldname: str, term: str) -> list[tuple[SegmentView, TermInfo]]:
        """A term's entry in each segment that has it (statistics without the postings)."""
        tbytes = term.encode("utf-8", "surrogatepass")
        out = []
        for view in self.segments:
            info = view.term_info(fieldname, tbytes)
            if info is not None:
                out.append((view, info))
        return out

    def values_for(self, fieldname: str, term: str, docs: set[int]) -> dict[int, bytes]:
        """Values (positions) of ``term`` in the given posts only."""
        tbytes = term.encode("utf-8", "surrogatepass")
        out: dict[int, bytes] = {}
        for view in self._segments_of(fieldname, term):
            lo, hi = view.offset, view.offset + view.count
            local = sorted(d - lo for d in docs if lo <= d < hi)
            if local:
                for d, v in view.values_for(fieldname, tbytes, local).items():
                    if d not in view.deleted:
                        out[d + lo] = v
        return out

    def note_segments(self, fieldname: str, term: str, segments: tuple[int, ...]) -> None:
        """Say which segments (by their place in ``segments``) hold ``term`` in ``fieldname``,
        as their vocabularies say: reading its postings then looks it up in those only (a rare
        word of a vocabulary search is in one or two of ten segments, and a term table lookup
        in each of the others costs as much as one that finds it)."""
        if len(self._where) >= _WHERE_LIMIT:
            self._where.clear()
        self._where[(fieldname, term)] = segments

    def _segments_of(self, fieldname: str, term: str) -> list[SegmentView]:
        where = self._where.get((fieldname, term))
        if where is None:
            return self.segments
        return [self.segments[k] for k in where]

    def cached_postings(self, fieldname: str, term: str, values: bool = False) -> Postings | None:
        with self._lock:
            return self._cache.get((fieldname, term, values))

    def has_term(self, fieldname: str, term: str) -> bool:
        tbytes = term.encode("utf-8", "surrogatepass")
        for view in self.segments:
            if not view.deleted and view.term_info(fieldname, tbytes) is not None:
                return True
        # Only segments with deletions have it, if any: its live postings decide.
        return bool(self.postings(fieldname, term).docs)

    # per-document values ------------------------------------------------------------------------

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """A value computed once per snapshot (columns, vocabularies, statistics)."""
        with self._lock:
            if key in self._memo:
                return cast(T, self._memo[key])
        value = make()
        with self._lock:
            self._memo[key] = value
        return value

    def numeric_column(self, fieldname: str) -> array[Any]:
        """A numeric column of every document, indexable by docnum (read whole: filters and
        facets; a ranking reads ``column_value``)."""

        def make() -> array[Any]:
            column = self.schema[fieldname].column_type
            out = array(column._typecode)
            for v in self.segments:
                out.extend(v.numeric_column(fieldname))
            return out

        column: array[Any] = self.memo(("col", fieldname), make)
        return column

    def field_length_bytes(self, fieldname: str) -> bytes:
        """Each document's length of a scorable field as stored: one byte a document (its
        length is ``byte_to_length`` of it), indexable by docnum."""

        def make() -> bytes:
            return b"".join(v.length_bytes(fieldname) for v in self.segments)

        data: bytes = self.memo(("lenbytes", fieldname), make)
        return data

    def field_lengths(self, fieldname: str) -> list[int]:
        table = _LENGTHS
        return [table[b] for b in self.field_length_bytes(fieldname)]

    def average_length(self, fieldname: str) -> float:
        # From the lengths of live documents (as stored, one byte each): the same figure
        # whatever the segments, so merging segments never changes a score. Each segment
        # records the sum over its documents; deleted ones are taken off.
        def make() -> float:
            live = self.doc_count
            if not live:
                return 0.0
            return sum(v.live_length_total(fieldname) for v in self.segments) / live

        average: float = self.memo(("avg", fieldname), make)
        return average

    def vocabularies(self, fieldname: str, reverse: bool = False) -> list[VocabularyPart]:
        """Per segment, a word field's vocabulary (or reversed vocabulary), searched in place."""
        return [v.vocabulary(fieldname, reverse) for v in self.segments]

    def live_docs(self) -> Iterator[int]:
        for v in self.segments:
            for local in range(v.count):
                if local not in v.deleted:
                    yield v.offset + local

    def live_set(self) -> set[int]:
        """Every live document (a set made at C speed)."""
        out: set[int] = set()
        for v in self.segments:
            docs = set(range(v.offset, v.offset + v.count))
            if v.deleted:
                docs.difference_update(v.offset + d for d in v.deleted)
            out |= docs
        return out

    def _locate(self, docnum: int) -> tuple[SegmentView, int]:
        i = bisect_right(self._starts, docnum) - 1
        if i < 0 or docnum >= self.doc_count_all:
            raise IndexError(docnum)
        v = self.segments[i]
        return v, docnum - v.offset

    def stored(self, docnum: int, *, text: bool = True) -> dict[str, Any]:
        """A post's stored fields. A long text is read from its pieces, unless ``text`` is
        False: then it is "" (``long_text`` reads it piece by piece)."""
        view, local = self._locate(docnum)
        out = dict(view.stored(local))
        if is_long_marker(out.get("text")):
            with self._lock:
                out["text"] = self._long_text(view, local).text() if text else ""
        return out

    def long_text(self, docnum: int) -> LongText | None:
        """The text of a long post, to be read piece by piece, or None for another post."""
        view, local = self._locate(docnum)
        with self._lock:
            texts = view.long_texts()
            return texts.get(local) if texts is not None else None

    def _long_text(self, view: SegmentView, local: int) -> LongText:
        texts = view.long_texts()
        found = texts.get(local) if texts is not None else None
        if found is None:
            raise damaged(self.folder, view.files.name, "stored posts: a long text is missing")
        return found

    def column_value(self, fieldname: str, docnum: int) -> Any:
        """One document's value of a numeric column."""
        return self.numeric_column(fieldname)[docnum]

    def path(self, docnum: int) -> str:
        """A document's path (from its state column: no stored post is read)."""
        view, local = self._locate(docnum)
        return decode_state(view.state_raw(local))[0]

    def states(self) -> Iterator[tuple[int, str, FileState | None]]:
        """(docnum, path, file state) of every live document."""
        for v in self.segments:
            for local in range(v.count):
                if local not in v.deleted:
                    yield (v.offset + local, *decode_state(v.state_raw(local)))

    def terms(self, fieldname: str) -> list[str]:
        """The distinct terms of a field over all segments (for small fields: keywords)."""
        out: dict[str, None] = {}
        for v in self.segments:
            for tbytes in v.terms(fieldname):
                out.setdefault(tbytes.decode("utf-8", "surrogatepass"), None)
        return list(out)

    def close(self) -> None:
        for v in self.segments:
            with contextlib.suppress(Exception):
                v.close()
        self.segments = []
        self._cache.clear()
        self._memo.clear()
        self._where.clear()
