"""Reading an index: one commit as a ``Snapshot`` of segments, with bulk, zero-copy reads of
posting lists, columns, vocabularies and stored fields, and caches for repeated queries."""

from __future__ import annotations

import contextlib
import io
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

from whoosh import columns as wcolumns
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.util.numeric import byte_to_length

from ..errors import NewsearchError
from ..schema import FileState, IndexSettings, NewsearchSchema, decode_state
from .checksums import ChunkedFile, damaged, file_record
from .folder import storage_for
from .texts import TEXTS_EXT, LongText, LongTexts, is_long_marker, read_long_texts
from .toc import latest_generation_in, read_commit
from .writer import VOCAB_EXT

T = TypeVar("T")

_INT = struct.Struct("!i")
_LENGTHS = [byte_to_length(b) for b in range(256)]

#: A term's postings in one segment: docnums, weights and, when asked for, values.
RawPostings = tuple[list[int], list[float], "list[bytes] | None"]


@dataclass
class Postings:
    """One term's postings over the whole index: global docnums, weights, optional values."""

    docs: list[int]
    weights: list[float]
    values: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.docs)


EMPTY = Postings([], [], None)


class _Region(io.RawIOBase):
    """Part of a checked file, as a file for Whoosh's readers: every read verifies the chunks it
    touches (checksums.ChunkedFile.verify) and copies only what it returns. A region read
    whole (a column) is verified once, when it is opened."""

    def __init__(self, source: ChunkedFile, offset: int, length: int, what: str, checked: bool):
        self._source = source
        self._base = offset
        self._buf = source.view[offset : offset + length]
        self._what = what
        self._pos = 0
        self.checked = checked
        if checked:
            source.verify(offset, offset + length, what)

    def check(self, start: int, stop: int) -> None:
        if self.checked:
            return
        size = len(self._buf)
        self._source.verify(self._base + min(start, size), self._base + min(stop, size), self._what)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), len(self._buf) - self._pos))
        self.check(self._pos, self._pos + n)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._buf) if size is None or size < 0 else min(len(self._buf), self._pos + size)
        self.check(self._pos, end)
        out = bytes(self._buf[self._pos : end])
        self._pos = max(self._pos, end)
        return out

    def readline(self, size: int | None = -1) -> bytes:
        end = len(self._buf) if size is None or size < 0 else min(len(self._buf), self._pos + size)
        i = bytes(self._buf[self._pos : end]).find(b"\n")
        return self.read(i + 1 if i != -1 else end - self._pos)

    def seek(self, pos: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._buf))[whence]
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos


class _ViewFile(BufferFile):
    """Whoosh's BufferFile over a _Region: no copy of the whole buffer, every read checked."""

    def __init__(
        self, source: ChunkedFile, offset: int, length: int, name: str, checked: bool = False
    ):
        self._region = _Region(source, offset, length, describe_part(name), checked)
        self._buf = self._region._buf
        self._name = name
        self.file = self._region
        self.onclose = None
        self.is_real = False
        self.is_closed = False
        # For the common read, inside one chunk that is already verified (a term lookup reads
        # a dozen small pieces): no call out of get().
        self._source = source
        self._base = offset
        self._chunk = source.chunk
        self._ok = source.ok

    def get(self, position: int, length: int) -> bytes:
        region = self._region
        if not region.checked:
            start = self._base + position
            c = start // self._chunk
            if not (
                0 <= position
                and position + length <= len(self._buf)
                and c == (start + length - 1) // self._chunk
                and self._ok[c]
            ):
                region.check(position, position + length)
        return bytes(self._buf[position : position + length])


def describe_part(name: str) -> str:
    """What a file inside a segment holds, in words (for error messages and reports)."""
    ext = name.partition(".")[2]
    if ext == "trm":
        return "term table"
    if ext == "pst":
        return "postings"
    if ext.endswith(".voc"):
        return f"vocabulary of {ext[: -len('.voc')]}"
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


