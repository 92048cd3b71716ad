"""Writing segments: analysed documents (or the documents of merged segments) to one Whoosh
segment through Whoosh's ``whoosh3`` codec, whole posting lists at a time.

``SegmentWriter`` is the one way a segment is written, finished and, on failure, removed;
``SegmentBuilder`` feeds it documents from the analysis, ``merge`` feeds it older segments.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from whoosh import columns as wcolumns
from whoosh.codec.whoosh3 import (
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3PerDocWriter,
    W3PostingsWriter,
    W3TermInfo,
)
from whoosh.filedb.filestore import FileStorage
from whoosh.system import pack_ushort
from whoosh.util.numeric import length_to_byte

from ..schema import (
    JOIN_FIELDS,
    KEYWORD_FIELDS,
    SUB_FIELDS,
    WORD_FIELDS,
    Document,
    NewsearchSchema,
)
from . import readings
from .checksums import ChunkSums, set_file_record
from .folder import INDEX_NAME, Output, write_error
from .texts import LongTextWriter

#: Posting lists this short are stored inside the term table instead of the postings file.
INLINE_LIMIT = 8
BLOCK_LIMIT = 128
#: Blocks smaller than this are not worth compressing.
MIN_COMPRESS = 64
VOCAB_EXT = ".voc"
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

_TERMINFO = W3TermInfo._struct
#: The compound file's header: where its directory starts, and the directory's length.
_COMPOUND_HEADER = struct.Struct("!qi")

#: One posting list as a segment writes it: term, docnums, weights, values (positions) or None,
#: and the field length of each document.
PostingList = tuple[bytes, list[int], list[float], "list[bytes] | None", list[int]]


def _codec() -> W3Codec:
    return W3Codec(blocklimit=BLOCK_LIMIT, compression=COMPRESSION)


class _PerDocWriter(W3PerDocWriter):
    """Whoosh's per-document writer, storing fields with COMPRESSION instead of level 3."""

    def __init__(self, codec: W3Codec, storage: FileStorage, segment: Any):
        super().__init__(codec, storage, segment)
        # Nothing is written yet: replace the stored-fields column before the first document.
        del self._colwriters["_stored"]
        self._create_column("_stored", _STORED_COLUMN)


_STORED_COLUMN = wcolumns.PickleColumn(wcolumns.CompressedBytesColumn(level=COMPRESSION))


class _BulkPostingsWriter(W3PostingsWriter):
    """Whoosh's postings writer, fed a whole posting list at a time instead of one posting."""

    def write_list(
        self, ids: list[int], weights: list[float], values: list[bytes] | None, lengths: list[int]
    ) -> None:
        n = len(ids)
        for start in range(0, n, self._blocklimit):
            end = start + self._blocklimit
            self._fill(
                ids[start:end],
                weights[start:end],
                values[start:end] if values else None,
                lengths[start:end],
            )
            if end < n:
                self._write_block()

    def _fill(
        self, ids: list[int], weights: list[float], values: list[bytes] | None, lengths: list[int]
    ) -> None:
        self._ids = array("I", ids)
        self._weights = array("f", weights)
        self._values = values if values is not None else []
        self._minlength = min(lengths)
        self._maxlength = max(lengths)
        self._maxweight = max(weights)

    def _write_block(self, last: bool = False) -> None:
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)
        self._terminfo.add_block(self)
        data = (self._mini_ids(), self._mini_weights(), self._mini_values())
        databytes = pickle.dumps(data, PICKLE_PROTOCOL)
        comp = self._compression if len(databytes) >= MIN_COMPRESS else 0
        if comp:
            databytes = zlib.compress(databytes, comp)
        ids = self._ids
        infobytes = pickle.dumps(
            (
                len(ids),
                ids[-1],
                self._maxweight,
                comp,
                length_to_byte(self._minlength),
                length_to_byte(self._maxlength),
            ),
            PICKLE_PROTOCOL,
        )
        blocklength = len(infobytes) + len(databytes)
        if last:
            blocklength = -blocklength
        self._postfile.write_int(blocklength)
        self._postfile.write(infobytes)
        self._postfile.write(databytes)
        self._blockcount += 1
        self._new_block()


