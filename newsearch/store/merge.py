"""Merging segments: the live documents of several segments copied into one new segment.

Each kind of part is merged by its own function: the documents (stored posts copied as the
segments hold them, compressed; lengths and columns), the postings (positions stay encoded), and
any other per-segment part (``PART_MERGERS``). No post is read or analysed again; deleted
documents are dropped. Everything read is checked against its checksums on the way.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from operator import itemgetter
from typing import Any, TypeAlias

from whoosh.filedb.filestore import FileStorage

from ..schema import WORD_FIELDS, NewsearchSchema
from . import readings
from .folder import Output
from .reader import RawPostings, SegmentView, TermInfo
from .writer import (
    FIELD_ORDER,
    SCORABLE,
    PostingSource,
    SegmentWriter,
    TermEntry,
    append_file,
    write_long_lists,
)

#: docnum in a merged segment -> its new docnum (-1: deleted, dropped), one array per segment.
DocMap: TypeAlias = "array[int]"
#: Merges of other per-segment parts (added to a segment with ``SegmentWriter.add_part``):
#: extension -> a function of the merged segments and their docmaps that gives the merged
#: part's bytes (None: no such part).
PART_MERGERS: dict[str, Callable[[list[SegmentView], list[DocMap]], bytes | None]] = {}

_DF = struct.Struct("!I")
#: Every this many documents or terms, the pages of the merged segments read so far are dropped
#: from the process's memory (see ChunkedFile.release): a merge's memory stays the same however
#: large the segments.
RELEASE_EVERY = 4096


#: Starts the writing of a merge's last posting lists in another process: (the split field,
#: its first term there, the file to write) -> a function that waits for it and gives its
#: result (``write_tail``, run by the caller's process pool).
TailHelper: TypeAlias = "Callable[[str, bytes, str], Callable[[], Tail]]"
#: The field whose terms a merge on two cores cuts in two, and the share of its postings (by
#: positions) the other process writes, with every field after it: "text" is about 60% of a
#: merge's time, the fields before it and the documents about 25%, "text_sub" 10%.
SPLIT_FIELD = "text"
TAIL_SHARE = 0.55
#: A merge smaller than this (posts) is not worth a second process.
MIN_SPLIT_POSTS = 2000


def merge_segments(
    storage: FileStorage,
    schema: NewsearchSchema,
    segments: list[Any],
    generation: int = 0,
    prefix: str = "",
    helper: TailHelper | None = None,
) -> Any:
    """Write the live documents of ``segments`` as one new segment and return it.

    The caller commits the result in place of the merged segments. With ``helper``, the last
    posting lists (from a term of SPLIT_FIELD on) are written at the same time by another
    process, and their bytes copied in after this process's: the segment is the same, byte
    for byte, as without it.
    """
    views = [SegmentView(storage, schema, seg, 0, generation) for seg in segments]
    try:
        out = SegmentWriter(storage, schema, prefix)
        tail: _PastedTail | None = None
        try:
            split = _split_term(views) if helper is not None else None
            if helper is not None and split is not None:
                path = os.path.join(storage.folder, out.segment.make_filename(TAIL_EXT))
                tail = _PastedTail(helper(SPLIT_FIELD, split, path), path, storage.folder)
            docmaps = merge_documents(out, views, readings=True)
            source = postings_source(views, docmaps)
            if tail is not None and split is not None:
                out.write_postings(_before(source, SPLIT_FIELD, split), tail, one_pass=True)
            else:
                out.write_postings(source, one_pass=True)
            for ext, merge_part in PART_MERGERS.items():
                data = merge_part(views, docmaps)
                if data is not None:
                    out.add_part(ext, data)
            return out.finish()
        except BaseException:
            out.cancel()
            if tail is not None:
                tail.discard()
            raise
    finally:
        for v in views:
            v.close()


def merge_documents(
    out: SegmentWriter, views: list[SegmentView], readings: bool = False
) -> list[DocMap]:
    """Copy every live document's stored record, lengths and columns, in order; per view, its
    old -> new docnums. ``readings``: the views' readings files are carried into the new
    segment's (``ReadingsWriter.carry``), their titles with them.

    The readings files are decoded one at a time, each dropped once its segment's documents are
    copied: a decoded file is some 18 MB for a segment of 10,000 posts, and all of a merge's at
    once were most of its memory (and left it fragmented for the rest of the merge)."""
    docmaps: list[DocMap] = []
    n = out.count
    for view in views:
        source_readings = view.readings() if readings else None
        if source_readings is not None:
            out.readings.carry([source_readings])
        titles = (
            dict(zip(source_readings.title_docs, source_readings.titles, strict=True))
            if source_readings is not None
            else {}
        )
        docmap = array("i", [-1]) * view.count
        docmaps.append(docmap)
        lengths = {name: view.length_bytes(name) for name in SCORABLE}
        numeric = {name: view.numeric_column(name) for name in ("date_ts", "month")}
        deleted = view.deleted
        source = view.long_texts()
        long = frozenset(source.docnums()) if source is not None else frozenset()
        for local in range(view.count):
            if local in deleted:
                continue
            docmap[local] = n
            title = titles.get(local)
            if title is None and source_readings is None:
                title = view.stored(local).get("title")
            out.readings.add_title(n, title)
            if local in long:  # the text itself is in the long texts, in pieces
                out.texts.copy(view, local, n)
            out.add_raw(
                view.stored_raw(local),
                {name: lengths[name][local] for name in SCORABLE},
                {
                    "date_ts": numeric["date_ts"][local],
                    "month": numeric["month"][local],
                    "state": view.state_raw(local),
                },
            )
            n += 1
            if n % RELEASE_EVERY == 0:
                view.files.source.release()
        view.files.source.release()
        del source_readings, titles
    return docmaps


def postings_source(views: list[SegmentView], docmaps: list[DocMap]) -> PostingSource:
    """The merged posting lists of each field, for ``SegmentWriter.write_postings``."""

    def source(fname: str) -> Iterator[TermEntry]:
        positional = fname in WORD_FIELDS
        for k, (tbytes, parts) in enumerate(_merged_terms(views, fname)):
            if k % RELEASE_EVERY == RELEASE_EVERY - 1:
                for v in views:
                    v.files.source.release()
            most = sum(_DF.unpack_from(value, 5)[0] for _vi, value in parts)
            yield (
                tbytes,
                most,
                partial(_remapped, views, parts, docmaps, positional, fname),
            )

    return source


def _remapped(
    views: list[SegmentView],
    parts: list[tuple[int, Any]],
    docmaps: list[DocMap],
    positional: bool,
    fname: str,
) -> RawPostings:
    """A term's postings from each view, deleted documents dropped, docnums renumbered."""
    ids: list[int] = []
    weights: list[float] = []
    values: list[bytes] | None = [] if positional else None
    for vi, value in parts:
        view = views[vi]
        lids, lweights, lvalues = view.read_postings(TermInfo.parse(value), positional, fname)
        docmap = docmaps[vi]
        if not view.deleted:
            base = docmap[0] if view.count else 0
            ids.extend([d + base for d in lids])
            weights.extend(lweights)
            if values is not None and lvalues is not None:
                values.extend(lvalues)
            continue
        for k, d in enumerate(lids):
            new = docmap[d]
            if new < 0:
                continue
            ids.append(new)
            weights.append(lweights[k])
            if values is not None and lvalues is not None:
                values.append(lvalues[k])
    return ids, weights, values


