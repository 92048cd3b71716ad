"""A segment's term table, in Whoosh's format (an ordered on-disk hash: ``filetables``), written
with compact arrays and read entry by entry straight from the mapped bytes.

Whoosh's writer keeps a Python tuple per term until the table is closed (tens of bytes each, for
every term of a merged segment); this one keeps 12 bytes a term. Whoosh reads the result as its
own. ``entries`` walks one field's entries in order without decoding the term infos, for merges
and checks.
"""

from __future__ import annotations

import pickle
import struct
import sys
from array import array
from collections.abc import Callable, Iterator
from hashlib import md5
from typing import Any

#: Whoosh's hash file: magic, hash type (0: MD5), two unused ints.
MAGIC = b"HSH3"
_HEADER = MAGIC + bytes([0]) + struct.pack("!ii", 0, 0)
_LENGTHS = struct.Struct("!ii")
_POINTER = struct.Struct("!Iq")
_DIR_ENTRY = struct.Struct("!qi")
_INT = struct.Struct("!i")
_USHORT = struct.Struct("!H")
_BIG_ENDIAN = sys.byteorder == "big"
#: The term table's extras (a field map of a few fields) fit in this many bytes.
_EXTRAS_HEAD = 4096


def key_hash(key: bytes) -> int:
    """Whoosh's MD5 hash of a key (``filetables.md5_hash``): the digest's last 32 bits."""
    return int.from_bytes(md5(key).digest()[12:], "big")


class TermTableWriter:
    """Writes ``(field id, term) -> term info`` entries, keys in ascending order."""

    def __init__(self, out: Any):
        self._out = out
        out.write(_HEADER)
        self._hashes = array("I")
        self._positions = array("q")
        self.fieldmap: dict[str, int] = {}
        self._last = b""

    def field_id(self, fieldname: str) -> int:
        fid = self.fieldmap.get(fieldname)
        if fid is None:
            fid = self.fieldmap[fieldname] = len(self.fieldmap)
        return fid

    def add(self, fieldid: int, tbytes: bytes, value: bytes) -> None:
        key = _USHORT.pack(fieldid) + tbytes
        if key <= self._last:
            raise ValueError(f"term table keys must increase: {self._last!r}..{key!r}")
        self._last = key
        out = self._out
        self._positions.append(out.tell())
        self._hashes.append(key_hash(key))
        out.write(_LENGTHS.pack(len(key), len(value)) + key + value)

    def __len__(self) -> int:
        return len(self._hashes)

    def close(self) -> None:
        out = self._out
        hashes, positions = self._hashes, self._positions
        n = len(hashes)
        # The keys of each of the 256 hash tables (by the low byte of their hash), in key order.
        counts = [0] * 257
        for h in hashes:
            counts[(h & 255) + 1] += 1
        starts = counts[:]
        for b in range(1, 257):
            starts[b] += starts[b - 1]
        order = array("I", bytes(4 * n))
        fill = starts[:256]
        for i, h in enumerate(hashes):
            b = h & 255
            order[fill[b]] = i
            fill[b] += 1
        directory = []
        for b in range(256):
            lo, hi = starts[b], starts[b + 1]
            numslots = 2 * (hi - lo)
            directory.append((out.tell(), numslots))
            if not numslots:
                continue
            slot_hash = [0] * numslots
            slot_pos = [0] * numslots
            for k in range(lo, hi):
                i = order[k]
                h = hashes[i]
                slot = (h >> 8) % numslots
                while slot_pos[slot]:
                    slot = (slot + 1) % numslots
                slot_hash[slot] = h
                slot_pos[slot] = positions[i]
            table = bytearray(12 * numslots)
            pack = _POINTER.pack_into
            for s in range(numslots):
                if slot_pos[s]:
                    pack(table, 12 * s, slot_hash[s], slot_pos[s])
            out.write(table)
        out.write(b"".join(_DIR_ENTRY.pack(pos, slots) for pos, slots in directory))
        expos = out.tell()
        typecode = "I" if not n or positions[-1] < 2**32 else "q"
        index = array(typecode, positions)
        extras = {"fieldmap": self.fieldmap, "indextype": typecode, "indexlen": n}
        out.write(pickle.dumps(extras, -1))
        if not _BIG_ENDIAN:
            index.byteswap()
        out.write(index.tobytes())
        out.write(_INT.pack(out.tell() - expos))