class _SegmentFiles:
    """The files inside one compound segment, served from a single mmap without copies.

    Whoosh reads a compound segment either by copying each file it opens whole into memory
    (with mmap) or through a system call per read (without): both are slow for an index of
    tens of megabytes that a search touches here and there.
    """

    supports_mmap = True

    def __init__(self, folder: str, segment: Any):
        self.name = segment.make_filename(segment.COMPOUND_EXT)
        self.source = ChunkedFile(folder, self.name, file_record(segment))
        try:
            whole = _ViewFile(self.source, 0, self.source.length, "compound directory")
            directory = CompoundStorage(whole, use_mmap=False)
            self._dir: dict[str, tuple[int, int]] = {
                name: directory.range(name) for name in directory.list()
            }
        except BaseException:
            self.source.close()
            raise
        self.folder = folder

    def read(self, name: str, offset: int, length: int, what: str) -> bytes:
        """Bytes of one file of the segment, checked."""
        base, size = self._dir[name]
        start, stop = base + min(offset, size), base + min(offset + length, size)
        self.source.verify(start, stop, what)
        return bytes(self.source.view[start:stop])

    def open_file(self, name: str, *args: Any, **kwargs: Any) -> _ViewFile:
        if name not in self._dir:
            raise NameError(name)
        offset, length = self._dir[name]
        # Columns other than the stored posts are read whole (all dates, all states, all
        # lengths): checked at once. The stored posts and the term table are read here and
        # there, and checked chunk by chunk as they are.
        whole = name.endswith(".col") and not name.endswith("._stored.col")
        return _ViewFile(self.source, offset, length, name, checked=whole)

    def file_exists(self, name: str) -> bool:
        return name in self._dir

    def file_length(self, name: str) -> int:
        return self._dir[name][1]

    def list(self) -> list[str]:
        return list(self._dir)

    def close(self) -> None:
        self.source.close()


class _Uncompounded:
    """A segment that tells Whoosh it is not compound: its files come from _SegmentFiles."""

    def __init__(self, segment: Any):
        self._segment = segment

    def is_compound(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._segment, name)


def _inlined(info: Any, want_values: bool) -> RawPostings:
    """The postings a term keeps in the term table itself (short lists, see writer)."""
    ids, weights, values = info.inlined_postings()
    return list(ids), list(weights), list(values) if want_values else None


class SegmentView:
    """One segment of a snapshot: its reader and where its documents start."""

    def __init__(
        self,
        storage: FileStorage,
        schema: NewsearchSchema,
        segment: Any,
        offset: int,
        generation: int,
    ):
        self.segment = segment
        self.schema = schema
        if not segment.is_compound():
            raise damaged(storage.folder, segment.segment_id(), "not a segment newsearch wrote")
        self.files = _SegmentFiles(storage.folder, segment)
        try:
            self.reader = SegmentReader(
                self.files, schema, _Uncompounded(segment), generation=generation
            )
        except BaseException:
            self.files.close()
            raise
        self.offset = offset
        self.count = segment.doc_count_all()
        deleted = segment.deleted_docs()
        self.deleted = frozenset(deleted) if deleted else frozenset()
        self._postings_name = segment.make_filename(W3Codec.POSTS_EXT)
        self._long_texts: LongTexts | None = None
        self._long_texts_read = False

    def term_info(self, fieldname: str, tbytes: bytes) -> Any:
        try:
            return self.reader.term_info(fieldname, tbytes)
        except (TermNotFound, KeyError):
            return None

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
                if vals is not None:
                    vals = [vals[i] for i in keep]
        if self.offset:
            off = self.offset
            ids = [d + off for d in ids]
        return ids, weights, vals

    def term_items(self, fieldname: str) -> Iterator[tuple[tuple[str, bytes], Any]]:
        """(field, term) keys and term infos from the first term of ``fieldname`` on, in order."""
        terms = self.reader._terms  # the segment's W3TermsReader
        if fieldname not in terms.indexed_field_names():
            return iter(())
        items: Iterator[tuple[tuple[str, bytes], Any]] = terms.items_from(fieldname, b"")
        return items

    def read_postings(self, info: Any, want_values: bool, fieldname: str = "") -> RawPostings:
        """A term's postings with local document numbers, deleted documents included."""
        if info.is_inlined():
            return _inlined(info, want_values)
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
            ids, _weights, values = _inlined(info, True)
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

    def _postings_data(self, info: Any, fieldname: str) -> bytes:
        """The bytes of a term's posting blocks, checked, from the segment's mapped file."""
        offset, length = info.extent()
        if isinstance(length, tuple):  # W3TermInfo.from_bytes leaves the length unpacked
            length = length[0]
        what = f"postings of {fieldname}" if fieldname else "postings"
        return self.files.read(self._postings_name, offset, length, what)

    def numeric_column(self, fieldname: str, column: Any = None) -> array[int]:
        """A numeric column of every document (the schema's column type unless given)."""
        if column is None:
            column = self.schema[fieldname].column_type
        assert isinstance(column, wcolumns.NumericColumn)
        typecode, default = column._typecode, column._default
        name = W3Codec.column_filename(self.segment, fieldname)
        size = struct.calcsize(typecode)
        a = array(typecode)
        if self.files.file_exists(name):
            with self.files.open_file(name) as fh:
                data = fh.read()
            usable = len(data) - len(data) % size
            a.frombytes(data[:usable])
            if a.itemsize > 1 and sys.byteorder == "little":  # columns are big-endian
                a.byteswap()
        if len(a) < self.count:
            a.extend([default] * (self.count - len(a)))
        return a[: self.count]

    def lengths(self, fieldname: str) -> list[int]:
        raw = self.numeric_column(f"_{fieldname}_len", LENGTHS_COLUMN)
        table = _LENGTHS
        return [table[b] for b in raw]

    def vocabulary(self, fieldname: str) -> str:
        name = self.segment.make_filename(f".{fieldname}{VOCAB_EXT}")
        if not self.files.file_exists(name):
            return "\n"
        with self.files.open_file(name) as fh:
            return zlib.decompress(fh.read()).decode("utf-8")

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
        self.reader.close()
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


