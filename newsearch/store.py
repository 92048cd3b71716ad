"""The narrow layer over Whoosh's storage: the index folder, its lock and commits, segments written
straight from analysed documents, and fast bulk reads of postings, columns and stored fields.

Everything that knows Whoosh's on-disk format (the ``whoosh3`` codec: blocks of pickled,
zlib-compressed postings, a table of contents per commit) lives here, so that a maintained fork of
Whoosh could replace it without touching the rest of newsearch.
"""

from __future__ import annotations

import contextlib
import io
import json
import mmap
import os
import pickle
import struct
import sys
import threading
import time
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.index import TOC, EmptyIndexError, clean_files
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.system import pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte

from .analysis import ANALYSIS_VERSION
from .errors import (
    IndexLockedError,
    IndexNotFoundError,
    NewsearchError,
    NotAnIndexError,
    RebuildRequiredError,
)
from .schema import (
    JOIN_FIELDS,
    KEYWORD_FIELDS,
    SCHEMA_VERSION,
    SUB_FIELDS,
    WORD_FIELDS,
    Document,
    FileState,
    IndexSettings,
    NewsearchSchema,
    decode_state,
)

INDEX_NAME = "MAIN"
#: A file that marks a folder as a newsearch index; ``--rebuild`` deletes nothing without it.
MARKER = "NEWSEARCH"
LOCK_FILE = "newsearch.lock"
#: Posting lists this short are stored inside the term table instead of the postings file.
INLINE_LIMIT = 8
BLOCK_LIMIT = 128
#: Blocks smaller than this are not worth compressing.
MIN_COMPRESS = 64
VOCAB_EXT = ".voc"

_INT = struct.Struct("!i")
#: W3TermInfo's fixed part: flags, total weight, doc freq, min/max length byte, max weight,
#: first and last id.
_TERMINFO = W3TermInfo._struct
_LENGTHS = [byte_to_length(b) for b in range(256)]


# --- the folder --------------------------------------------------------------------------------


def folder_kind(folder: str) -> str:
    """``missing``, ``empty``, ``newsearch`` (has the marker) or ``foreign``."""
    if not os.path.exists(folder):
        return "missing"
    if not os.path.isdir(folder):
        return "foreign"
    if os.path.isfile(os.path.join(folder, MARKER)):
        return "newsearch"
    # The lock file and a marker being written: a first build is starting there.
    ours = {LOCK_FILE, MARKER + ".tmp"}
    visible = [n for n in os.listdir(folder) if not n.startswith(".") and n not in ours]
    return "foreign" if visible else "empty"


def write_marker(folder: str) -> None:
    path = os.path.join(folder, MARKER)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"format": "newsearch", "schema_version": SCHEMA_VERSION}, fh)
        fh.write("\n")
    os.replace(tmp, path)


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class WriteLock:
    """One writer per index: an OS lock on a file, released by the OS when the process dies.

    POSIX record locks (``lockf``) belong to the process, so worker processes forked while the
    lock is held do not inherit it, and a killed indexer never leaves a lock behind. Because they
    belong to the process, two writers in one process are kept apart here (and a second lock
    never opens, then closes, the file: closing any descriptor would free the first lock).
    """

    _held: set[str] = set()
    _guard = threading.Lock()

    def __init__(self, folder: str):
        self.path = os.path.join(os.path.realpath(folder), LOCK_FILE)
        self._fd: int | None = None

    def acquire(self, wait: bool = False, poll: float = 0.2) -> None:
        while True:
            with WriteLock._guard:
                if self.path not in WriteLock._held:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                    if _try_lock(fd):
                        self._fd = fd
                        WriteLock._held.add(self.path)
                        return
                    os.close(fd)
            if not wait:
                folder = os.path.dirname(self.path)
                raise IndexLockedError(
                    f"another newsearch process is writing to the index in {folder}"
                    " (use --wait to wait for it)"
                )
            time.sleep(poll)

    def release(self) -> None:
        with WriteLock._guard:
            if self._fd is not None:
                _unlock(self._fd)
                os.close(self._fd)
                self._fd = None
                WriteLock._held.discard(self.path)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


# --- table of contents -------------------------------------------------------------------------


def storage_for(folder: str, readonly: bool = False) -> FileStorage:
    # Searches read segments through _SegmentFiles; Whoosh's own mmap path would copy every
    # file it opens in a segment.
    return FileStorage(folder, readonly=readonly, supports_mmap=False)


