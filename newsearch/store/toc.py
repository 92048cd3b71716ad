"""Commits: the table of contents that names an index's segments, written, read and checked.

A commit is one atomic rename of a new table of contents (``_MAIN_<generation>.toc``); the
newest one is the index. The file is Whoosh's table of contents (Whoosh reads it as its own)
followed by newsearch's record of the commit: the index's id, which a rebuild renews, so that
a reader can tell a new index from a new commit of the same one, then the CRC-32 of everything
before and a magic number. Each segment named in it carries the size and footer checksum of its
file (see checksums).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import secrets
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from whoosh import __version__ as whoosh_version
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.index import _CURRENT_TOC_VERSION
from whoosh.system import _FLOAT_SIZE, _INT_SIZE, _LONG_SIZE

from ..analysis import ANALYSIS_VERSION
from ..errors import IndexNotFoundError, NotAnIndexError, RebuildRequiredError
from ..schema import SCHEMA_VERSION, NewsearchSchema
from .checksums import damaged, file_record
from .folder import (
    INDEX_NAME,
    TOC_NAME,
    folder_kind,
    write_durably,
    write_error,
)

TOC_MAGIC = b"NSCOMMIT"
#: After Whoosh's part: the record (JSON), then its length, the CRC-32 of all before, magic.
_TAIL = struct.Struct("!II8s")


@dataclass
class Commit:
    """One commit of an index: its schema (with the settings), segments, generation and the id
    of the index it belongs to."""

    schema: NewsearchSchema
    segments: list[Any]
    generation: int
    index_id: str


def toc_name(generation: int) -> str:
    return f"_{INDEX_NAME}_{generation}.toc"


def commit_exists(folder: str, generation: int) -> bool:
    return os.path.exists(os.path.join(folder, toc_name(generation)))


def new_index_id() -> str:
    return secrets.token_hex(8)


def latest_generation(storage: FileStorage) -> int:
    """The generation of the newest table of contents in the folder (-1: none)."""
    return latest_generation_in(storage.folder)


def latest_generation_in(folder: str) -> int:
    """The same for a folder, or -1 when it has none or cannot be listed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return -1
    return max((int(m.group(1)) for n in names if (m := TOC_NAME.match(n))), default=-1)


def write_commit(folder: str, commit: Commit) -> None:
    """Make ``commit`` the index: write its table of contents, then one atomic rename.

    Its segments' files are on disk and flushed before; the table of contents is flushed
    before the rename and the folder entry after, so a power cut keeps a whole commit too.
    """
    for seg in commit.segments:
        record = file_record(seg)
        name = seg.make_filename(".seg")
        try:
            size = os.path.getsize(os.path.join(folder, name))
        except OSError as exc:
            raise write_error(folder, exc, name) from exc
        if record is None or record[0] != size:
            raise damaged(folder, name, "not the file its segment was written as")
    final = os.path.join(folder, toc_name(commit.generation))
    write_durably(folder, final, f"{final}.{secrets.token_hex(4)}", _encode(commit))


def _encode(commit: Commit) -> bytes:
    # Whoosh's TOC.write, byte for byte, into memory.
    buf = io.BytesIO()
    stream = StructFile(buf)
    stream.write_varint(_INT_SIZE)
    stream.write_varint(_LONG_SIZE)
    stream.write_varint(_FLOAT_SIZE)
    stream.write_int(-12345)
    stream.write_int(_CURRENT_TOC_VERSION)
    for num in whoosh_version[:3]:
        stream.write_varint(num)
    commit.schema.clean()
    stream.write_string(pickle.dumps(commit.schema, 2))
    stream.write_int(commit.generation)
    stream.write_int(0)  # unused
    stream.write_pickle(commit.segments)
    record = json.dumps({"index_id": commit.index_id, "generation": commit.generation}).encode()
    data = buf.getvalue() + record
    crc = zlib.crc32(data + struct.pack("!I", len(record)))
    return data + _TAIL.pack(len(record), crc, TOC_MAGIC)