class _BulkFieldWriter(W3FieldWriter):
    def start_field(self, fieldname: str, fieldobj: Any) -> None:
        super().start_field(fieldname, fieldobj)
        codec = self._codec
        self._postwriter = _BulkPostingsWriter(
            self._postfile, codec._blocklimit, compression=codec._compression
        )

    def add_list(
        self,
        btext: bytes,
        ids: list[int],
        weights: list[float],
        values: list[bytes] | None,
        lengths: list[int],
    ) -> None:
        if len(ids) <= INLINE_LIMIT:
            # Whoosh reads postings kept in the term table (a pickled tuple after the term info),
            # though its own writer never stores them there; most terms of a segment have one
            # or two postings, and this saves a block, a seek and a decompression for each.
            info = _TERMINFO.pack(
                1,
                sum(weights),
                len(ids),
                length_to_byte(min(lengths)),
                length_to_byte(max(lengths)),
                max(weights),
                ids[0],
                ids[-1],
            )
            inlined = (tuple(ids), tuple(weights), tuple(values) if values else ())
            self._tindex.add(
                pack_ushort(self._fieldid) + btext, info + pickle.dumps(inlined, PICKLE_PROTOCOL)
            )
            return
        self.start_term(btext)
        self._postwriter.write_list(ids, weights, values, lengths)
        self.finish_term()


class SegmentWriter:
    """One new segment: per-document values first (``docs``), then each field's posting lists
    (``write_field``), then ``finish``; ``cancel`` removes what was written."""

    def __init__(self, storage: FileStorage, schema: NewsearchSchema, prefix: str = ""):
        self.storage = storage
        self.schema = schema
        self.codec = _codec()
        self.segment = self.codec.new_segment(storage, INDEX_NAME)
        # The segments of one build share a prefix: if the build fails before its first
        # commit, it removes its own files by that prefix (see folder.remove_prefixed).
        self.segment.segid = prefix + self.segment.segid[len(prefix) :]
        #: Whoosh's writer of stored fields, columns and field lengths.
        self.docs = _PerDocWriter(self.codec, storage, self.segment)
        self.columns = {name: schema[name].column_type for name in COLUMNS}
        self._fields: _BulkFieldWriter | None = None
        # The words of each word field, for the segment's vocabulary file (see vocabulary()).
        self._vocabulary: dict[str, list[str]] = {name: [] for name in WORD_FIELDS}
        #: Long texts, stored in pieces beside the stored fields (see store.texts).
        self.texts = LongTextWriter(storage, self.segment)
        #: The segment's readings file (pinyin, post counts, titles), filled as it is written.
        self.readings = readings.ReadingsWriter()

    def write_field(self, fname: str, lists: Iterable[PostingList]) -> None:
        """One field's posting lists, in term order (empty lists are not written)."""
        fw = self._field_writer()
        words = self._vocabulary.get(fname)
        counted = fname in readings.WORD_FIELDS or fname in readings.SUB_FIELDS
        started = False
        for tbytes, ids, weights, values, lengths in lists:
            if not ids:
                continue
            if not started:
                fw.start_field(fname, self.schema[fname])
                started = True
            fw.add_list(tbytes, ids, weights, values, lengths)
            if counted:
                term = tbytes.decode("utf-8", "surrogatepass")
                self.readings.add_list(fname, term, ids)
                if words is not None:
                    words.append(term)
        if started:
            fw.finish_field()

    def finish(self, count: int) -> Any:
        """Write the vocabularies, make the segment one compound file on disk, return it."""
        self._field_writer().close()
        for fname, words in self._vocabulary.items():
            # A newline before and after every word: "words containing X" is one regular
            # expression search over the whole vocabulary (see matching).
            blob = ("\n" + "\n".join(words) + "\n").encode("utf-8", "surrogatepass")
            with self.segment.create_file(self.storage, f".{fname}{VOCAB_EXT}") as fh:
                fh.write(zlib.compress(blob, 1))
        self._vocabulary.clear()
        self.texts.finish()
        self.readings.write(self.segment, self.storage)
        self.segment.set_doc_count(count)
        _assemble(self.storage, self.segment)
        return self.segment

    def _field_writer(self) -> _BulkFieldWriter:
        # Postings come after the per-document values: the term table is written last.
        if self._fields is None:
            self.docs.close()
            self._fields = _BulkFieldWriter(self.codec, self.storage, self.segment)
        return self._fields

    def cancel(self) -> None:
        """Remove the files written so far (a failed batch or merge)."""
        # What Whoosh's per-document writer holds is in memory (folder.WriteStorage).
        self.texts.abandon()
        for name in self.segment.list_files(self.storage):
            with contextlib.suppress(OSError):
                self.storage.delete_file(name)