def read_toc(folder: str, storage: FileStorage | None = None) -> TOC:
    """The last commit of the index in ``folder``, checked to be a newsearch index we can read."""
    kind = folder_kind(folder)
    if kind in ("missing", "empty"):
        raise IndexNotFoundError(f"no index in {folder} (build one with: newsearch index)")
    if kind == "foreign":
        raise NotAnIndexError(f"{folder} is not a newsearch index")
    storage = storage or storage_for(folder, readonly=True)
    try:
        toc = TOC.read(storage, INDEX_NAME)
    except EmptyIndexError as exc:
        raise IndexNotFoundError(f"the index in {folder} has no commit yet") from exc
    except Exception as exc:  # a truncated or foreign table of contents
        raise NotAnIndexError(f"the index in {folder} cannot be read ({exc}); rebuild it") from exc
    schema = toc.schema
    if not isinstance(schema, NewsearchSchema):
        raise NotAnIndexError(f"{folder} holds a Whoosh index that newsearch did not write")
    analysis = schema.settings().analysis.version
    if schema.newsearch_version != SCHEMA_VERSION or analysis != ANALYSIS_VERSION:
        raise RebuildRequiredError(
            f"the index in {folder} was built by another newsearch version (index format "
            f"{schema.newsearch_version}, analysis {analysis}; this newsearch {SCHEMA_VERSION}, "
            f"{ANALYSIS_VERSION}): rebuild it with: newsearch index --rebuild"
        )
    return toc


def _latest_generation_in(folder: str) -> int:
    try:
        return int(TOC._latest_generation(storage_for(folder, readonly=True), INDEX_NAME))
    except Exception:
        return -1


def commit(
    storage: FileStorage, schema: NewsearchSchema, segments: list[Any], generation: int
) -> None:
    """Make ``segments`` the index: one atomic rename of a new table of contents.

    The segments' files are on disk before (see ``durable``); the new table of contents and the
    folder entry that names it are flushed after, so a power cut keeps a whole commit too.
    """
    TOC(schema, segments, generation).write(storage, INDEX_NAME)
    durable(os.path.join(storage.folder, TOC._filename(INDEX_NAME, generation)))
    durable(storage.folder)


