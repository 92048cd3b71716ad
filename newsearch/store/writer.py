"""Writing segments: analysed documents (or the documents of merged segments) to one Whoosh
segment in Whoosh's ``whoosh3`` format, written once into its compound file (``compound``).

``SegmentWriter`` is the one way a segment is written, finished and, on failure, removed. Its
parts come in the order they are written: the stored posts (streamed as documents arrive), the
other per-document columns, the postings (every posting list too long to sit in the term table),
the term table, the vocabularies and the segment's own statistics. Posting lists are given twice
by their source (``PostingSource``): a first pass writes the long ones, a second the term table,
which needs where each long list went and holds the short lists itself. ``SegmentBuilder`` feeds
it documents from the analysis, ``merge`` feeds it older segments.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import struct
import sys
import zlib
from array import array
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import accumulate
from operator import sub
from typing import Any, Protocol

from whoosh import columns as wcolumns
from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3Codec, W3TermInfo
from whoosh.filedb.filestore import FileStorage
from whoosh.util.numeric import byte_to_length, length_to_byte

from ..schema import (
    JOIN_FIELDS,
    KEYWORD_FIELDS,
    SUB_FIELDS,
    WORD_FIELDS,
    Document,
    NewsearchSchema,
)
from . import readings
from .checksums import set_file_record
from .compound import PartWriter, SegmentFile
from .folder import INDEX_NAME, Output, write_error
from .terms import TermTableWriter
from .texts import TEXTS_EXT, LongTextWriter

#: Posting lists this short are stored inside the term table instead of the postings file.
INLINE_LIMIT = 8
BLOCK_LIMIT = 128
#: Blocks smaller than this are not worth compressing.
MIN_COMPRESS = 64
#: A word field's vocabulary: its terms in order, one a line (``.text.voc``), and the same terms
#: written backwards, in the order of the reversed terms (``.text.rvoc``); both plain UTF-8, so
#: that "which terms contain, start or end with this" is a search of the mapped bytes.
VOCAB_EXT = ".voc"
REVERSED_VOCAB_EXT = ".rvoc"
#: The term table of a segment written in one pass (a merge: see ``write_postings``), written
#: beside the postings as they are written and copied into the segment after them (a segment
#: file name, so that the clean-up of a failed build removes it like the segment's other files).
TABLE_EXT = ".trmside"
#: The segment's own statistics (JSON): per scorable field, the sum of its (stored, one-byte)
#: lengths over all documents, so that an average length needs no pass over the documents.
INFO_EXT = ".nsinfo"
INFO_VERSION = 1
#: Pickle protocol of postings blocks. Whoosh writes protocol 2, which stores each positions
#: value (bytes) as a call to codecs.encode: protocol 4 unpickles 4x faster and is half the
#: size. Whoosh reads any protocol.
PICKLE_PROTOCOL = 4
#: zlib level of postings blocks and stored fields: level 1 costs half the time of Whoosh's
#: level 3 for 4% more bytes, and any level reads the same way.
COMPRESSION = 1
#: Per-document columns besides the stored fields and the field lengths.
COLUMNS = ("date_ts", "month", "state")
#: Fields that are only stored (no postings a merge must carry over besides ``path``'s).
STORED_ONLY = ("path", "url", "source_url", "date", *KEYWORD_FIELDS)
#: Fields with a length per document (the ranking's field lengths).
SCORABLE = (*WORD_FIELDS, *SUB_FIELDS.values())
#: Every field with postings, in the order a segment writes them. Field ids are given in the
#: order fields are started, and the term table wants its keys (field id, term) in ascending
#: order, so every field is written in one go.
FIELD_ORDER = (
    "path",
    *KEYWORD_FIELDS,
    *JOIN_FIELDS.values(),
    *(f for name in WORD_FIELDS for f in (name, SUB_FIELDS[name])),
)
#: The stored fields of a post, in the order they are stored.
STORED_FIELDS = ("path", "title", "text", *KEYWORD_FIELDS, "url", "source_url", "date")

_TERMINFO: struct.Struct = W3TermInfo._struct
_LONG_INT = struct.Struct("!qi")
_INT = struct.Struct("!i")
_BIG_ENDIAN = sys.byteorder == "big"

#: One posting list: docnums, weights, values (positions) or None.
PostingList = tuple[list[int], list[float], "list[bytes] | None"]
#: One term of a field as a source gives it: the term, at least as many postings as it has
#: (before a merge drops deleted documents), and a function that reads its postings.
TermEntry = tuple[bytes, int, Callable[[], PostingList]]
#: A field's terms in order, each time it is called (twice per field).
PostingSource = Callable[[str], Iterable[TermEntry]]


def stored_record(doc: Document) -> dict[str, Any]:
    """What a segment stores of a post (and gives back for hits and ``show``)."""
    stored = doc.stored
    return {name: stored[name] for name in STORED_FIELDS if stored.get(name) is not None}


def encode_stored(record: dict[str, Any]) -> bytes:
    """A stored record as Whoosh's stored-fields column holds it (pickled, compressed)."""
    return zlib.compress(pickle.dumps(record, 2), COMPRESSION)


