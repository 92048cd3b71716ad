"""``newsearch check``: every byte of an index verified against its checksums, every posting list,
column and stored post decoded, and their counts checked against each other.

The model is SQLite's ``PRAGMA integrity_check`` and Lucene's ``CheckIndex``: a report of what
is wrong (which file, which part of it), never an exception for a damaged index. It reads the
whole index, so it takes about as long as reading every file once and decoding it; searches
never do this (they verify only what they read).
"""

from __future__ import annotations

import os
import struct
from typing import Any

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.util.numeric import byte_to_length, length_to_byte

from .. import arguments
from ..errors import IndexNotFoundError, NewsearchError, NotAnIndexError
from ..models import CheckProblem, CheckReport
from ..schema import NO_DATE, WORD_FIELDS, FileState, NewsearchSchema, decode_state
from . import readings
from .checksums import ChunkedFile, file_record
from .folder import MARKER, MARKER_BYTES, folder_kind, leftovers, owned, storage_for
from .reader import SegmentView, describe_part
from .texts import check_long_texts, is_long_marker
from .toc import Commit, latest_generation_in, read_commit, toc_name
from .writer import COLUMNS, FIELD_ORDER, SCORABLE

#: Problems of one kind reported in full; the rest are counted.
MAX_SAME = 5
#: Every this many terms, a term is also looked up by its hash (the term table's hash tables).
LOOKUP_SAMPLE = 16
_LENGTHS = [byte_to_length(b) for b in range(256)]


def _reverse(tbytes: bytes) -> bytes:
    return tbytes.decode("utf-8", "surrogatepass")[::-1].encode("utf-8", "surrogatepass")


def check_index(index_dir: str | os.PathLike[str]) -> CheckReport:
    """Verify and decode the whole index in ``index_dir``; what is wrong is in the report."""
    folder = os.path.abspath(arguments.fs_path(index_dir, "index_dir"))
    kind = folder_kind(folder)
    if kind in ("missing", "empty"):
        raise IndexNotFoundError(f"no index in {folder} (build one with: newsearch index)")
    if kind == "foreign":
        raise NotAnIndexError(f"{folder} is not a newsearch index")
    return _Checker(folder).run()


class _Checker:
    def __init__(self, folder: str):
        self.folder = folder
        self.problems: list[CheckProblem] = []
        self.stats = {"files": 0, "bytes": 0, "terms": 0, "postings": 0, "stored": 0}
        self.live_paths: dict[str, str] = {}

    def problem(self, file: str, part: str, message: str) -> None:
        self.problems.append(CheckProblem(file, part, message))

    def run(self) -> CheckReport:
        self._marker()
        commit = self._commit()
        posts = deleted = 0
        if commit is not None:
            for seg in commit.segments:
                self._segment(seg, commit)
                posts += seg.doc_count()
                deleted += seg.deleted_count()
        names = sorted(os.listdir(self.folder))
        ours_left = (
            leftovers(self.folder, commit.generation, commit.segments) if commit is not None else []
        )
        foreign = [n for n in names if not owned(n) and not n.startswith(".")]
        return CheckReport(
            index=self.folder,
            sound=not self.problems,
            problems=tuple(self.problems),
            generation=commit.generation if commit else None,
            index_id=commit.index_id if commit else None,
            segments=len(commit.segments) if commit else 0,
            posts=posts,
            deleted=deleted,
            files=self.stats["files"],
            bytes_verified=self.stats["bytes"],
            terms=self.stats["terms"],
            postings=self.stats["postings"],
            stored=self.stats["stored"],
            leftovers=tuple(ours_left),
            foreign=tuple(foreign),
        )

    # --- the folder's own files ----------------------------------------------------------------

    def _marker(self) -> None:
        try:
            with open(os.path.join(self.folder, MARKER), "rb") as fh:
                data = fh.read(len(MARKER_BYTES) + 1)
        except OSError as exc:
            self.problem(MARKER, "marker", f"cannot be read ({exc.strerror})")
            return
        if data != MARKER_BYTES:
            self.problem(MARKER, "marker", "not the marker this newsearch writes")

    def _commit(self) -> Commit | None:
        generation = latest_generation_in(self.folder)
        name = toc_name(generation) if generation >= 0 else "table of contents"
        try:
            commit = read_commit(self.folder)
        except IndexNotFoundError:
            self.problem(name, "table of contents", "there is no commit")
            return None
        except NewsearchError as exc:
            self.problem(name, "table of contents", str(exc))
            return None
        except OSError as exc:
            self.problem(name, "table of contents", f"cannot be read ({exc.strerror})")
            return None
        ids = [seg.segment_id() for seg in commit.segments]
        if len(set(ids)) != len(ids):
            self.problem(name, "table of contents", "names a segment twice")
        return commit

    # --- one segment ---------------------------------------------------------------------------

    def _segment(self, seg: Any, commit: Commit) -> None:
        name = seg.make_filename(".seg")
        try:
            source = ChunkedFile(self.folder, name, file_record(seg))
        except OSError as exc:
            self.problem(name, "file", f"cannot be read ({exc.strerror})")
            return
        except NewsearchError as exc:
            self.problem(name, "file", _reason(str(exc), name))
            return
        try:
            bad = source.bad_chunks()
            self.stats["files"] += 1
            self.stats["bytes"] += source.size
            if bad:
                self._report_chunks(name, source, bad)
                return
        finally:
            source.close()
        try:
            view = SegmentView(storage_for(self.folder, readonly=True), commit.schema, seg, 0, 0)
        except NewsearchError as exc:
            self.problem(name, "file", _reason(str(exc), name))
            return
        try:
            _SegmentCheck(self, name, view, commit.schema).run()
        except NewsearchError as exc:
            self.problem(name, "file", _reason(str(exc), name))
        except Exception as exc:  # verified bytes that do not decode: a bug, or a forgery
            self.problem(name, "file", f"cannot be decoded ({type(exc).__name__}: {exc})")
        finally:
            view.close()

    def _report_chunks(self, name: str, source: ChunkedFile, bad: list[int]) -> None:
        parts = _parts(source)
        by_part: dict[str, list[int]] = {}
        for c in bad:
            lo, hi = c * source.chunk, min((c + 1) * source.chunk, source.length)
            hits = [p for p, (off, n) in parts.items() if off < hi and lo < off + n] or [
                "compound directory"
            ]
            for p in hits:
                by_part.setdefault(describe_part(p), []).append(c)
        for part, chunks in by_part.items():
            lo = chunks[0] * source.chunk
            hi = min((chunks[-1] + 1) * source.chunk, source.length) - 1
            count = f"{len(chunks)} chunks" if len(chunks) > 1 else "1 chunk"
            self.problem(name, part, f"checksum mismatch in {count} (bytes {lo}-{hi})")


