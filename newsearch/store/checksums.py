"""Checksums of index files: computed while a file is written, verified as it is read.

A segment file ends with a footer (as a Lucene file does): the CRC-32 of every ``CHUNK`` bytes
of the file before it, then a fixed tail (data length, chunk size, CRC-32 of the table and
the tail, a magic number). The commit that names the segment records the file's size and that
last CRC, so opening a segment checks its size and its footer only; every read then verifies
the chunks it touches, once per chunk and snapshot, before a byte reaches a decoder. A damaged
byte anywhere is found by ``newsearch check`` (which verifies every chunk) and by any search
that reads it; it never gives a wrong result.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
import zlib
from array import array
from typing import Any

from ..errors import IndexDamagedError

#: Bytes covered by one checksum. A read verifies every chunk it touches: smaller chunks cost
#: a table entry more per CHUNK bytes, larger ones make a cold read check more bytes than it
#: needs (see the README's account of the measurement on the 36,066-post index).
CHUNK = 1 << 14
SEGMENT_MAGIC = b"NSCHUNK1"
#: data length, chunk size, CRC-32 of the table and of the tail's first two fields, magic
TAIL = struct.Struct("!QII8s")

#: What the commit records of a segment file: its size and the CRC-32 of its footer.
FileRecord = tuple[int, int]


def damaged(folder: str, name: str, what: str) -> IndexDamagedError:
    """The one error of a read that met damaged bytes."""
    return IndexDamagedError(
        f"the index in {folder} is damaged ({name}: {what}); see the full report with: "
        f"newsearch check --index {folder}; rebuild it with: newsearch index --rebuild"
    )


class ChunkSums:
    """The CRC-32 of every CHUNK bytes of a stream, computed as the stream is written."""

    def __init__(self, chunk: int = CHUNK):
        self.chunk = chunk
        self.sums = array("I")
        self.length = 0
        self._crc = 0
        self._fill = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        pos, n = 0, len(view)
        chunk = self.chunk
        while pos < n:
            take = min(chunk - self._fill, n - pos)
            self._crc = zlib.crc32(view[pos : pos + take], self._crc)
            self._fill += take
            pos += take
            if self._fill == chunk:
                self.sums.append(self._crc)
                self._crc = self._fill = 0
        self.length += n

    def reserve_first(self) -> None:
        """Leave the first chunk for later (a file whose first chunk is written last, see
        compound.SegmentFile): its checksum is given by ``set_first``."""
        assert self.length == 0
        self.sums.append(0)
        self.length = self.chunk

    def set_first(self, crc: int) -> None:
        self.sums[0] = crc

    def footer(self) -> tuple[bytes, int]:
        """The footer to append, and the CRC the commit records (of the footer itself)."""
        sums = array("I", self.sums)
        if self._fill:
            sums.append(self._crc)
        if sys.byteorder == "little":
            sums.byteswap()
        table = sums.tobytes()
        crc = zlib.crc32(TAIL.pack(self.length, self.chunk, 0, SEGMENT_MAGIC)[:12], 0)
        crc = zlib.crc32(table, crc)
        return table + TAIL.pack(self.length, self.chunk, crc, SEGMENT_MAGIC), crc


class ChunkedFile:
    """A mapped file with a footer of chunk checksums; ``verify`` checks the chunks of a range.

    Opening reads the footer only (a few bytes per MB of file) and checks it against the
    commit's record. Verified chunks are remembered, so a warm search verifies nothing.
    """

    def __init__(self, folder: str, name: str, record: FileRecord | None):
        self.folder = folder
        self.name = name
        if not (isinstance(record, tuple) and len(record) == 2):
            raise self._damaged("the commit has no checksum record of this file")
        size, crc = record
        with open(os.path.join(folder, name), "rb") as fh:
            actual = os.fstat(fh.fileno()).st_size
            if actual != size:
                raise self._damaged(f"{actual} bytes, the commit recorded {size}")
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.view = memoryview(self._mm)
        self.size = size
        self.length, self.chunk, self._table = self._footer(crc)
        self.ok = bytearray(len(self._table))

    def _footer(self, crc: int) -> tuple[int, int, array[int]]:
        if self.size < TAIL.size:
            raise self._damaged("too short for its footer")
        length, chunk, tail_crc, magic = TAIL.unpack_from(self.view, self.size - TAIL.size)
        count = -(-length // chunk) if chunk > 0 else -1
        if (
            magic != SEGMENT_MAGIC
            or tail_crc != crc
            or count < 0
            or length + 4 * count + TAIL.size != self.size
        ):
            raise self._damaged("its footer does not match the commit's record")
        table = self.view[length : length + 4 * count]
        actual = zlib.crc32(self.view[self.size - TAIL.size : self.size - TAIL.size + 12], 0)
        if zlib.crc32(table, actual) != crc:
            raise self._damaged("checksum mismatch in its footer")
        sums = array("I", table.tobytes())
        if sys.byteorder == "little":
            sums.byteswap()
        return length, chunk, sums

    def verify(self, start: int, stop: int, what: str = "") -> None:
        """Check the chunks of bytes [start, stop) (once each); IndexDamagedError if one is bad."""
        if stop <= start:
            return
        if start < 0 or stop > self.length:
            raise self._damaged(f"a read of bytes {start}-{stop} outside the data", what)
        chunk = self.chunk
        first, last = start // chunk, (stop - 1) // chunk
        ok = self.ok
        if first == last and ok[first]:
            return
        view, table = self.view, self._table
        for c in range(first, last + 1):
            if not ok[c]:
                lo = c * chunk
                if zlib.crc32(view[lo : min(lo + chunk, self.length)]) != table[c]:
                    raise self._damaged(f"checksum mismatch in bytes {lo}-{lo + chunk - 1}", what)
                ok[c] = 1

    def bad_chunks(self) -> list[int]:
        """Every chunk whose checksum does not match (``newsearch check``)."""
        out = []
        chunk, view, table = self.chunk, self.view, self._table
        for c in range(len(table)):
            lo = c * chunk
            if zlib.crc32(view[lo : min(lo + chunk, self.length)]) != table[c]:
                out.append(c)
            else:
                self.ok[c] = 1
        return out

    def release(self) -> None:
        """Drop the pages of the file read so far from this process's memory (they stay in the
        page cache, and come back on the next read): a merge reads each page about once, and
        would otherwise hold every input it read, which grows with the index."""
        advice = getattr(mmap, "MADV_DONTNEED", None)
        if advice is not None:
            with contextlib.suppress(OSError, ValueError):
                self._mm.madvise(advice)

    def _damaged(self, problem: str, what: str = "") -> IndexDamagedError:
        return damaged(self.folder, self.name, f"{what}: {problem}" if what else problem)

    def close(self) -> None:
        self.view.release()
        try:
            self._mm.close()
        except BufferError:
            pass  # a slice still lives somewhere; the mapping goes with it


def file_record(segment: Any) -> FileRecord | None:
    """The checksum record a commit keeps of a segment's file."""
    return getattr(segment, "newsearch_file", None)


def set_file_record(segment: Any, record: FileRecord) -> None:
    # A plain tuple on Whoosh's segment object, pickled with it in the table of contents: the
    # index format depends on no newsearch class here.
    segment.newsearch_file = record