def _big_endian(a: array[Any]) -> bytes:
    if not _BIG_ENDIAN:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


class _VarBytes:
    """A Whoosh ``VarBytesColumn`` being written: the values, then their lengths and offsets
    (always written, so that a reader finds any document's value without a pass over all)."""

    def __init__(self, out: PartWriter | None = None):
        self._out = out
        self._data = bytearray() if out is None else None
        self.lengths = array("I")
        self.size = 0

    def add(self, value: bytes) -> None:
        if self._out is not None:
            self._out.write(value)
        else:
            assert self._data is not None
            self._data += value
        self.lengths.append(len(value))
        self.size += len(value)

    def finish(self, out: PartWriter | None = None) -> None:
        out = out or self._out
        assert out is not None
        if self._data is not None:
            out.write(self._data)
            self._data = None
        offsets = array("I" if self.size < 2**32 else "q", [0])
        offsets.extend(accumulate(self.lengths))
        offsets.pop()
        lengths = self.lengths
        if self.size >= 2**32:
            lengths = array("q", lengths)
        out.write(_big_endian(lengths))
        out.write(_big_endian(offsets))
        out.write(f"{lengths.typecode}{offsets.typecode}X".encode("ascii"))


class SegmentWriter:
    """One new segment: documents (``add_document`` or ``add_raw``) first, then
    ``write_postings``, then ``finish``; ``cancel`` removes what was written."""

    def __init__(self, storage: FileStorage, schema: NewsearchSchema, prefix: str = ""):
        self.storage = storage
        self.schema = schema
        self.codec = W3Codec()
        self.segment = self.codec.new_segment(storage, INDEX_NAME)
        # The segments of one build share a prefix: if the build fails before its first
        # commit, it removes its own files by that prefix (see folder.remove_own_files).
        self.segment.segid = prefix + self.segment.segid[len(prefix) :]
        self.segment._fieldlengths = defaultdict(int)
        self.file = SegmentFile(storage.folder, self.segment.make_filename(".seg"))
        self.count = 0
        self._stored = _VarBytes(self.file.part(self._column_name("_stored")))
        #: Per document: each scorable field's length as stored (one byte), the columns.
        self.lengths: dict[str, bytearray] = {name: bytearray() for name in SCORABLE}
        self._totals = dict.fromkeys(SCORABLE, 0)
        self.columns = {name: schema[name].column_type for name in COLUMNS}
        self._numeric: dict[str, array[Any]] = {}
        self._varbytes: dict[str, _VarBytes] = {}
        for name, column in self.columns.items():
            if isinstance(column, wcolumns.NumericColumn):
                self._numeric[name] = array(column._typecode)
            else:
                self._varbytes[name] = _VarBytes()
        self._extra: list[tuple[str, bytes]] = []
        self._docs_done = False
        self._postings_done = False
        #: Long texts, stored in pieces beside the stored records (see store.texts): written
        #: to a file of their own while the posts come, copied into the compound file at the end.
        self.texts = LongTextWriter(storage, self.segment)
        #: The segment's readings file (pinyin, post counts, titles), filled as it is written.
        self.readings = readings.ReadingsWriter()
        #: The term table being written beside the postings (``write_postings(one_pass=True)``).
        self._side: Output | None = None

    def _column_name(self, fieldname: str) -> str:
        return str(W3Codec.column_filename(self.segment, fieldname))

    # --- documents -------------------------------------------------------------------------------

    def add_document(self, stored: bytes, lengths: dict[str, int], columns: dict[str, Any]) -> None:
        """One document: its stored record (``encode_stored``), its field lengths (words) and
        column values."""
        self._add(stored, {name: length_to_byte(n) for name, n in lengths.items()}, columns)
        totals = self.segment._fieldlengths
        for name, n in lengths.items():
            if n:
                totals[name] += n

    def add_raw(self, stored: bytes, length_bytes: dict[str, int], columns: dict[str, Any]) -> None:
        """One document as another segment holds it: stored bytes, length bytes, columns."""
        self._add(stored, length_bytes, columns)
        totals = self.segment._fieldlengths
        for name, b in length_bytes.items():
            if b:
                totals[name] += byte_to_length(b)

    def _add(self, stored: bytes, length_bytes: dict[str, int], columns: dict[str, Any]) -> None:
        assert not self._docs_done
        self._stored.add(stored)
        for name in SCORABLE:
            b = length_bytes.get(name, 0)
            self.lengths[name].append(b)
            self._totals[name] += byte_to_length(b)
        for name, values in self._numeric.items():
            values.append(columns[name])
        for name, column in self._varbytes.items():
            column.add(columns[name])
        self.count += 1

    def _finish_documents(self) -> None:
        if self._docs_done:
            return
        self._docs_done = True
        self._stored.finish()
        if not self.count:
            return
        file = self.file
        for name in COLUMNS:
            if name in self._numeric:
                file.write_part(self._column_name(name), _big_endian(self._numeric[name]))
            else:
                self._varbytes[name].finish(file.part(self._column_name(name)))
        for name in SCORABLE:
            lengths = self.lengths[name]
            if any(lengths):
                file.write_part(self._column_name(f"_{name}_len"), bytes(lengths))
        self._numeric.clear()
        self._varbytes.clear()

    # --- postings --------------------------------------------------------------------------------

    def write_postings(
        self, source: PostingSource, tail: PostingsTail | None = None, one_pass: bool = False
    ) -> None:
        """Every field's posting lists, from ``source`` (called twice per field, once with
        ``one_pass``). ``tail``: the lists of the last terms, written at the same time by
        another process (a merge on two cores, see merge.merge_segments): its bytes and entries
        come after ``source``'s.

        ``one_pass`` (merges): the term table is written while the lists are, to a file beside
        the segment copied in after the postings, instead of by a second pass over the source:
        a merge's source decodes every list of every segment merged, and its second pass (the
        term tables merged again, every short list decoded again) was a quarter of a merge's
        time. The segment is the same, byte for byte."""
        self._finish_documents()
        file = self.file
        postings = file.part(self.segment.make_filename(W3Codec.POSTS_EXT))
        terms_name = self.segment.make_filename(W3Codec.TERMS_EXT)
        vocabularies: dict[str, tuple[bytearray, list[bytes]] | None] = {
            fname: (bytearray(b"\n"), []) if fname in WORD_FIELDS else None for fname in FIELD_ORDER
        }
        table: TermTableWriter | None = None

        def add_one(fname: str, tbytes: bytes, info: bytes) -> None:
            assert table is not None
            table.add(table.field_id(fname), tbytes, info)
            words = vocabularies[fname]
            if words is not None:
                words[0].extend(tbytes + b"\n")
                words[1].append(_reverse(tbytes))

        def add(entries: Iterable[tuple[str, bytes, bytes]]) -> None:
            for fname, tbytes, info in entries:
                add_one(fname, tbytes, info)

        side: Output | None = None
        if one_pass:
            if tail is not None:
                table = TermTableWriter(tail.table_output())
            else:
                side = self._side = Output(
                    os.path.join(self.storage.folder, self.segment.make_filename(TABLE_EXT)),
                    self.storage.folder,
                )
                table = TermTableWriter(side)
            write_long_lists(
                postings, source, FIELD_ORDER, self.lengths, self.schema, self.readings, add_one
            )
        else:
            written = write_long_lists(
                postings, source, FIELD_ORDER, self.lengths, self.schema, self.readings
            )
            # Second pass: the term table, and the vocabularies of the word fields. With a
            # tail, this process's part of the table is written while the other process still
            # writes its lists, to a file of its own that is copied in after them.
            table = TermTableWriter(file.part(terms_name) if tail is None else tail.table_output())
            add(table_entries(source, FIELD_ORDER, self.lengths, written))
        if tail is not None:
            tail.paste(postings, self.readings)
            add(tail.entries())
        table.close()
        if tail is not None:
            tail.copy_table(file.part(terms_name))
        elif side is not None:
            side.close()
            append_file(side.path, file.part(terms_name), self.storage.folder)
            with contextlib.suppress(OSError):
                os.remove(side.path)
            self._side = None
        for fname, words in vocabularies.items():
            if words is None:
                continue
            forward, backward = words
            file.write_part(self.segment.make_filename(f".{fname}{VOCAB_EXT}"), forward)
            backward.sort()
            blob = b"\n" + b"".join(w + b"\n" for w in backward) if backward else b"\n"
            file.write_part(self.segment.make_filename(f".{fname}{REVERSED_VOCAB_EXT}"), blob)
        self._postings_done = True

    # --- finishing -------------------------------------------------------------------------------

    def add_part(self, ext: str, data: bytes) -> None:
        """Another file of the segment (written with it, checked with it, merged by its own
        function in ``merge``)."""
        self._extra.append((ext, data))

    def finish(self) -> Any:
        """Write what is left and the compound file's directory; return the segment."""
        if not self._postings_done:
            self.write_postings(lambda fname: ())
        file = self.file
        info = {"version": INFO_VERSION, "lengths": self._totals}
        file.write_part(self.segment.make_filename(INFO_EXT), json.dumps(info).encode())
        file.write_part(self.segment.make_filename(readings.READINGS_EXT), self.readings.encode())
        for ext, data in self._extra:
            file.write_part(self.segment.make_filename(ext), data)
        self._copy_long_texts()
        size, crc = file.finish()
        self.segment.set_doc_count(self.count)
        self.segment._fieldlengths = dict(self.segment._fieldlengths)
        self.segment.compound = True
        set_file_record(self.segment, (size, crc))
        return self.segment

    def _copy_long_texts(self) -> None:
        """The long texts' file as a part of the compound file (then removed)."""
        self.texts.finish()
        name = self.segment.make_filename(TEXTS_EXT)
        path = os.path.join(self.storage.folder, name)
        if not os.path.exists(path):
            return
        out = self.file.part(name)
        try:
            with open(path, "rb") as fh:
                while piece := fh.read(1 << 20):
                    out.write(piece)
        except OSError as exc:
            raise write_error(self.storage.folder, exc, name) from exc
        with contextlib.suppress(OSError):
            os.remove(path)

    def cancel(self) -> None:
        """Remove what was written (a failed batch or merge)."""
        self.texts.abandon()
        if self._side is not None:
            self._side.abandon()
            with contextlib.suppress(OSError):
                os.remove(self._side.path)
        with contextlib.suppress(OSError):
            os.remove(os.path.join(self.storage.folder, self.segment.make_filename(TEXTS_EXT)))
        self.file.abandon()