def _parts(source: ChunkedFile) -> dict[str, tuple[int, int]]:
    """The segment's files and where they are, read without checks (to name damaged bytes)."""
    try:
        directory = CompoundStorage(BufferFile(source.view[: source.length]), use_mmap=False)
        return {n: directory.range(n) for n in directory.list()}
    except Exception:
        return {}


def _reason(message: str, name: str) -> str:
    """The part of an IndexDamagedError's message that says what is wrong."""
    start = message.find(f"({name}: ")
    if start < 0:
        return message
    inner = message[start + len(name) + 3 :]
    end = inner.find("); see the full report")
    return inner[:end] if end >= 0 else inner


class _SegmentCheck:
    """Decode one segment whose bytes all match their checksums, and cross-check its counts."""

    def __init__(self, checker: _Checker, name: str, view: SegmentView, schema: NewsearchSchema):
        self.checker = checker
        self.name = name
        self.view = view
        self.schema = schema
        self.count = view.count
        self.paths: list[str | None] = [None] * self.count
        self._seen: dict[str, int] = {}
        #: Posts whose stored text is in the long texts: the length each text must have.
        self.long: dict[int, int] = {}
        #: The terms of the word and sub-word fields, for the readings file.
        self.terms: dict[str, set[str]] = {}

    def problem(self, part: str, message: str) -> None:
        n = self._seen[part] = self._seen.get(part, 0) + 1
        if n <= MAX_SAME:
            self.checker.problem(self.name, part, message)
        elif n == MAX_SAME + 1:
            self.checker.problem(self.name, part, "more problems of the same kind")

    def run(self) -> None:
        view = self.view
        bad = [d for d in view.deleted if not 0 <= d < self.count]
        if bad:
            self.problem("deleted documents", f"{len(bad)} docnums out of range ({bad[0]}, ...)")
        self._stored()
        for message in check_long_texts(view, self.long):
            self.problem("long texts", message)
        self._columns()
        sums = {name: [0] * self.count for name in SCORABLE}
        for fname in FIELD_ORDER:
            self._field(fname, sums.get(fname))
        self._lengths(sums)
        for message in readings.check(view, self.terms):
            self.problem("readings", message)
        for d in range(self.count):
            if d in view.deleted:
                continue
            path = self.paths[d]
            if path is None:
                continue
            other = self.checker.live_paths.get(path)
            if other is not None:
                self.problem("stored posts", f"{path!r} is also a live post of {other}")
            self.checker.live_paths[path] = self.name

    def _stored(self) -> None:
        view = self.view
        for d in range(self.count):
            stored = view.stored(d)
            path = stored.get("path")
            text = stored.get("text", "")
            if is_long_marker(text):  # the text is in the long texts: checked there
                self.long[d], text = text, ""
            if not isinstance(path, str) or not isinstance(text, str):
                self.problem("stored posts", f"post {d} has no path or text")
                continue
            self.paths[d] = path
            spath, fstate = decode_state(view.state_raw(d))
            if spath != path or not isinstance(fstate, FileState):
                self.problem("column state", f"post {d} ({path!r}): its state does not match")
        self.checker.stats["stored"] += self.count

    def _columns(self) -> None:
        view = self.view
        for name in COLUMNS:
            column = self.schema[name].column_type
            if name == "state":
                continue
            self._column_size(W3Codec.column_filename(view.segment, name), column)
        for name in SCORABLE:
            self._column_size(W3Codec.column_filename(view.segment, f"_{name}_len"), LENGTHS_COLUMN)
        info = view.info()
        for name in SCORABLE:
            table = _LENGTHS
            total = sum(table[b] for b in view.length_bytes(name))
            if info["lengths"][name] != total:
                self.problem(
                    "segment statistics",
                    f"the lengths of {name} add up to {total}, the statistics say "
                    f"{info['lengths'][name]}",
                )
        dates, months = view.numeric_column("date_ts"), view.numeric_column("month")
        odd = sum(1 for t, m in zip(dates, months, strict=True) if (t == NO_DATE) != (m == 0))
        if odd:
            self.problem("column month", f"{odd} posts whose month disagrees with their date")

    def _column_size(self, fname: str, column: Any) -> None:
        files = self.view.files
        if not files.file_exists(fname):
            return
        size = struct.calcsize(column._typecode)
        length = files.file_length(fname)
        if length % size or length > size * self.count:
            self.problem(
                describe_part(fname), f"{length} bytes for {self.count} posts of {size} bytes"
            )

    def _field(self, fname: str, sums: list[int] | None) -> None:
        view = self.view
        part = f"postings of {fname}"
        positional = fname in WORD_FIELDS
        words: list[bytes] = []
        count = self.count
        stats = self.checker.stats
        listed = fname in readings.WORD_FIELDS or fname in readings.SUB_FIELDS
        terms = self.terms.setdefault(fname, set()) if listed else None
        for k, (tbytes, info) in enumerate(view.term_items(fname)):
            term = tbytes.decode("utf-8", "surrogatepass")
            if terms is not None:
                terms.add(term)
            ids, weights, values = view.read_postings(info, positional, fname)
            stats["terms"] += 1
            stats["postings"] += len(ids)
            if len(ids) != info.doc_frequency() or not ids:
                self.problem(part, f"{term!r}: {len(ids)} postings, the term table says "
                             f"{info.doc_frequency()}")  # fmt: skip
                continue
            if (
                ids[0] < 0
                or ids[-1] >= count
                or any(a >= b for a, b in zip(ids, ids[1:], strict=False))
            ):
                self.problem(part, f"{term!r}: docnums out of order or out of range")
                continue
            if info.minid != ids[0] or info.maxid != ids[-1]:
                self.problem(part, f"{term!r}: first and last docnum disagree with the term table")
            if min(weights) <= 0:
                self.problem(part, f"{term!r}: a posting of weight 0")
            if k % LOOKUP_SAMPLE == 0 and view.term_info(fname, tbytes) != info:
                self.problem("term table", f"{term!r} of {fname} is not found by its hash")
            if positional:
                if values is None or len(values) != len(ids):
                    self.problem(part, f"{term!r}: postings without positions")
                elif any(len(v) != 4 * w for v, w in zip(values, weights, strict=True)):
                    self.problem(part, f"{term!r}: positions disagree with frequencies")
                words.append(tbytes)
            if sums is not None:
                for d, w in zip(ids, weights, strict=True):
                    sums[d] += int(w)
            if fname == "path":
                for d in ids:
                    if self.paths[d] != term:
                        self.problem(part, f"{term!r} names post {d}, stored as {self.paths[d]!r}")
        if positional:
            if view.vocabulary(fname).lines() != words:
                self.problem(f"vocabulary of {fname}", "not the words of the term table")
            backward = sorted(_reverse(w) for w in words)
            if view.vocabulary(fname, reverse=True).lines() != backward:
                self.problem(f"reversed vocabulary of {fname}", "not the words of the term table")

    def _lengths(self, sums: dict[str, list[int]]) -> None:
        for fname, total in sums.items():
            raw = self.view.length_bytes(fname)
            bad = [d for d in range(self.count) if raw[d] != length_to_byte(total[d])]
            if bad:
                self.problem(
                    f"lengths of {fname}",
                    f"{len(bad)} posts whose length disagrees with their postings "
                    f"(post {bad[0]}: {raw[bad[0]]}, postings {total[bad[0]]})",
                )