def _merged_terms(
    views: list[SegmentView], fname: str
) -> Iterator[tuple[bytes, list[tuple[int, Any]]]]:
    """Terms of one field over all views, in order, each with (view, term info bytes) pairs."""

    def one(vi: int) -> Iterator[tuple[bytes, int, Any]]:
        for tbytes, value in views[vi].term_table().entries(fname):
            yield tbytes, vi, value

    current: bytes | None = None
    parts: list[tuple[int, Any]] = []
    for tbytes, vi, value in heapq.merge(*(one(i) for i in range(len(views))), key=itemgetter(0)):
        if tbytes != current:
            if current is not None:
                yield current, parts
            current, parts = tbytes, []
        parts.append((vi, value))
    if current is not None:
        yield current, parts


# --- a merge on two cores ------------------------------------------------------------------------

#: The file a merge's second process writes its posting lists to (a segment file name, so that
#: the clean-up of a failed build removes it like the segment's other files).
TAIL_EXT = ".tail"


@dataclass(frozen=True)
class Tail:
    """What ``write_tail`` wrote: the file of its postings, its term table entries (field,
    term, term info: the offsets of long lists from the start of its file), its post counts."""

    path: str
    entries: list[tuple[str, bytes, bytes, bool]]
    counts: readings.PartialCounts


def _split_term(views: list[SegmentView]) -> bytes | None:
    """The first term of SPLIT_FIELD whose lists the second process writes: where the largest
    segment's terms of that field reach (1 - TAIL_SHARE) of its positions. None: no split."""
    if sum(v.count - len(v.deleted) for v in views) < MIN_SPLIT_POSTS:
        return None
    largest = max(views, key=lambda v: v.count)
    weights: list[float] = []
    terms: list[bytes] = []
    for tbytes, value in largest.term_table().entries(SPLIT_FIELD):
        terms.append(bytes(tbytes))
        weights.append(_WEIGHT.unpack_from(value, 1)[0])
    if len(terms) < 2:
        return None
    goal = sum(weights) * (1 - TAIL_SHARE)
    for term, acc in zip(terms, accumulate(weights), strict=True):
        if acc >= goal:
            return term if term != terms[0] else terms[1]
    return terms[-1]


_WEIGHT = struct.Struct("!f")


def _before(source: PostingSource, field: str, split: bytes) -> PostingSource:
    """``source`` up to the split: the fields before ``field``, its terms before ``split``."""
    fields = FIELD_ORDER[: FIELD_ORDER.index(field)]

    def cut(fname: str) -> Iterator[TermEntry]:
        if fname in fields:
            yield from source(fname)
        elif fname == field:
            for entry in source(fname):
                if entry[0] >= split:
                    return
                yield entry

    return cut