def append_file(path: str, out: Any, folder: str) -> None:
    """The bytes of file ``path`` written to ``out``, a MiB at a time."""
    try:
        with open(path, "rb") as fh:
            while piece := fh.read(1 << 20):
                out.write(piece)
    except OSError as exc:
        raise write_error(folder, exc, os.path.basename(path)) from exc


def _reverse(tbytes: bytes) -> bytes:
    return tbytes.decode("utf-8", "surrogatepass")[::-1].encode("utf-8", "surrogatepass")


def _length_range(lengths: bytearray | None, ids: list[int]) -> tuple[int, int]:
    if lengths is None:
        return 0, 0
    got = [lengths[d] for d in ids]
    return min(got), max(got)


def _inline_info(
    ids: list[int], weights: list[float], values: list[bytes] | None, lengths: bytearray | None
) -> bytes | None:
    """A short list's entry in the term table, postings included (Whoosh reads postings kept
    in the term table, a pickled tuple after the term info, though its own writer never puts
    them there; most terms of a segment have one or two postings, and this saves a block, a
    seek and a decompression for each)."""
    if not ids:
        return None
    low, high = _length_range(lengths, ids)
    info = _TERMINFO.pack(1, sum(weights), len(ids), low, high, max(weights), ids[0], ids[-1])
    inlined = (tuple(ids), tuple(weights), tuple(values) if values else ())
    return info + pickle.dumps(inlined, PICKLE_PROTOCOL)


