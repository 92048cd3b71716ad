"""The index folder: what marks it as a newsearch index, its write lock, the one way its files are
written (buffered, checksummed on the way, flushed to the disk), and the removal of files that no
commit refers to."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import threading
import time
from typing import Any, Literal

from whoosh.filedb.filestore import FileStorage, RamStorage
from whoosh.filedb.structfile import StructFile

from ..errors import IndexLockedError, IndexWriteError
from ..schema import SCHEMA_VERSION
from .checksums import ChunkSums

INDEX_NAME = "MAIN"
#: A file that marks a folder as a newsearch index; ``--rebuild`` deletes nothing without it.
MARKER = "NEWSEARCH"
LOCK_FILE = "newsearch.lock"
#: What the marker holds, byte for byte (``newsearch check`` compares it).
MARKER_BYTES = (
    json.dumps({"format": "newsearch", "schema_version": SCHEMA_VERSION}) + "\n"
).encode()

#: The names newsearch writes in an index folder besides the marker and the lock: tables of
#: contents (and their temporary files while written) and segment files. Anything else in the
#: folder belongs to someone else and is never deleted.
TOC_NAME = re.compile(rf"^_{INDEX_NAME}_(\d+)\.toc$")
TOC_TEMP_NAME = re.compile(rf"^_{INDEX_NAME}_\d+\.toc\.[0-9a-z.]+$")
SEGMENT_NAME = re.compile(rf"^({INDEX_NAME}_[0-9a-z]+)\.[A-Za-z0-9_.]+$")
#: The folder older versions of Whoosh's writer kept column data in while writing.
TEMP_FOLDER = f"{INDEX_NAME}.tmp"

# The system calls that create and write index files. Every byte of a commit goes through
# them, so they are the one place where the writes of a build can be seen (and, in the tests,
# made to fail: a full disk or an I/O error at any write).
_open = os.open
_write = os.write
_fsync = os.fsync
_replace = os.replace


def write_error(folder: str, exc: OSError, name: str = "") -> IndexWriteError:
    where = f" ({name})" if name else ""
    reason = exc.strerror or str(exc)
    return IndexWriteError(f"cannot write the index in {folder}: {reason}{where}")


#: What a folder is to the store (see folder_kind).
FolderKind = Literal["missing", "empty", "newsearch", "foreign"]


def folder_kind(folder: str) -> FolderKind:
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


def ensure_marker(folder: str) -> None:
    """Write the marker unless it is there as this version writes it."""
    path = os.path.join(folder, MARKER)
    try:
        with open(path, "rb") as fh:
            if fh.read(len(MARKER_BYTES) + 1) == MARKER_BYTES:
                return
    except OSError:
        pass
    write_marker(folder)


def write_marker(folder: str) -> None:
    path = os.path.join(folder, MARKER)
    write_durably(folder, path, path + ".tmp", MARKER_BYTES)


def write_durably(folder: str, path: str, tmp: str, data: bytes) -> None:
    """Put ``data`` at ``path`` whole or not at all: written to ``tmp`` and flushed, renamed
    into place, then the folder entry flushed (a failure removes ``tmp``)."""
    out = Output(tmp, folder, sync=True)
    try:
        out.write(data)
        out.close()
        replace(tmp, path, folder)
    except BaseException:
        out.abandon()
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    sync_folder(folder)


class Output:
    """A file being written to the index folder, through the system calls above.

    Writes are buffered (Whoosh writes many small pieces); ``sums`` computes the chunk
    checksums of everything written, on the way to the disk, so no file is read again to be
    checked; ``sync`` flushes the file to the disk when it is closed. Any failure is an
    IndexWriteError that names the file.
    """

    BUFFER = 1 << 20

    def __init__(
        self, path: str, folder: str, *, sums: ChunkSums | None = None, sync: bool = False
    ):
        self.path = path
        self.folder = folder
        self.sums = sums
        self.sync = sync
        self._buf = bytearray()
        self._pos = 0
        self._fd: int | None = None
        try:
            self._fd = _open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise write_error(folder, exc, os.path.basename(path)) from exc

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        self._pos += len(data)
        if len(self._buf) >= self.BUFFER:
            self._flush()
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._flush()

    def _flush(self) -> None:
        buf, self._buf = self._buf, bytearray()
        if not buf:
            return
        if self.sums is not None:
            self.sums.update(buf)
        view = memoryview(buf)
        fd = self._fd
        assert fd is not None, "write after close"
        done = 0
        try:
            while done < len(view):
                done += _write(fd, view[done:])
        except OSError as exc:
            raise write_error(self.folder, exc, os.path.basename(self.path)) from exc

    def footer(self) -> int:
        """End the checksummed part: append the chunk checksums; the CRC the commit records."""
        assert self.sums is not None
        self._flush()
        data, crc = self.sums.footer()
        self.sums = None
        self.write(data)
        return crc

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self._flush()
            if self.sync:
                try:
                    _fsync(self._fd)
                except OSError as exc:
                    raise write_error(self.folder, exc, os.path.basename(self.path)) from exc
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)

    def abandon(self) -> None:
        """Close without writing what is left (after a failure)."""
        self._buf = bytearray()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.abandon()


class WriteStorage(FileStorage):
    """The index folder as Whoosh's writers see it: every file goes through Output, and the
    column data Whoosh keeps while writing a segment stays in memory (never in a temp folder)."""

    def __init__(self, folder: str):
        super().__init__(folder, supports_mmap=False)

    def create_file(self, name: str, excl: bool = False, mode: str = "wb", **kwargs: Any) -> Any:
        return StructFile(Output(self._fpath(name), self.folder), name=name)

    def temp_storage(self, name: str | None = None) -> Any:
        return RamStorage()


def storage_for(folder: str, readonly: bool = False) -> FileStorage:
    if readonly:
        # Searches read segments through reader._SegmentFiles, never through Whoosh's mmap
        # path, which would copy every file it opens in a segment.
        return FileStorage(folder, readonly=True, supports_mmap=False)
    return WriteStorage(folder)


def replace(src: str, dst: str, folder: str) -> None:
    """Rename a finished file into place (atomic: readers see the old file or the new one)."""
    try:
        _replace(src, dst)
    except OSError as exc:
        raise write_error(folder, exc, os.path.basename(dst)) from exc


def sync_folder(folder: str) -> None:
    """Flush a folder's entries (the names of new files) to the disk."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        _fsync(fd)
    except OSError as exc:
        # Some file systems cannot flush a folder; an I/O error is an I/O error.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise write_error(folder, exc) from exc
    finally:
        os.close(fd)