class TermTable:
    """A term table read from a buffer (a mapped part of a segment file); ``check(start, stop)``
    is called before any bytes are read (the chunk checksums), when given."""

    def __init__(self, buf: Any, check: Callable[[int, int], None] | None = None):
        self.buf = buf
        self._check = check or _no_check
        end = len(buf)
        if end < len(_HEADER) + 256 * _DIR_ENTRY.size + 4:
            raise ValueError("too short for a term table")
        self._check(0, len(_HEADER))
        if bytes(buf[:4]) != MAGIC:
            raise ValueError("not a term table")
        self._check(end - 4, end)
        (exlen,) = _INT.unpack_from(buf, end - 4)
        expos = end - 4 - exlen
        if not len(_HEADER) + 256 * _DIR_ENTRY.size <= expos < end - 4:
            raise ValueError("the term table's extras are not where it says")
        extras = self._extras(expos, end - 4)
        self.fieldmap: dict[str, int] = dict(extras.get("fieldmap", {}))
        self._indexlen = int(extras.get("indexlen", 0))
        self._indextype = str(extras.get("indextype", "I"))
        size = struct.calcsize(self._indextype)
        self._indexbase = end - 4 - size * self._indexlen
        self._unpack_pos = struct.Struct("!" + self._indextype).unpack_from
        self._size = size
        self._directory = expos - 256 * _DIR_ENTRY.size
        self._check(self._directory, self._directory + _DIR_ENTRY.size)
        (self._end_of_data, _) = _DIR_ENTRY.unpack_from(buf, self._directory)

    def _extras(self, start: int, stop: int) -> dict[str, Any]:
        """The pickled extras at ``start``, followed by the index array up to ``stop``: the
        first bytes are checked and read (pickle.loads stops at the end of the pickle); the
        index array, 4 bytes a term, is checked entry by entry as it is read (``_pos``)."""
        head = min(stop, start + _EXTRAS_HEAD)
        self._check(start, head)
        try:
            extras = pickle.loads(self.buf[start:head])
        except Exception:
            if head == stop:
                raise
            self._check(start, stop)  # a longer pickle than usual: all of it checked first
            extras = pickle.loads(self.buf[start:stop])
        if not isinstance(extras, dict):
            raise ValueError("the term table's extras are not a dictionary")
        return extras

    def __len__(self) -> int:
        return self._indexlen

    def _pos(self, i: int) -> int:
        at = self._indexbase + self._size * i
        self._check(at, at + self._size)
        pos: int = self._unpack_pos(self.buf, at)[0]
        return pos

    def _key_at(self, pos: int) -> bytes:
        self._check(pos, pos + 8)
        keylen, _ = _LENGTHS.unpack_from(self.buf, pos)
        self._check(pos + 8, pos + 8 + keylen)
        return bytes(self.buf[pos + 8 : pos + 8 + keylen])

    def _first_at_least(self, key: bytes) -> int:
        """Index (in key order) of the first key >= ``key``."""
        lo, hi = 0, self._indexlen
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key_at(self._pos(mid)) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def lookup(self, fieldname: str, tbytes: bytes) -> bytes | None:
        """The term info bytes of a term, or None (Whoosh's ``HashReader`` lookup)."""
        fid = self.fieldmap.get(fieldname)
        if fid is None:
            return None
        key = _USHORT.pack(fid) + tbytes
        h = key_hash(key)
        buf, check = self.buf, self._check
        at = self._directory + _DIR_ENTRY.size * (h & 255)
        check(at, at + _DIR_ENTRY.size)
        tablestart, numslots = _DIR_ENTRY.unpack_from(buf, at)
        if not numslots:
            return None
        slot = (h >> 8) % numslots
        unpack_pointer, unpack_lengths = _POINTER.unpack_from, _LENGTHS.unpack_from
        klen = len(key)
        for _ in range(numslots):
            spos = tablestart + 12 * slot
            check(spos, spos + 12)
            shash, itempos = unpack_pointer(buf, spos)
            if not itempos:
                return None
            if shash == h:
                check(itempos, itempos + 8)
                keylen, datalen = unpack_lengths(buf, itempos)
                if keylen == klen:
                    kstart = itempos + 8
                    check(kstart, kstart + keylen + datalen)
                    if buf[kstart : kstart + keylen] == key:
                        return bytes(buf[kstart + keylen : kstart + keylen + datalen])
            slot += 1
            if slot == numslots:
                slot = 0
        return None

    def entries(self, fieldname: str) -> Iterator[tuple[bytes, memoryview]]:
        """(term, term info bytes) of one field, in order."""
        fid = self.fieldmap.get(fieldname)
        if fid is None:
            return
        prefix = _USHORT.pack(fid)
        first = self._first_at_least(prefix)
        if first >= self._indexlen:
            return
        buf, check = self.buf, self._check
        pos = self._pos(first)
        end = self._end_of_data
        unpack = _LENGTHS.unpack_from
        view = memoryview(buf)
        while pos < end:
            check(pos, pos + 8)
            keylen, datalen = unpack(buf, pos)
            kstart = pos + 8
            vstart = kstart + keylen
            check(kstart, vstart + datalen)
            if bytes(view[kstart : kstart + 2]) != prefix:
                return
            yield bytes(view[kstart + 2 : vstart]), view[vstart : vstart + datalen]
            pos = vstart + datalen


def _no_check(start: int, stop: int) -> None:
    pass