class Snapshot:
    """A read-only view of one commit of the index, with caches for repeated queries.

    Searches may run while another process indexes: the snapshot keeps the files of its commit
    open, and a commit never rewrites a file in place.
    """

    def __init__(self, folder: str, *, cache_postings: int = 4_000_000):
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
        self._cache_limit = cache_postings
        self._memo: dict[Hashable, object] = {}
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
        docs: list[int] = []
        weights: list[float] = []
        vals: list[bytes] | None = [] if values else None
        for view in self.segments:
            got = view.postings(fieldname, tbytes, values)
            if got is None:
                continue
            docs.extend(got[0])
            weights.extend(got[1])
            if vals is not None and got[2] is not None:
                vals.extend(got[2])
        result = Postings(docs, weights, vals) if docs else EMPTY
        with self._lock:
            self._cache[key] = result
            self._cache_size += len(docs) + 1
            while self._cache_size > self._cache_limit and self._cache:
                _, old = self._cache.popitem(last=False)
                self._cache_size -= len(old.docs) + 1
        return result

    def values_for(self, fieldname: str, term: str, docs: set[int]) -> dict[int, bytes]:
        """Values (positions) of ``term`` in the given posts only."""
        tbytes = term.encode("utf-8", "surrogatepass")
        out: dict[int, bytes] = {}
        for view in self.segments:
            lo, hi = view.offset, view.offset + view.count
            local = sorted(d - lo for d in docs if lo <= d < hi)
            if local:
                for d, v in view.values_for(fieldname, tbytes, local).items():
                    if d not in view.deleted:
                        out[d + lo] = v
        return out

    def cached_postings(self, fieldname: str, term: str, values: bool = False) -> Postings | None:
        with self._lock:
            return self._cache.get((fieldname, term, values))

    def has_term(self, fieldname: str, term: str) -> bool:
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

    def numeric_column(self, fieldname: str) -> list[int]:
        def make() -> list[int]:
            out: list[int] = []
            for v in self.segments:
                out.extend(v.numeric_column(fieldname))
            return out

        return self.memo(("col", fieldname), make)

    def field_lengths(self, fieldname: str) -> list[int]:
        def make() -> list[int]:
            out: list[int] = []
            for v in self.segments:
                out.extend(v.lengths(fieldname))
            return out

        return self.memo(("len", fieldname), make)

    def average_length(self, fieldname: str) -> float:
        # From the per-document lengths of live documents (as stored, one byte each): the same
        # figure whatever the segments, so merging segments never changes a score.
        def make() -> float:
            lengths = self.field_lengths(fieldname)
            live = [lengths[d] for d in self.live_docs()]
            return sum(live) / len(live) if live else 0.0

        return self.memo(("avg", fieldname), make)

    def vocabularies(self, fieldname: str) -> list[str]:
        return self.memo(
            ("voc", fieldname), lambda: [v.vocabulary(fieldname) for v in self.segments]
        )

    def live_docs(self) -> Iterator[int]:
        for v in self.segments:
            for local in range(v.count):
                if local not in v.deleted:
                    yield v.offset + local

    def _locate(self, docnum: int) -> tuple[SegmentView, int]:
        for v in self.segments:
            if docnum < v.offset + v.count:
                return v, docnum - v.offset
        raise IndexError(docnum)

    def stored(self, docnum: int, *, text: bool = True) -> dict[str, Any]:
        """A post's stored fields. A long text is read from its pieces, unless ``text`` is
        False: then it is "" (``long_text`` reads it piece by piece)."""
        view, local = self._locate(docnum)
        with self._lock:
            out = dict(view.reader.stored_fields(local))
            if is_long_marker(out.get("text")):
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

    def states(self) -> Iterator[tuple[int, str, FileState | None]]:
        """(docnum, path, file state) of every live document."""
        for v in self.segments:
            reader = v.reader.column_reader("state", translate=False)
            for local in range(v.count):
                if local not in v.deleted:
                    yield (v.offset + local, *decode_state(reader[local]))

    def terms(self, fieldname: str) -> list[str]:
        """The distinct terms of a field over all segments (for small fields: keywords)."""
        out: dict[str, None] = {}
        for v in self.segments:
            for term in v.reader.lexicon(fieldname):
                out.setdefault(term.decode("utf-8", "surrogatepass"), None)
        return list(out)

    def close(self) -> None:
        for v in self.segments:
            with contextlib.suppress(Exception):
                v.close()
        self.segments = []
        self._cache.clear()
        self._memo.clear()