def durable(path: str) -> None:
    """Flush a file (or a folder's entries) to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot flush a folder
    finally:
        os.close(fd)


def clean_up(storage: FileStorage, folder: str, generation: int, segments: list[Any]) -> None:
    """Delete what no commit refers to: old tables of contents, orphan segments, temp files.

    Only safe while holding the write lock and with no worker writing a segment.
    """
    clean_files(storage, INDEX_NAME, generation, segments)
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.endswith(".tmp") and os.path.isdir(path):
            _rmtree(path)
        elif name.startswith(f"_{INDEX_NAME}_") and ".toc." in name:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


# --- writing a segment -------------------------------------------------------------------------


#: Pickle protocol of postings blocks. Whoosh writes protocol 2, which stores each positions
#: value (bytes) as a call to codecs.encode: protocol 4 unpickles 4x faster and is half the
#: size. Whoosh reads any protocol.
_PICKLE = 4
#: zlib level of postings blocks and stored fields: level 1 costs half the time of Whoosh's
#: level 3 for 4% more bytes, and any level reads the same way.
COMPRESSION = 1


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
        databytes = pickle.dumps(data, _PICKLE)
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
            _PICKLE,
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
                pack_ushort(self._fieldid) + btext, info + pickle.dumps(inlined, _PICKLE)
            )
            return
        self.start_term(btext)
        self._postwriter.write_list(ids, weights, values, lengths)
        self.finish_term()


class SegmentBuilder:
    """Collects analysed documents in memory and writes them as one Whoosh segment.

    Postings are kept per term in compact arrays (about 14 bytes a posting), so a worker can hold
    a large batch and the index ends up with few segments.
    """

    def __init__(self, storage: FileStorage, schema: NewsearchSchema):
        self.storage = storage
        self.schema = schema
        self.codec = _codec()
        self.segment = self.codec.new_segment(storage, INDEX_NAME)
        self._pdw = _PerDocWriter(self.codec, storage, self.segment)
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
        self._lengths: dict[str, array[int]] = {
            name: array("I") for name in (*WORD_FIELDS, *SUB_FIELDS.values())
        }
        self._columns = {name: schema[name].column_type for name in ("date_ts", "month", "state")}
        self.count = 0
        self.text_bytes = 0

    def add(self, doc: Document) -> None:
        n = self.count
        schema = self.schema
        pdw = self._pdw
        pdw.start_doc(n)
        pdw.add_field("path", schema["path"], doc.path, 0)
        self._keys["path"][doc.path] = array("I", [n])
        for fname in WORD_FIELDS:
            counts = doc.words[fname]
            pdw.add_field(fname, schema[fname], doc.stored.get(fname), counts.length)
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
        cols = self._columns
        pdw.add_column_value("date_ts", cols["date_ts"], doc.date_ts)
        pdw.add_column_value("month", cols["month"], doc.month)
        pdw.add_column_value("state", cols["state"], doc.state)
        pdw.finish_doc()
        self.count += 1
        self.text_bytes += doc.text_bytes

    def finish(self) -> Any:
        """Write the segment's files (one compound file) and return the segment object."""
        self._pdw.close()
        fw = _BulkFieldWriter(self.codec, self.storage, self.segment)
        schema = self.schema
        # Field ids are given in the order fields are started; the term table wants its keys
        # (field id, term) in ascending order, so every field is written in one go.
        for fname in ("path", *KEYWORD_FIELDS, *JOIN_FIELDS.values()):
            post = self._keys[fname]
            if not post:
                continue
            fw.start_field(fname, schema[fname])
            for term in sorted(post):
                ids = post[term].tolist()
                fw.add_list(
                    term.encode("utf-8", "surrogatepass"),
                    ids,
                    [1.0] * len(ids),
                    None,
                    [0] * len(ids),
                )
            fw.finish_field()
        for fname in WORD_FIELDS:
            self._write_words(fw, fname)
            self._write_subs(fw, SUB_FIELDS[fname])
        fw.close()
        for fname in WORD_FIELDS:
            terms = sorted(self._words[fname])
            blob = ("\n" + "\n".join(terms) + "\n").encode("utf-8", "surrogatepass")
            with self.segment.create_file(self.storage, f".{fname}{VOCAB_EXT}") as fh:
                fh.write(zlib.compress(blob, 1))
        self._words.clear()
        self._subs.clear()
        self._keys.clear()
        self.segment.set_doc_count(self.count)
        self.segment.create_compound_file(self.storage)
        durable(os.path.join(self.storage.folder, self.segment.make_filename(".seg")))
        return self.segment

    def _write_words(self, fw: _BulkFieldWriter, fname: str) -> None:
        def postings(entry: tuple[array[int], array[int], array[int]]) -> tuple[Any, ...]:
            docs, freqs, positions = entry
            counts = freqs.tolist()
            if sys.byteorder == "big":  # positions are stored little-endian
                positions.byteswap()
            posbytes = positions.tobytes()
            if len(counts) == 1:
                return docs.tolist(), counts, [posbytes]
            ends = list(accumulate(c * 4 for c in counts))
            values = [posbytes[e - c * 4 : e] for e, c in zip(ends, counts, strict=True)]
            return docs.tolist(), counts, values

        self._write_field(fw, fname, self._words[fname], postings)

    def _write_subs(self, fw: _BulkFieldWriter, fname: str) -> None:
        def postings(entry: tuple[array[int], array[int]]) -> tuple[Any, ...]:
            return entry[0].tolist(), entry[1].tolist(), None

        self._write_field(fw, fname, self._subs[fname], postings)

    def _write_field(
        self, fw: _BulkFieldWriter, fname: str, post: dict[str, Any], postings: Any
    ) -> None:
        """One field's terms in order, each posting list as (ids, frequencies, values)."""
        if not post:
            return
        lengths = self._lengths[fname]
        fw.start_field(fname, self.schema[fname])
        for term in sorted(post):
            ids, counts, values = postings(post[term])
            fw.add_list(
                term.encode("utf-8", "surrogatepass"),
                ids,
                [float(c) for c in counts],
                values,
                [lengths[i] for i in ids],
            )
        fw.finish_field()

    def cancel(self) -> None:
        """Remove the files written so far (a failed batch)."""
        with contextlib.suppress(Exception):
            self._pdw.close()
        for name in self.segment.list_files(self.storage):
            with contextlib.suppress(OSError):
                self.storage.delete_file(name)


# --- reading -----------------------------------------------------------------------------------


@dataclass
class Postings:
    """One term's postings over the whole index: global docnums, weights, optional values."""

    docs: list[int]
    weights: list[float]
    values: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.docs)


EMPTY = Postings([], [], None)


