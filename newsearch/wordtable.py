"""jieba's main dictionary as a hash table on disk, for cutting a query without loading it.

rjieba builds its dictionary (349,046 words) when it is imported: 0.1 s of every cold
``newsearch search``, a third of it. A query and the few snippets of a page hold a few hundred
characters; what cutting them needs is the frequency of each of their substrings that is a word
(and whether a longer word starts with it, to stop looking). This table answers that by
reading a few bytes of a mapped file per substring, so the segmenter that cuts queries
(``analysis.QuerySegmenter``) gives jieba-rs only the words it will meet.

The table is made once from jieba's ``dict.txt`` (about a second) and kept in the user's cache
folder under a name that changes with the dictionary file; if it cannot be written there, the
segmenter falls back to the whole dictionary.

Layout (little-endian): a header (magic, slot count, entry count, total frequency, size of
the entries area: a file of another size is no table), then one
uint32 per slot (1 + the entry's offset in the entries area, 0 for an empty slot, linear
probing from ``crc32(word) % slots``), then the entries: the word's UTF-8 length (one byte),
the word, its frequency (uint32; 0 for a prefix of a longer word that is no word itself).
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator

_MAGIC = b"NSWORDS1"
#: magic, slots, entries, total frequency, size of the entries area
_HEADER = struct.Struct("<8sIIQQ")
_FREQ = struct.Struct("<I")


class WordTable:
    """Read-only lookups in a table file (see the module's doc)."""

    def __init__(self, path: str):
        with open(path, "rb") as fh:
            head = fh.read(_HEADER.size)
            if len(head) < _HEADER.size:
                raise ValueError(f"{path} is not a word table")
            magic, slots, count, total, body = _HEADER.unpack(head)
            size = os.fstat(fh.fileno()).st_size
            if magic != _MAGIC or slots == 0 or size != _HEADER.size + 4 * slots + body:
                raise ValueError(f"{path} is not a word table (or a part of one)")
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        base = _HEADER.size
        self._slots = memoryview(self._map)[base : base + 4 * slots].cast("I")
        self._entries = base + 4 * slots
        self.slot_count = slots
        self.count = count
        self.total = total

    def freq(self, word: str) -> int | None:
        """The word's frequency; 0 if it only starts longer words; None if neither."""
        key = word.encode("utf-8", "surrogatepass")
        size = len(key)
        if not size or size > 255:
            return None
        data = self._map
        slots = self._slots
        n = self.slot_count
        h = zlib.crc32(key) % n
        while True:
            at = slots[h]
            if not at:
                return None
            at += self._entries - 1
            if data[at] == size and data[at + 1 : at + 1 + size] == key:
                got: int = _FREQ.unpack_from(data, at + 1 + size)[0]
                return got
            h = h + 1 if h + 1 < n else 0

    def close(self) -> None:
        self._slots.release()
        self._map.close()


def _read_dictionary(path: str) -> Iterator[tuple[str, int]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                yield parts[0], int(parts[1])


def write_table(dictionary: str, target: str) -> None:
    """The table of a jieba dictionary file, written whole beside ``target`` and moved there."""
    words: dict[str, int] = {}
    for word, f in _read_dictionary(dictionary):
        words[word] = f
    entries: dict[str, int] = dict(words)
    for word in words:
        for i in range(1, len(word)):
            entries.setdefault(word[:i], 0)
    encoded = [(w.encode("utf-8", "surrogatepass"), f) for w, f in entries.items()]
    encoded = [(k, f) for k, f in encoded if 0 < len(k) <= 255]
    slots = 2 * len(encoded) + 1
    table = [0] * slots
    body = bytearray()
    for key, f in encoded:
        h = zlib.crc32(key) % slots
        while table[h]:
            h = h + 1 if h + 1 < slots else 0
        table[h] = len(body) + 1
        body.append(len(key))
        body += key
        body += _FREQ.pack(f)
    total = sum(words.values())
    head = _HEADER.pack(_MAGIC, slots, len(encoded), total, len(body))
    _write_atomically(target, head + struct.pack(f"<{slots}I", *table) + bytes(body))


def cache_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "newsearch")


def _cached_name(dictionary: str, folder: str | None, kind: str) -> str:
    """A cache file's name that changes with the dictionary file (path, size, mtime)."""
    st = os.stat(dictionary)
    key = zlib.crc32(f"{os.path.realpath(dictionary)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return os.path.join(folder or cache_folder(), f"jieba-{kind}-{st.st_size}-{key:08x}.bin")


def table_for(dictionary: str, folder: str | None = None) -> WordTable:
    """The table of a dictionary file, made first if the cache has none for this file.

    Raises OSError (or ValueError for a damaged table) when it can be neither read nor made.
    """
    target = _cached_name(dictionary, folder, "words")
    try:
        return WordTable(target)
    except (OSError, ValueError):
        write_table(dictionary, target)
        return WordTable(target)


_SHORT_MAGIC = b"NSSHORT1"


def short_words_for(dictionary: str, folder: str | None = None) -> frozenset[str]:
    """The dictionary's words of two or three characters (every build needs them, for the
    joins), kept in the cache as one line of text each: 0.04 s to read against 0.12 s to pick
    them out of ``dict.txt``. Computed without the cache when it can be neither read nor made."""
    target = _cached_name(dictionary, folder, "short")
    try:
        with open(target, "rb") as fh:
            data = fh.read()
        if data.startswith(_SHORT_MAGIC):
            count, _, body = data[len(_SHORT_MAGIC) :].partition(b"\n")
            got = frozenset(body.decode("utf-8").split("\n"))
            if count.isdigit() and len(got) == int(count):  # a whole file, not a part of one
                return got
    except (OSError, UnicodeDecodeError):
        pass
    words = frozenset(w for w, _f in _read_dictionary(dictionary) if 2 <= len(w) <= 3)
    try:
        head = _SHORT_MAGIC + b"%d\n" % len(words)
        _write_atomically(target, head + "\n".join(sorted(words)).encode())
    except OSError:
        pass
    return words


def _write_atomically(target: str, data: bytes) -> None:
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".words-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _remove_stale(target)


#: A file of the cache made for another dictionary file this long ago is removed (see
#: ``_remove_stale``).
STALE_SECONDS = 30 * 24 * 3600


def _remove_stale(target: str) -> None:
    """Files of the same kind made for another dictionary file (another jieba, or another
    installation of it) more than ``STALE_SECONDS`` ago are removed when a new one is made: an
    upgraded jieba leaves its old tables behind, and two installations in use each keep theirs
    (the one removed while still in use is made again, once a month at most)."""
    folder, name = os.path.split(target)
    kind = name.split("-", 2)[:2]  # ["jieba", "words"] or ["jieba", "short"]
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    old = time.time() - STALE_SECONDS
    for other in names:
        if other != name and other.split("-", 2)[:2] == kind and other.endswith(".bin"):
            path = os.path.join(folder, other)
            try:
                if os.stat(path).st_mtime < old:
                    os.unlink(path)
            except OSError:
                pass