def _from(source: PostingSource, field: str, split: bytes) -> PostingSource:
    """``source`` from the split on: the terms of ``field`` from ``split``, the fields after."""
    after = FIELD_ORDER[FIELD_ORDER.index(field) + 1 :]

    def cut(fname: str) -> Iterator[TermEntry]:
        if fname in after:
            yield from source(fname)
        elif fname == field:
            for entry in source(fname):
                if entry[0] >= split:
                    yield entry

    return cut


def write_tail(
    storage: FileStorage,
    schema: NewsearchSchema,
    segments: list[Any],
    generation: int,
    field: str,
    split: bytes,
    path: str,
) -> Tail:
    """The posting lists of a merge of ``segments`` from term ``split`` of ``field`` on, to the
    file ``path``, exactly as ``merge_segments`` alone would write them (run in another
    process while it writes the rest)."""
    views = [SegmentView(storage, schema, seg, 0, generation) for seg in segments]
    out = Output(path, storage.folder)
    try:
        docmaps = live_docmaps(views)
        lengths = {name: _live_lengths(views, name) for name in SCORABLE}
        source = postings_source(views, docmaps)
        fields = FIELD_ORDER[FIELD_ORDER.index(field) :]
        counter = readings.ReadingsWriter()
        # A post that holds a word in its title and its text counts once: the title's lists of
        # the fields paired with these go first, as they do in the whole merge.
        before: dict[str, set[str]] = {}
        for fname in fields:
            paired = readings.PAIRED.get(fname)
            if paired is None or paired in before:
                continue
            before[paired] = set()
            for tbytes, _most, read in source(paired):
                ids = read()[0]
                if ids:
                    term = tbytes.decode("utf-8", "surrogatepass")
                    counter.add_list(paired, term, ids)
                    before[paired].add(term)
        tail = _from(source, field, split)
        entries: list[tuple[str, bytes, bytes, bool]] = []

        def emit(fname: str, tbytes: bytes, info: bytes) -> None:
            entries.append((fname, tbytes, info, info[0] == 0))

        # One pass, as the merge's own part (SegmentWriter.write_postings).
        write_long_lists(out, tail, fields, lengths, schema, counter, emit)
        out.close()
        return Tail(path, entries, counter.partial_counts(before))
    except BaseException:
        out.abandon()
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    finally:
        for v in views:
            v.close()


class _PastedTail:
    """A tail being written by another process, pasted into the merged segment when its
    postings come (``SegmentWriter.write_postings``)."""

    def __init__(self, wait: Callable[[], Tail], path: str, folder: str):
        self._wait = wait
        self.path = path
        self.folder = folder
        self._tail: Tail | None = None
        self._base = 0
        self._table: Output | None = None

    def paste(self, postings: Any, counts: readings.ReadingsWriter) -> None:
        tail = self._tail = self._wait()
        self._base = postings.tell()
        append_file(tail.path, postings, self.folder)
        with contextlib.suppress(OSError):
            os.remove(tail.path)
        counts.take(tail.counts)

    def entries(self) -> Iterable[tuple[str, bytes, bytes]]:
        assert self._tail is not None, "entries before paste"
        base = self._base
        size = _EXTENT.size
        for fname, tbytes, info, long in self._tail.entries:
            if long:  # where its list starts: from the start of the segment's postings
                start, length = _EXTENT.unpack_from(info, len(info) - size)
                info = info[:-size] + _EXTENT.pack(start + base, length)
            yield fname, tbytes, info

    def table_output(self) -> Output:
        self._table = Output(self.path + "terms", self.folder)
        return self._table

    def copy_table(self, part: Any) -> None:
        assert self._table is not None
        self._table.close()
        append_file(self._table.path, part, self.folder)
        self.discard()

    def discard(self) -> None:
        if self._table is not None:
            self._table.abandon()
        for name in (self.path, self.path + "terms"):
            with contextlib.suppress(OSError):
                os.remove(name)


_EXTENT = struct.Struct("!qi")


def live_docmaps(views: list[SegmentView]) -> list[DocMap]:
    """Per view, its old -> new docnums in the merged segment (as ``merge_documents`` gives)."""
    docmaps: list[DocMap] = []
    n = 0
    for view in views:
        docmap = array("i", [-1]) * view.count
        deleted = view.deleted
        for local in range(view.count):
            if local not in deleted:
                docmap[local] = n
                n += 1
        docmaps.append(docmap)
    return docmaps


def _live_lengths(views: list[SegmentView], name: str) -> bytearray:
    """The merged segment's length bytes of field ``name`` (as ``merge_documents`` writes)."""
    out = bytearray()
    for view in views:
        data = view.length_bytes(name)
        if view.deleted:
            out += bytes(b for i, b in enumerate(data) if i not in view.deleted)
        else:
            out += data
    return out