def read_commit(folder: str) -> Commit:
    """The last commit of the index in ``folder``, checked to be whole and of this version."""
    kind = folder_kind(folder)
    if kind in ("missing", "empty"):
        raise IndexNotFoundError(f"no index in {folder} (build one with: newsearch index)")
    if kind == "foreign":
        raise NotAnIndexError(f"{folder} is not a newsearch index")
    generation = latest_generation_in(folder)
    if generation < 0:
        raise IndexNotFoundError(f"the index in {folder} has no commit yet")
    name = toc_name(generation)
    with open(os.path.join(folder, name), "rb") as fh:
        data = fh.read()
    sealed = data.endswith(TOC_MAGIC)
    record, body = _split(data)
    if sealed and record is None:
        raise damaged(folder, name, "checksum mismatch")
    try:
        schema, segments, written = _decode(body)
    except Exception as exc:  # a table of contents that is not one
        raise damaged(folder, name, f"cannot be read ({type(exc).__name__})") from exc
    if not isinstance(schema, NewsearchSchema):
        raise NotAnIndexError(f"{folder} holds a Whoosh index that newsearch did not write")
    analysis = schema.settings().analysis.version
    if schema.newsearch_version != SCHEMA_VERSION or analysis != ANALYSIS_VERSION:
        raise RebuildRequiredError(
            f"the index in {folder} was built by another newsearch version (index format "
            f"{schema.newsearch_version}, analysis {analysis}; this newsearch {SCHEMA_VERSION}, "
            f"{ANALYSIS_VERSION}): rebuild it with: newsearch index --rebuild"
        )
    if record is None:
        raise damaged(folder, name, "no commit record")
    index_id = record.get("index_id")
    if written != generation or record.get("generation") != generation or not index_id:
        raise damaged(folder, name, "its record does not match its name")
    return Commit(schema, segments, generation, str(index_id))


def commit_id(folder: str) -> tuple[str, int] | None:
    """(index id, generation) of the newest commit, from its record alone: cheap enough to ask
    before every search; None when there is no readable commit."""
    generation = latest_generation_in(folder)
    if generation < 0:
        return None
    try:
        with open(os.path.join(folder, toc_name(generation)), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 512))
            tail = fh.read()
        length, _crc, magic = _TAIL.unpack_from(tail, len(tail) - _TAIL.size)
        if magic != TOC_MAGIC or length > len(tail) - _TAIL.size:
            return None
        record = json.loads(tail[len(tail) - _TAIL.size - length : len(tail) - _TAIL.size])
        return str(record["index_id"]), int(record["generation"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


def _split(data: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """(the commit record, or None when missing or damaged; Whoosh's part).

    Without a record, all of ``data`` is returned: a table of contents of an older version.
    """
    if len(data) < _TAIL.size or not data.endswith(TOC_MAGIC):
        return None, data
    length, crc, _ = _TAIL.unpack_from(data, len(data) - _TAIL.size)
    end = len(data) - _TAIL.size
    if length > end or zlib.crc32(data[: end + 4]) != crc:
        return None, data
    try:
        record = json.loads(data[end - length : end])
    except ValueError:
        return None, data
    return (record if isinstance(record, dict) else None), data[: end - length]


def _decode(data: bytes) -> tuple[Any, list[Any], int]:
    """Whoosh's TOC.read on bytes: (schema, segments, generation)."""
    stream = StructFile(io.BytesIO(data))
    sizes = (stream.read_varint(), stream.read_varint(), stream.read_varint())
    if sizes != (_INT_SIZE, _LONG_SIZE, _FLOAT_SIZE) or stream.read_int() != -12345:
        raise ValueError("not a table of contents of this architecture")
    if stream.read_int() != _CURRENT_TOC_VERSION:
        raise ValueError("another version of Whoosh's table of contents")
    for _ in range(3):
        stream.read_varint()
    schema = pickle.loads(stream.read_string())
    generation = stream.read_int()
    stream.read_int()
    segments = stream.read_pickle()
    if not isinstance(segments, list):
        raise ValueError("no list of segments")
    return schema, segments, generation