class _MemoryReader(io.RawIOBase):
    """A file over a memory view, for Whoosh's readers: reads copy only what they return."""

    def __init__(self, buf: memoryview):
        self._buf = buf
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._buf) if size is None or size < 0 else min(len(self._buf), self._pos + size)
        out = bytes(self._buf[self._pos : end])
        self._pos = end
        return out

    def readline(self, size: int | None = -1) -> bytes:
        end = len(self._buf) if size is None or size < 0 else min(len(self._buf), self._pos + size)
        data = self._buf[self._pos : end]
        i = bytes(data).find(b"\n")
        return self.read(i + 1 if i != -1 else end - self._pos)

    def seek(self, pos: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._buf))[whence]
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos


class _ViewFile(BufferFile):
    """Whoosh's BufferFile without the copy it makes of the whole buffer."""

    def __init__(self, buf: memoryview, name: str | None = None):
        self._buf = buf
        self._name = name
        self.file = _MemoryReader(buf)
        self.onclose = None
        self.is_real = False
        self.is_closed = False


class _SegmentFiles:
    """The files inside one compound segment, served from a single mmap without copies.

    Whoosh reads a compound segment either by copying each file it opens whole into memory
    (with mmap) or through a system call per read (without): both are slow for an index of
    tens of megabytes that a search touches here and there.
    """

    supports_mmap = True

    def __init__(self, folder: str, segment: Any):
        path = os.path.join(folder, segment.make_filename(segment.COMPOUND_EXT))
        with open(path, "rb") as fh:
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._mm)
        directory = CompoundStorage(_ViewFile(self._view), use_mmap=False)
        self._dir = {name: directory.range(name) for name in directory.list()}
        self.folder = folder

    def mapped(self, name: str) -> tuple[memoryview, int]:
        offset, _ = self._dir[name]
        return self._view, offset

    def open_file(self, name: str, *args: Any, **kwargs: Any) -> _ViewFile:
        if name not in self._dir:
            raise NameError(name)
        offset, length = self._dir[name]
        return _ViewFile(self._view[offset : offset + length], name=name)

    def file_exists(self, name: str) -> bool:
        return name in self._dir

    def file_length(self, name: str) -> int:
        return self._dir[name][1]

    def list(self) -> list[str]:
        return list(self._dir)

    def close(self) -> None:
        self._view.release()
        with contextlib.suppress(BufferError):
            self._mm.close()


class _Uncompounded:
    """A segment that tells Whoosh it is not compound: its files come from _SegmentFiles."""

    def __init__(self, segment: Any):
        self._segment = segment

    def is_compound(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._segment, name)


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
        self._storage = storage
        self.files: Any
        if segment.is_compound():
            self.files = _SegmentFiles(storage.folder, segment)
            self.reader = SegmentReader(
                self.files, schema, _Uncompounded(segment), generation=generation
            )
        else:
            self.files = storage
            self.reader = SegmentReader(storage, schema, segment, generation=generation)
        self.offset = offset
        self.count = segment.doc_count_all()
        deleted = segment.deleted_docs()
        self.deleted = frozenset(deleted) if deleted else frozenset()
        self._postings_map: Any = None
        self._postings_base = 0

    def term_info(self, fieldname: str, tbytes: bytes) -> Any:
        try:
            return self.reader.term_info(fieldname, tbytes)
        except (TermNotFound, KeyError):
            return None

    def postings(
        self, fieldname: str, tbytes: bytes, want_values: bool
    ) -> tuple[list[int], list[float], list[bytes] | None] | None:
        info = self.term_info(fieldname, tbytes)
        if info is None:
            return None
        if info.is_inlined():
            ids, weights, values = info.inlined_postings()
            ids, weights = list(ids), list(weights)
            vals = list(values) if want_values else None
        else:
            ids, weights, vals = _read_blocks(self._postings_data(info), want_values)
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
        return terms.items_from(fieldname, b"")

    def read_postings(
        self, info: Any, want_values: bool
    ) -> tuple[list[int], list[float], list[bytes] | None]:
        """A term's postings with local document numbers, deleted documents included."""
        if info.is_inlined():
            ids, weights, values = info.inlined_postings()
            return list(ids), list(weights), list(values) if want_values else None
        return _read_blocks(self._postings_data(info), want_values)

    def values_for(self, fieldname: str, tbytes: bytes, wanted: list[int]) -> dict[int, bytes]:
        """Values (positions) of the postings of ``wanted`` local docs (sorted), decoding only
        the blocks that can hold them."""
        info = self.term_info(fieldname, tbytes)
        out: dict[int, bytes] = {}
        if info is None or not wanted:
            return out
        if info.is_inlined():
            ids, _weights, values = info.inlined_postings()
            want = set(wanted)
            for d, v in zip(ids, values, strict=False):
                if d in want:
                    out[d] = v
            return out
        prev_max = -1
        want = set(wanted)
        for (_count, maxid, _maxw, _comp, _mn, _mx), body in _blocks(self._postings_data(info)):
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

    def _postings_data(self, info: Any) -> bytes:
        """The bytes of a term's posting blocks, sliced from the segment's mapped file."""
        if self._postings_map is None:
            self._map_postings()
        offset, length = info.extent()
        if isinstance(length, tuple):  # W3TermInfo.from_bytes leaves the length unpacked
            length = length[0]
        start = self._postings_base + offset
        return bytes(self._postings_map[start : start + length])

    def _map_postings(self) -> None:
        """The segment's postings file as a memory view (no copy)."""
        name = self.segment.make_filename(W3Codec.POSTS_EXT)
        if isinstance(self.files, _SegmentFiles):
            self._postings_map, self._postings_base = self.files.mapped(name)
            return
        with open(os.path.join(self._storage.folder, name), "rb") as fh:
            self._postings_map = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        self._postings_base = 0

    def numeric_column(self, fieldname: str, typecode: str, default: int) -> array[int]:
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
        raw = self.numeric_column(f"_{fieldname}_len", "B", 0)
        table = _LENGTHS
        return [table[b] for b in raw]

    def vocabulary(self, fieldname: str) -> str:
        name = self.segment.make_filename(f".{fieldname}{VOCAB_EXT}")
        if not self.files.file_exists(name):
            return "\n"
        with self.files.open_file(name) as fh:
            return zlib.decompress(fh.read()).decode("utf-8")

    def close(self) -> None:
        self.reader.close()
        self._postings_map = None
        if isinstance(self.files, _SegmentFiles):
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