def _assemble(storage: FileStorage, segment: Any) -> None:
    """Join the segment's files into one compound file (Whoosh's format, which Whoosh reads as
    its own) with a footer of chunk checksums computed as it is written, flushed to the disk;
    the parts are removed. The segment object records the file's size and footer checksum."""
    folder = storage.folder
    parts = sorted(segment.list_files(storage))
    directory: dict[str, dict[str, Any]] = {}
    pos = _COMPOUND_HEADER.size
    for name in parts:
        length = storage.file_length(name)
        directory[name] = {"offset": pos, "length": length, "modified": 0}
        pos += length
    # The directory's place is known before the first byte: the file is written in one pass.
    trailer = pickle.dumps(directory, -1) + pickle.dumps({}, -1)
    name = segment.make_filename(segment.COMPOUND_EXT)
    out = Output(os.path.join(folder, name), folder, sums=ChunkSums(), sync=True)
    try:
        out.write(_COMPOUND_HEADER.pack(pos, len(trailer)))
        for part in parts:
            try:
                with open(os.path.join(folder, part), "rb") as fh:
                    while piece := fh.read(1 << 20):
                        out.write(piece)
            except OSError as exc:
                raise write_error(folder, exc, part) from exc
        out.write(trailer)
        crc = out.footer()
        size = out.tell()
        out.close()
    except BaseException:
        out.abandon()
        raise
    for part in parts:
        storage.delete_file(part)
    segment.compound = True
    set_file_record(segment, (size, crc))


