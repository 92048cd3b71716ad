"""Merging segments: the live documents of several segments copied into one new segment.

Each kind of part is merged by its own function: the documents (stored posts copied as the
segments hold them, compressed; lengths and columns), the postings (positions stay encoded), and
any other per-segment part (``PART_MERGERS``). No post is read or analysed again; deleted
documents are dropped. Everything read is checked against its checksums on the way.
"""

from __future__ import annotations

import heapq
import struct
from array import array
from collections.abc import Callable, Iterator
from functools import partial
from operator import itemgetter
from typing import Any, TypeAlias

from whoosh.filedb.filestore import FileStorage

from ..schema import WORD_FIELDS, NewsearchSchema
from .reader import RawPostings, SegmentView, TermInfo
from .writer import SCORABLE, PostingSource, SegmentWriter, TermEntry

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


def merge_segments(
    storage: FileStorage,
    schema: NewsearchSchema,
    segments: list[Any],
    generation: int = 0,
    prefix: str = "",
) -> Any:
    """Write the live documents of ``segments`` as one new segment and return it.

    The caller commits the result in place of the merged segments.
    """
    views = [SegmentView(storage, schema, seg, 0, generation) for seg in segments]
    try:
        out = SegmentWriter(storage, schema, prefix)
        try:
            sources = [v.readings() for v in views]
            out.readings.carry(sources)
            docmaps = merge_documents(out, views, sources)
            out.write_postings(postings_source(views, docmaps))
            for ext, merge_part in PART_MERGERS.items():
                data = merge_part(views, docmaps)
                if data is not None:
                    out.add_part(ext, data)
            return out.finish()
        except BaseException:
            out.cancel()
            raise
    finally:
        for v in views:
            v.close()


def merge_documents(
    out: SegmentWriter, views: list[SegmentView], sources: list[Any] | None = None
) -> list[DocMap]:
    """Copy every live document's stored record, lengths and columns, in order; per view, its
    old -> new docnums. ``sources``: the views' readings (``SegmentView.readings``), whose
    titles go to the new segment's readings."""
    docmaps: list[DocMap] = []
    n = out.count
    for vi, view in enumerate(views):
        source_readings = sources[vi] if sources is not None else None
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