def owned(name: str) -> bool:
    """Whether a name in an index folder is one newsearch writes."""
    return bool(
        name in (MARKER, LOCK_FILE, MARKER + ".tmp", TEMP_FOLDER)
        or TOC_NAME.match(name)
        or TOC_TEMP_NAME.match(name)
        or SEGMENT_NAME.match(name)
    )


def leftovers(folder: str, generation: int, segments: list[Any]) -> list[str]:
    """Files of ours that the commit ``generation`` (with ``segments``) does not refer to."""
    keep = {seg.segment_id() for seg in segments}
    out = []
    for name in sorted(os.listdir(folder)):
        toc = TOC_NAME.match(name)
        seg = SEGMENT_NAME.match(name)
        if (
            (toc and int(toc.group(1)) != generation)
            or TOC_TEMP_NAME.match(name)
            or (seg and seg.group(1) not in keep)
            or name == TEMP_FOLDER
        ):
            out.append(name)
    return out


def clean_up(storage: FileStorage, folder: str, generation: int, segments: list[Any]) -> None:
    """Delete what the commit does not refer to: old tables of contents, orphan segments, temp
    files. Only safe while holding the write lock and with no worker writing a segment."""
    remove(folder, leftovers(folder, generation, segments))


def remove_own_files(folder: str, prefix: str) -> None:
    """Delete the segment files of one build (their names start with its prefix) and any
    table of contents being written: what a build that made no commit leaves."""
    start = f"{INDEX_NAME}_{prefix}"
    names = []
    for name in os.listdir(folder):
        seg = SEGMENT_NAME.match(name)
        if (seg and seg.group(1).startswith(start)) or TOC_TEMP_NAME.match(name):
            names.append(name)
    remove(folder, names)


def remove(folder: str, names: list[str]) -> None:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            # An open reader keeps what it reads; a file that cannot go now goes next time.
            with contextlib.suppress(OSError):
                os.remove(path)


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
                    try:
                        fd = _open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                    except OSError as exc:
                        folder = os.path.dirname(self.path)
                        raise IndexWriteError(
                            f"cannot write to the index in {folder}: "
                            f"{exc.strerror or exc}; nothing was changed"
                        ) from exc
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