def _write_list(
    out: PartWriter,
    ids: list[int],
    weights: list[float],
    values: list[bytes] | None,
    lengths: bytearray | None,
    fixed: int | None,
) -> bytes:
    """One posting list in blocks of BLOCK_LIMIT postings (Whoosh's ``W3PostingsWriter``
    format), written whole; returns its term info."""
    start = out.tell()
    out.write(WHOOSH3_HEADER_MAGIC)
    n = len(ids)
    low = high = -1
    for begin in range(0, n, BLOCK_LIMIT):
        end = min(n, begin + BLOCK_LIMIT)
        bids = ids[begin:end]
        bweights = weights[begin:end]
        deltas = (bids[0], *map(sub, bids[1:], bids[:-1]))
        first = bweights[0]
        if bweights.count(first) == len(bweights):
            mini: Any = None if first == 1.0 else first
        else:
            mini = tuple(bweights)
        if fixed is None:
            vals: Any = tuple(values[begin:end]) if values else ()
        elif fixed == 0:
            vals = None
        else:
            vals = b""
        data = pickle.dumps((deltas, mini, vals), PICKLE_PROTOCOL)
        comp = COMPRESSION if len(data) >= MIN_COMPRESS else 0
        if comp:
            data = zlib.compress(data, comp)
        blow, bhigh = _length_range(lengths, bids)
        if low < 0 or blow < low:
            low = blow
        if bhigh > high:
            high = bhigh
        info = pickle.dumps(
            (len(bids), bids[-1], max(bweights), comp, blow, bhigh), PICKLE_PROTOCOL
        )
        size = len(info) + len(data)
        out.write(_INT.pack(-size if end == n else size) + info + data)
    length = out.tell() - start
    head = _TERMINFO.pack(0, sum(weights), n, low, high, max(weights), ids[0], ids[-1])
    return head + _LONG_INT.pack(start, length)