class SegmentBuilder:
    """Collects analysed documents in memory and writes them as one Whoosh segment.

    Postings are kept per term in compact arrays (about 14 bytes a posting), so a worker can hold
    a large batch and the index ends up with few segments.
    """

    def __init__(self, storage: FileStorage, schema: NewsearchSchema, prefix: str = ""):
        self.storage = storage
        self.schema = schema
        self._out = SegmentWriter(storage, schema, prefix)
        self.segment = self._out.segment
        # word field: term -> (docnums, frequencies, positions of every posting in a row)
        self._words: dict[str, dict[str, tuple[array[int], array[int], array[int]]]] = {
            name: {} for name in WORD_FIELDS
        }
        # sub-word field: term -> [docnums, counts]
        self._subs: dict[str, dict[str, tuple[array[int], array[int]]]] = {
            name: {} for name in SUB_FIELDS.values()
        }
        # path, keyword and join fields: term -> docnums
        self._keys: dict[str, dict[str, array[int]]] = {
            name: {} for name in ("path", *KEYWORD_FIELDS, *JOIN_FIELDS.values())
        }
        self._lengths: dict[str, array[int]] = {name: array("I") for name in SCORABLE}
        self.count = 0
        self.text_bytes = 0

    def add(self, doc: Document) -> None:
        n = self.count
        schema = self.schema
        pdw = self._out.docs
        pdw.start_doc(n)
        pdw.add_field("path", schema["path"], doc.path, 0)
        self._keys["path"][doc.path] = array("I", [n])
        self._out.readings.add_title(n, doc.stored.get("title"))
        for fname in WORD_FIELDS:
            counts = doc.words[fname]
            value = doc.stored.get(fname)
            if fname == "text":  # a long text goes to the segment's long texts, in pieces
                value = self._out.texts.stored_value(n, value, counts)
            pdw.add_field(fname, schema[fname], value, counts.length)
            self._lengths[fname].append(counts.length)
            post = self._words[fname]
            get = post.get
            for term, plist in counts.words.items():
                entry = get(term)
                if entry is None:
                    entry = post[term] = (array("I"), array("I"), array("I"))
                entry[0].append(n)
                entry[1].append(len(plist))
                entry[2].extend(plist)
            sname = SUB_FIELDS[fname]
            sublength = sum(counts.subs.values())
            pdw.add_field(sname, schema[sname], None, sublength)
            self._lengths[sname].append(sublength)
            spost = self._subs[sname]
            for term, c in counts.subs.items():
                sentry = spost.get(term)
                if sentry is None:
                    sentry = spost[term] = (array("I"), array("I"))
                sentry[0].append(n)
                sentry[1].append(c)
            jpost = self._keys[JOIN_FIELDS[fname]]
            for term in counts.joins:
                jentry = jpost.get(term)
                if jentry is None:
                    jentry = jpost[term] = array("I")
                jentry.append(n)
        for fname in KEYWORD_FIELDS:
            pdw.add_field(fname, schema[fname], doc.stored.get(fname), 0)
            kpost = self._keys[fname]
            for term in doc.keywords[fname]:
                kentry = kpost.get(term)
                if kentry is None:
                    kentry = kpost[term] = array("I")
                kentry.append(n)
        for fname in ("url", "source_url", "date"):
            pdw.add_field(fname, schema[fname], doc.stored.get(fname), 0)
        cols = self._out.columns
        pdw.add_column_value("date_ts", cols["date_ts"], doc.date_ts)
        pdw.add_column_value("month", cols["month"], doc.month)
        pdw.add_column_value("state", cols["state"], doc.state)
        pdw.finish_doc()
        self.count += 1
        self.text_bytes += doc.text_bytes

    def finish(self) -> Any:
        """Write the segment's files (one compound file) and return the segment object."""
        out = self._out
        for fname in FIELD_ORDER:
            if fname in self._words:
                out.write_field(fname, self._word_lists(fname))
            elif fname in self._subs:
                out.write_field(fname, self._sub_lists(fname))
            else:
                out.write_field(fname, self._key_lists(fname))
        self._words.clear()
        self._subs.clear()
        self._keys.clear()
        return out.finish(self.count)

    def _key_lists(self, fname: str) -> Iterable[PostingList]:
        post = self._keys[fname]
        for term in sorted(post):
            ids = post[term].tolist()
            yield term.encode("utf-8", "surrogatepass"), ids, [1.0] * len(ids), None, [0] * len(ids)

    def _word_lists(self, fname: str) -> Iterable[PostingList]:
        lengths = self._lengths[fname]
        post = self._words[fname]
        for term in sorted(post):
            docs, freqs, positions = post[term]
            counts = freqs.tolist()
            if sys.byteorder == "big":  # positions are stored little-endian
                positions.byteswap()
            posbytes = positions.tobytes()
            if len(counts) == 1:
                values = [posbytes]
            else:
                ends = list(accumulate(c * 4 for c in counts))
                values = [posbytes[e - c * 4 : e] for e, c in zip(ends, counts, strict=True)]
            ids = docs.tolist()
            yield (
                term.encode("utf-8", "surrogatepass"),
                ids,
                [float(c) for c in counts],
                values,
                [lengths[i] for i in ids],
            )

    def _sub_lists(self, fname: str) -> Iterable[PostingList]:
        lengths = self._lengths[fname]
        post = self._subs[fname]
        for term in sorted(post):
            docs, counts = post[term]
            ids = docs.tolist()
            yield (
                term.encode("utf-8", "surrogatepass"),
                ids,
                [float(c) for c in counts.tolist()],
                None,
                [lengths[i] for i in ids],
            )

    def cancel(self) -> None:
        """Remove the files written so far (a failed batch)."""
        self._out.cancel()
