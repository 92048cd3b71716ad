"""Merging segments: the live documents of several segments copied into one new segment.

Stored values, columns and postings are copied as they are (positions stay encoded), so no post
is read or analysed again; deleted documents are dropped.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterator
from typing import Any

from whoosh import columns as wcolumns
from whoosh.filedb.filestore import FileStorage

from ..schema import WORD_FIELDS, NewsearchSchema
from .reader import RawPostings, SegmentView
from .texts import is_long_marker
from .writer import FIELD_ORDER, SCORABLE, STORED_ONLY, PostingList, SegmentWriter


def merge_segments(
    storage: FileStorage,
    schema: NewsearchSchema,
    segments: list[Any],
    generation: int,
    prefix: str = "",
) -> Any:
    """Write the live documents of ``segments`` as one new segment and return it.

    The caller commits the result in place of the merged segments.
    """
    views = [SegmentView(storage, schema, seg, 0, generation) for seg in segments]
    try:
        out = SegmentWriter(storage, schema, prefix)
        try:
            out.readings.carry([v.readings() for v in views])
            docmaps, lengths, count = _copy_documents(out, views)
            for fname in FIELD_ORDER:
                out.write_field(fname, _merged_lists(views, fname, docmaps, lengths.get(fname)))
            return out.finish(count)
        except BaseException:
            out.cancel()
            raise
    finally:
        for v in views:
            v.close()


def _copy_documents(
    out: SegmentWriter, views: list[SegmentView]
) -> tuple[list[dict[int, int]], dict[str, array[int]], int]:
    """Copy every live document's stored fields, lengths and columns, in order.

    Returns, per view, its old -> new docnums, the new field lengths, and the new doc count.
    """
    lengths: dict[str, array[int]] = {name: array("I") for name in SCORABLE}
    docmaps: list[dict[int, int]] = []
    n = 0
    for view in views:
        docmap: dict[int, int] = {}
        docmaps.append(docmap)
        view_lengths = {name: view.lengths(name) for name in SCORABLE}
        columns = {name: _column_values(view, name, col) for name, col in out.columns.items()}
        for local in range(view.count):
            if local in view.deleted:
                continue
            docmap[local] = n
            _copy_document(out, view, local, n, view_lengths, columns)
            for name in SCORABLE:
                lengths[name].append(view_lengths[name][local])
            n += 1
    return docmaps, lengths, n


def _column_values(view: SegmentView, name: str, column: Any) -> Any:
    """A column's values of one segment, indexable by local docnum."""
    if isinstance(column, wcolumns.NumericColumn):
        return view.numeric_column(name, column)
    return view.reader.column_reader(name, translate=False)


def _copy_document(
    out: SegmentWriter,
    view: SegmentView,
    local: int,
    n: int,
    view_lengths: dict[str, list[int]],
    columns: dict[str, Any],
) -> None:
    schema = out.schema
    pdw = out.docs
    stored = view.reader.stored_fields(local)
    out.readings.add_title(n, stored.get("title"))
    pdw.start_doc(n)
    for name in STORED_ONLY:
        pdw.add_field(name, schema[name], stored.get(name), 0)
    for name in SCORABLE:
        pdw.add_field(name, schema[name], stored.get(name), view_lengths[name][local])
    if is_long_marker(stored.get("text")):  # the text itself is in the long texts, in pieces
        out.texts.copy(view, local, n)
    for name, column in out.columns.items():
        pdw.add_column_value(name, column, columns[name][local])
    pdw.finish_doc()


def _merged_lists(
    views: list[SegmentView],
    fname: str,
    docmaps: list[dict[int, int]],
    flens: array[int] | None,
) -> Iterator[PostingList]:
    """One field's posting lists over all views, in term order, with the new docnums."""
    positional = fname in WORD_FIELDS
    for tbytes, parts in _merged_terms(views, fname):
        ids, weights, values = _remapped(views, parts, docmaps, positional)
        if ids:
            lens = [flens[i] for i in ids] if flens is not None else [0] * len(ids)
            yield tbytes, ids, weights, values, lens


def _remapped(
    views: list[SegmentView],
    parts: list[tuple[int, Any]],
    docmaps: list[dict[int, int]],
    positional: bool,
) -> RawPostings:
    """A term's postings from each view, deleted documents dropped, docnums renumbered."""
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
    return ids, weights, values


def _merged_terms(
    views: list[SegmentView], fname: str
) -> Iterator[tuple[bytes, list[tuple[int, Any]]]]:
    """Terms of one field over all views, in order, each with (view, term info) pairs."""

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