class PostingsTail(Protocol):
    """The posting lists of the last terms of a segment, written by another process."""

    def paste(self, postings: Any, counts: readings.ReadingsWriter) -> None:
        """Append its postings bytes to ``postings`` (at the end of the first pass) and its
        post counts to ``counts``."""

    def entries(self) -> Iterable[tuple[str, bytes, bytes]]:
        """Its term table entries (field, term, term info), as placed by ``paste``."""

    def table_output(self) -> Any:
        """Where the term table is written until ``copy_table`` (write and tell)."""

    def copy_table(self, part: Any) -> None:
        """Copy the term table written to ``table_output`` into the segment's ``part``."""


def write_long_lists(
    postings: Any,
    source: PostingSource,
    fields: Iterable[str],
    lengths_of: dict[str, bytearray],
    schema: NewsearchSchema,
    counts: readings.ReadingsWriter,
    emit: Callable[[str, bytes, bytes], None] | None = None,
) -> deque[bytes | None]:
    """The first pass of ``write_postings``: the long lists of ``fields`` to ``postings``; what
    the term table will say of each (None: nothing left of it), in term order. With ``emit``,
    the only pass: every list is read, and each term's entry (field, term, term info: its long
    list's place or its postings inline) goes to ``emit`` (and nothing is returned)."""
    written: deque[bytes | None] = deque()
    for fname in fields:
        lengths = lengths_of.get(fname)
        fixed = schema[fname].format.fixed_value_size()
        # The readings file counts the posts of every word and sub-word (all lists read
        # here, in field order: the title's before the text's).
        counted = fname in readings.WORD_FIELDS or fname in readings.SUB_FIELDS
        for tbytes, most, read in source(fname):
            if emit is not None:
                ids, weights, values = read()
                # Long or inline exactly as the two passes decide (table_entries).
                entry = (
                    _write_list(postings, ids, weights, values, lengths, fixed)
                    if len(ids) > INLINE_LIMIT
                    else _inline_info(ids, weights, values, lengths)
                )
                if entry is not None:
                    emit(fname, tbytes, entry)
                if counted and ids:
                    counts.add_list(fname, tbytes.decode("utf-8", "surrogatepass"), ids)
                continue
            if most > INLINE_LIMIT:
                ids, weights, values = read()
                if len(ids) > INLINE_LIMIT:
                    written.append(_write_list(postings, ids, weights, values, lengths, fixed))
                else:
                    written.append(_inline_info(ids, weights, values, lengths))
            elif counted:
                ids = read()[0]
            else:
                continue
            if counted and ids:
                counts.add_list(fname, tbytes.decode("utf-8", "surrogatepass"), ids)
    return written