def _read_blocks(
    data: bytes, want_values: bool
) -> tuple[list[int], list[float], list[bytes] | None]:
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
                generation = _latest_generation_in(folder)
                if generation == failed_generation or attempt == 7:
                    raise NotAnIndexError(
                        f"the index in {folder} is damaged ({type(exc).__name__}: {exc}); "
                        "rebuild it with: newsearch index --rebuild"
                    ) from exc
                failed_generation = generation
                time.sleep(0.02 * (attempt + 1))
        self._cache: OrderedDict[tuple[str, str, bool], Postings] = OrderedDict()
        self._cache_size = 0
        self._cache_limit = cache_postings
        self._memo: dict[Any, Any] = {}
        self._lock = threading.RLock()

    def _open(self, folder: str) -> None:
        self.storage = storage_for(folder, readonly=True)
        toc = read_toc(folder, self.storage)
        self.schema: NewsearchSchema = toc.schema
        self.settings: IndexSettings = self.schema.settings()
        self.generation = toc.generation
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

    def memo(self, key: Any, make: Any) -> Any:
        """A value computed once per snapshot (columns, vocabularies, statistics)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = make()
        with self._lock:
            self._memo[key] = value
        return value

    def numeric_column(self, fieldname: str) -> list[int]:
        col = self.schema[fieldname].column_type
        assert isinstance(col, wcolumns.NumericColumn)

        def make() -> list[int]:
            out: list[int] = []
            for v in self.segments:
                out.extend(v.numeric_column(fieldname, col._typecode, col._default))
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

    def stored(self, docnum: int) -> dict[str, Any]:
        view, local = self._locate(docnum)
        with self._lock:
            return dict(view.reader.stored_fields(local))

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


# --- merging -----------------------------------------------------------------------------------


def merge_segments(
    storage: FileStorage, schema: NewsearchSchema, segments: list[Any], generation: int
) -> Any:
    """Write the live documents of ``segments`` as one new segment and return it.

    Stored values, columns and postings are copied as they are (positions stay encoded), so no
    post is read or analysed again; deleted documents are dropped. The caller commits the result
    in place of the merged segments.
    """
    views = [SegmentView(storage, schema, seg, 0, generation) for seg in segments]
    try:
        return _merge(storage, schema, views)
    finally:
        for v in views:
            v.close()


def _merge(storage: FileStorage, schema: NewsearchSchema, views: list[SegmentView]) -> Any:
    codec = _codec()
    segment = codec.new_segment(storage, INDEX_NAME)
    pdw = _PerDocWriter(codec, storage, segment)
    scorable = (*WORD_FIELDS, *SUB_FIELDS.values())
    stored_only = ("path", "url", "source_url", "date", *KEYWORD_FIELDS)
    col_types = {name: schema[name].column_type for name in ("date_ts", "month", "state")}
    lengths: dict[str, array[int]] = {name: array("I") for name in scorable}
    docmaps: list[dict[int, int]] = []
    n = 0
    try:
        for view in views:
            docmap: dict[int, int] = {}
            docmaps.append(docmap)
            view_lengths = {name: view.lengths(name) for name in scorable}
            cols = {
                "date_ts": view.numeric_column("date_ts", "q", col_types["date_ts"]._default),
                "month": view.numeric_column("month", "i", 0),
            }
            state = view.reader.column_reader("state", translate=False)
            for local in range(view.count):
                if local in view.deleted:
                    continue
                docmap[local] = n
                stored = view.reader.stored_fields(local)
                pdw.start_doc(n)
                for name in stored_only:
                    pdw.add_field(name, schema[name], stored.get(name), 0)
                for name in scorable:
                    length = view_lengths[name][local]
                    lengths[name].append(length)
                    pdw.add_field(name, schema[name], stored.get(name), length)
                pdw.add_column_value("date_ts", col_types["date_ts"], cols["date_ts"][local])
                pdw.add_column_value("month", col_types["month"], cols["month"][local])
                pdw.add_column_value("state", col_types["state"], state[local])
                pdw.finish_doc()
                n += 1
        pdw.close()
        fw = _BulkFieldWriter(codec, storage, segment)
        vocab: dict[str, list[str]] = {name: [] for name in WORD_FIELDS}
        order = ("path", *KEYWORD_FIELDS, *JOIN_FIELDS.values())
        order += tuple(f for name in WORD_FIELDS for f in (name, SUB_FIELDS[name]))
        for fname in order:
            fobj = schema[fname]
            positional = fname in WORD_FIELDS
            flens = lengths.get(fname)
            started = False
            for tbytes, parts in _merged_terms(views, fname):
                ids: list[int] = []
                weights: list[float] = []
                values: list[bytes] | None = [] if positional else None
                for vi, info in parts:
                    lids, lweights, lvalues = views[vi].read_postings(info, positional)
                    docmap = docmaps[vi]
                    for k, d in enumerate(lids):
                        new = docmap.get(d)
                        if new is None:
                            continue
                        ids.append(new)
                        weights.append(lweights[k])
                        if values is not None and lvalues is not None:
                            values.append(lvalues[k])
                if not ids:
                    continue
                if not started:
                    fw.start_field(fname, fobj)
                    started = True
                lens = [flens[i] for i in ids] if flens is not None else [0] * len(ids)
                fw.add_list(tbytes, ids, weights, values, lens)
                if fname in vocab:
                    vocab[fname].append(tbytes.decode("utf-8", "surrogatepass"))
            if started:
                fw.finish_field()
        fw.close()
        for fname, terms in vocab.items():
            blob = ("\n" + "\n".join(terms) + "\n").encode("utf-8", "surrogatepass")
            with segment.create_file(storage, f".{fname}{VOCAB_EXT}") as fh:
                fh.write(zlib.compress(blob, 1))
        segment.set_doc_count(n)
        segment.create_compound_file(storage)
        durable(os.path.join(storage.folder, segment.make_filename(".seg")))
        return segment
    except BaseException:
        for name in segment.list_files(storage):
            with contextlib.suppress(OSError):
                storage.delete_file(name)
        raise


def _merged_terms(
    views: list[SegmentView], fname: str
) -> Iterator[tuple[bytes, list[tuple[int, Any]]]]:
    """Terms of one field over all views, in order, each with (view, term info) pairs."""
    import heapq

    def one(vi: int) -> Iterator[tuple[bytes, int, Any]]:
        for (name, tbytes), info in views[vi].term_items(fname):
            if name != fname:
                return
            yield tbytes, vi, info

    current: bytes | None = None
    parts: list[tuple[int, Any]] = []
    for tbytes, vi, info in heapq.merge(*(one(i) for i in range(len(views)))):
        if tbytes != current:
            if current is not None:
                yield current, parts
            current, parts = tbytes, []
        parts.append((vi, info))
    if current is not None:
        yield current, parts
