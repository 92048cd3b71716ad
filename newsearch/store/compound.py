"""A segment's compound file, written once, front to back.

Whoosh's compound format is a header (where the directory is), the files of the segment one after
the other, then the directory (a pickled dict of name -> offset and length). Whoosh's own writer
writes every part as a file of its own and copies them into the compound file at the end, so each
byte is written twice; here the parts are written straight into the compound file, in order, and
the header, which can only be known at the end, has the first chunk of the file to itself: it is
written last, with its checksum, into a chunk left free at the start. The footer of chunk
checksums (see ``checksums``) is computed on the way, as for any index file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import zlib
from typing import Any

from . import folder as folder_module
from .checksums import CHUNK, ChunkSums
from .folder import Output, write_error

#: The compound file's header: where its directory starts, and the directory's length.
HEADER = struct.Struct("!qi")


class _SegmentOutput(Output):
    """An Output whose first chunk is written last (it holds the header)."""

    def __init__(self, path: str, folder: str):
        sums = ChunkSums()
        super().__init__(path, folder, sums=sums, sync=True)
        assert self._fd is not None
        os.lseek(self._fd, CHUNK, os.SEEK_SET)
        self._pos = CHUNK
        sums.reserve_first()
        self._head = b""

    def set_head(self, head: bytes) -> None:
        assert len(head) <= CHUNK and self.sums is not None
        self._head = head + bytes(CHUNK - len(head))
        self.sums.set_first(zlib.crc32(self._head))

    def close(self) -> None:
        if self._fd is None:
            return
        self._flush()
        fd = self._fd
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            view = memoryview(self._head)
            done = 0
            while done < len(view):
                done += folder_module._write(fd, view[done:])
        except OSError as exc:
            self.abandon()
            raise write_error(self.folder, exc, os.path.basename(self.path)) from exc
        super().close()


class PartWriter:
    """One part of a segment being written: bytes go straight into the compound file."""

    def __init__(self, out: _SegmentOutput):
        self._out = out
        self.base = out.tell()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._out.write(data)

    def tell(self) -> int:
        return self._out.tell() - self.base


class SegmentFile:
    """The compound file of one segment: ``part(name)`` parts one after the other (the previous
    one ends when the next begins), then ``finish()``; ``abandon()`` after a failure."""

    def __init__(self, folder: str, name: str):
        self.folder = folder
        self.name = name
        self.path = os.path.join(folder, name)
        self._out = _SegmentOutput(self.path, folder)
        self._parts: dict[str, tuple[int, int]] = {}
        self._current: tuple[str, PartWriter] | None = None

    def part(self, name: str) -> PartWriter:
        self._end_part()
        if name in self._parts:
            raise ValueError(f"part {name} written twice")
        writer = PartWriter(self._out)
        self._current = (name, writer)
        return writer

    def write_part(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self.part(name).write(data)
        self._end_part()

    def _end_part(self) -> None:
        if self._current is not None:
            name, writer = self._current
            self._parts[name] = (writer.base, writer.tell())
            self._current = None

    def names(self) -> list[str]:
        self._end_part()
        return list(self._parts)

    def finish(self) -> tuple[int, int]:
        """Write the directory, the footer and the header; flush to the disk. Returns the file's
        size and the CRC of its footer (what the commit records)."""
        self._end_part()
        out = self._out
        directory = {
            name: {"offset": offset, "length": length, "modified": 0}
            for name, (offset, length) in self._parts.items()
        }
        where = out.tell()
        trailer = pickle.dumps(directory, -1) + pickle.dumps({}, -1)
        out.write(trailer)
        out.set_head(HEADER.pack(where, len(trailer)))
        crc = out.footer()
        size = out.tell()
        out.close()
        return size, crc

    def abandon(self) -> None:
        """Close and remove the file (a failed segment)."""
        self._out.abandon()
        with contextlib.suppress(OSError):
            os.remove(self.path)


def directory_of(data: Any) -> dict[str, tuple[int, int]]:
    """Name -> (offset, length) of the parts of a compound file given as a buffer (header and
    directory only are read)."""
    diroffset, dirlength = HEADER.unpack_from(data, 0)
    directory = pickle.loads(bytes(data[diroffset : diroffset + dirlength]))
    return {name: (info["offset"], info["length"]) for name, info in directory.items()}