def table_entries(
    source: PostingSource,
    fields: Iterable[str],
    lengths_of: dict[str, bytearray],
    written: deque[bytes | None],
) -> Iterator[tuple[str, bytes, bytes]]:
    """The second pass of ``write_postings``: (field, term, term info) of every term, in
    order, with the short lists read again and inlined."""
    for fname in fields:
        lengths = lengths_of.get(fname)
        for tbytes, most, read in source(fname):
            if most > INLINE_LIMIT:
                info = written.popleft()
            else:
                ids, weights, values = read()
                info = _inline_info(ids, weights, values, lengths)
            if info is not None:
                yield fname, tbytes, info
    assert not written, "the posting source gave other terms the second time"


class SegmentBuilder:
    """Collects analysed documents and writes them as one Whoosh segment.

    Stored posts go to the segment file as they come; postings are kept in one array a term
    (4 bytes a number: docnum, frequency, positions) until ``finish``, so a worker can hold a
    large batch and the index ends up with few segments.
    """

    def __init__(self, storage: FileStorage, schema: NewsearchSchema, prefix: str = ""):
        self.storage = storage
        self.schema = schema
        self._out = SegmentWriter(storage, schema, prefix)
        self.segment = self._out.segment
        # word field: term -> its postings in one array, each the docnum, the frequency and
        # the positions: one object a term (most terms of a segment have one or two postings,
        # and an array object costs some 80 bytes before its first item)
        self._words: dict[str, dict[str, array[int]]] = {name: {} for name in WORD_FIELDS}
        # sub-word field: term -> docnum and count of each posting, in one array
        self._subs: dict[str, dict[str, array[int]]] = {name: {} for name in SUB_FIELDS.values()}
        # path, keyword and join fields: term -> docnums
        self._keys: dict[str, dict[str, array[int]]] = {
            name: {} for name in ("path", *KEYWORD_FIELDS, *JOIN_FIELDS.values())
        }
        self._sorted: dict[str, list[str]] = {}
        self.count = 0
        self.text_bytes = 0

    def add(self, doc: Document) -> None:
        n = self.count
        self._keys["path"][doc.path] = array("I", [n])
        lengths: dict[str, int] = {}
        self._out.readings.add_title(n, doc.stored.get("title"))
        for fname in WORD_FIELDS:
            counts = doc.words[fname]
            lengths[fname] = counts.length
            post = self._words[fname]
            get = post.get
            for term, plist in counts.words.items():
                entry = get(term)
                if entry is None:
                    entry = post[term] = array("I", (n, len(plist)))
                else:
                    entry.append(n)
                    entry.append(len(plist))
                entry.extend(plist)
            sname = SUB_FIELDS[fname]
            lengths[sname] = sum(counts.subs.values())
            spost = self._subs[sname]
            sget = spost.get
            for term, c in counts.subs.items():
                sentry = sget(term)
                if sentry is None:
                    spost[term] = array("I", (n, c))
                else:
                    sentry.append(n)
                    sentry.append(c)
            jpost = self._keys[JOIN_FIELDS[fname]]
            for term in counts.joins:
                jentry = jpost.get(term)
                if jentry is None:
                    jentry = jpost[term] = array("I")
                jentry.append(n)
        for fname in KEYWORD_FIELDS:
            kpost = self._keys[fname]
            for term in doc.keywords[fname]:
                kentry = kpost.get(term)
                if kentry is None:
                    kentry = kpost[term] = array("I")
                kentry.append(n)
        columns = {"date_ts": doc.date_ts, "month": doc.month, "state": doc.state}
        record = stored_record(doc)
        if "text" in record:  # a long text goes to the segment's long texts, in pieces
            record["text"] = self._out.texts.stored_value(n, record["text"], doc.words["text"])
        self._out.add_document(encode_stored(record), lengths, columns)
        self.count += 1
        self.text_bytes += doc.text_bytes

    def finish(self) -> Any:
        """Write the segment's files (one compound file) and return the segment object."""
        out = self._out
        out.write_postings(self._terms)
        self._words.clear()
        self._subs.clear()
        self._keys.clear()
        self._sorted.clear()
        return out.finish()

    def _terms(self, fname: str) -> Iterator[TermEntry]:
        if fname in self._words:
            post: dict[str, array[int]] = self._words[fname]
            read: Callable[[array[int]], PostingList] = self._word_list
            # At least as many as its postings: each holds three numbers or more.
            width = 3
        elif fname in self._subs:
            post = self._subs[fname]
            read = self._sub_list
            width = 2
        else:
            post = self._keys[fname]
            read = self._key_list
            width = 1
        terms = self._sorted.pop(fname, None)
        if terms is None:  # the first pass over the field
            terms = self._sorted[fname] = sorted(post)
            take = post.__getitem__
        else:
            # The second, the last: each term's postings go once read, so that the builder's
            # memory falls while the term table is written instead of adding to it.
            take = post.pop
        for term in terms:
            entry = take(term)
            yield term.encode("utf-8", "surrogatepass"), len(entry) // width, partial(read, entry)

    @staticmethod
    def _key_list(docs: array[int]) -> PostingList:
        ids = docs.tolist()
        return ids, [1.0] * len(ids), None

    @staticmethod
    def _word_list(entry: array[int]) -> PostingList:
        n = len(entry)
        if _BIG_ENDIAN:  # positions are stored little-endian
            swapped = array("I", entry)
            swapped.byteswap()
            raw = swapped.tobytes()
        else:
            raw = entry.tobytes()
        count = entry[1]
        if count + 2 == n:  # one posting
            return [entry[0]], [float(count)], [raw[8:]]
        ids: list[int] = []
        weights: list[float] = []
        values: list[bytes] = []
        i = 0
        while i < n:
            count = entry[i + 1]
            ids.append(entry[i])
            weights.append(float(count))
            i += 2
            values.append(raw[4 * i : 4 * (i + count)])
            i += count
        return ids, weights, values

    @staticmethod
    def _sub_list(entry: array[int]) -> PostingList:
        return entry[0::2].tolist(), list(map(float, entry[1::2].tolist())), None

    def cancel(self) -> None:
        """Remove the files written so far (a failed batch)."""
        self._out.cancel()
