"""Posts to index: incremental, parallel and crash-safe builds of a newsearch index.

Worker processes read, parse and analyse batches of posts and each writes a Whoosh segment of its
own; this process alone holds the write lock and commits finished segments, in batch order, with
the deletions that go with them. A commit is one atomic rename, so a build killed at any moment
leaves the last commit searchable, and the next build picks up from there. A rebuild commits
once, at its end, so that searches see the old index, whole, until the new one replaces it; a
build that fails (a full disk, an I/O error) removes its unfinished files and keeps the last
commit.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import re
import secrets
import signal
import stat
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Literal, TypeVar

from . import arguments, corpus, store
from .analysis import Analyzer, current_settings, read_user_dict, user_dict_changes
from .errors import (
    BuildError,
    CorpusError,
    IndexNotFoundError,
    IndexWriteError,
    NewsearchError,
    NotAnIndexError,
    RebuildRequiredError,
)
from .models import IndexReport, Problem, Progress, ProgressCallback
from .schema import (
    FileState,
    IndexSettings,
    NewsearchSchema,
    content_hash,
    make_document,
    make_schema,
)
from .synonyms import Groups
from .synonyms import read_file as read_synonyms

_R = TypeVar("_R")

#: Batches are cut by bytes of post files; each becomes one segment.
MIN_BATCH_BYTES = 1 << 20
MAX_BATCH_BYTES = 16 << 20
#: Workers report progress after this many posts.
PROGRESS_EVERY = 25


@dataclass(frozen=True, slots=True)
class _Job(corpus.PostFile):
    """A post file to index, with the content hash of its document in the index (None if new)."""

    old_sha1: str | None = None


@dataclass(slots=True)
class _Jobs:
    """Post files to index, in path order, held in a few flat buffers: the paths in one string,
    the sizes and times in arrays (some 50 bytes a file), iterated as ``_Job``.

    An object a file (with its path, absolute path and numbers, some 300 bytes each with the
    discovery's records around them) made the indexer grow with the archive: 80 MB at 144,264
    posts. Freed as batches left, their memory stayed with the indexer all the same (the
    allocator's arenas, refilled by the dictionaries loaded next), and every worker forked from
    it shared those pages and copied them as it touched them. Buffers are written once and
    never touched again (no reference count, no collector header in them): forked workers
    share them as they are, and they go back to the system as a whole when freed.
    """

    #: The corpus root, absolute (the files' ``abspath`` is made from it: corpus.file_path).
    root: str
    #: Each file's path (``PostFile.path``) followed by NUL (which no path holds).
    paths: str = ""
    #: Where each path starts in ``paths``, and where the last one ends.
    starts: array[int] = field(default_factory=lambda: array("q", [0]))
    sizes: array[int] = field(default_factory=lambda: array("q"))
    mtimes: array[int] = field(default_factory=lambda: array("q"))
    #: position -> the content hash of the file's document in the index (changed, or redone).
    old: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        root: str,
        paths: list[str],
        sizes: array[int],
        mtimes: array[int],
        old: dict[int, str] | None = None,
    ) -> _Jobs:
        """The jobs of the files ``paths`` (in this order), of these sizes and times."""
        starts = array("q", [0])
        for path in paths:
            starts.append(starts[-1] + len(path) + 1)
        joined = "\0".join(paths) + "\0" if paths else ""
        return cls(root, joined, starts, array("q", sizes), array("q", mtimes), dict(old or {}))

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def bytes(self) -> int:
        """Bytes of post files to read."""
        return sum(self.sizes)

    def __iter__(self) -> Iterator[_Job]:
        root, sizes, mtimes, old = self.root, self.sizes, self.mtimes, self.old
        for k, path in enumerate(self.paths.split("\0")[:-1]):
            yield _Job(path, corpus.file_path(root, path), sizes[k], mtimes[k], old.get(k))

    def part(self, begin: int, end: int) -> _Jobs:
        """The jobs ``begin`` to ``end`` (excluded), in buffers of their own."""
        starts = self.starts
        base = starts[begin]
        return _Jobs(
            self.root,
            self.paths[base : starts[end]],
            array("q", [s - base for s in starts[begin : end + 1]]),
            self.sizes[begin:end],
            self.mtimes[begin:end],
            {k - begin: v for k, v in self.old.items() if begin <= k < end},
        )

    def clear(self) -> None:
        """Let go of every job (their buffers go back at once)."""
        self.paths = ""
        self.starts = array("q", [0])
        self.sizes = array("q")
        self.mtimes = array("q")
        self.old = {}


#: What stands for a batch once a worker has it (see _run_parallel).
_NO_JOBS = _Jobs("")


@dataclass
class _BatchResult:
    batch: int
    segment: Any = None
    indexed: list[str] = field(default_factory=list)
    #: Re-added with the same content, for their new size and mtime (see _index_batch).
    touched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Files of a Jekyll site that it does not publish (``published: false``, static files).
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def fail(self, path: str, reason: str) -> None:
        self.failed.append(path)
        self.problems.append(Problem(path, reason))

    text_bytes: int = 0


# --- the worker side ---------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(
    index_dir: str,
    schema: NewsearchSchema,
    queue: Any,
    parent: int | None,
    site: corpus.Site | None = None,
    prefix: str = "",
) -> None:
    if parent is not None:
        _die_with_parent()
        if os.getppid() != parent:
            # The indexer died before this worker could ask to die with it.
            os._exit(1)
        # Ctrl-C goes to the whole process group; the parent alone decides what happens.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = schema.settings()
    _worker.update(
        storage=store.storage_for(index_dir),
        schema=schema,
        analyzer=Analyzer(settings.analysis),
        timezone=settings.timezone,
        queue=queue,
        site=site or corpus.Site(),
        prefix=prefix,
    )


def _libc() -> Any:
    """libc, loaded in the indexer before it forks, so a new worker's first step is cheap."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True)
    except (ImportError, OSError):
        return None


_LIBC = _libc()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the indexer dies (even by SIGKILL)."""
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _index_batch(batch: int, jobs: _Jobs) -> _BatchResult:
    storage = _worker["storage"]
    analyzer: Analyzer = _worker["analyzer"]
    tz: str = _worker["timezone"]
    site: corpus.Site = _worker["site"]
    queue = _worker["queue"]
    result = _BatchResult(batch)
    builder = store.SegmentBuilder(storage, _worker["schema"], _worker["prefix"])
    pending_posts = pending_bytes = 0
    try:
        for job in jobs:
            pending_posts += 1
            pending_bytes += job.size
            try:
                data = corpus.read_bytes(job.abspath)
            except corpus.PostError as exc:
                result.fail(job.path, str(exc))
                continue
            if _changed_since_found(job):
                result.warnings.append(Problem(job.path, CHANGED_WHILE_READ))
            sha1 = content_hash(data)
            try:
                post = corpus.parse_post(
                    data, job.path, timezone=tz, site=site, mtime_ns=job.mtime_ns
                )
            except corpus.NotPublished:
                result.skipped.append(job.path)
                continue
            except corpus.PostError as exc:
                result.fail(job.path, str(exc))
                continue
            except Exception as exc:  # a bug must not cost the other posts
                result.fail(
                    job.path, f"unexpected error while reading: {type(exc).__name__}: {exc}"
                )
                continue
            del data  # a long post: its bytes are not needed while it is analysed
            # A file whose content did not change (touched, copied back) is added again all the
            # same: its document must carry its new size and mtime, or every later build would
            # read and hash it again. Counted as unchanged.
            doc = make_document(post, analyzer, FileState(job.size, job.mtime_ns, sha1), tz)
            builder.add(doc)
            (result.touched if sha1 == job.old_sha1 else result.indexed).append(job.path)
            result.text_bytes += doc.text_bytes
            for w in post.warnings:
                result.warnings.append(Problem(job.path, w))
            if queue is not None and pending_posts >= PROGRESS_EVERY:
                queue.put((pending_posts, pending_bytes))
                pending_posts = pending_bytes = 0
        result.segment = builder.finish() if builder.count else None
        if not builder.count:
            builder.cancel()
    except BaseException:
        builder.cancel()
        raise
    if queue is not None and pending_posts:
        queue.put((pending_posts, pending_bytes))
    _give_back_memory()
    return result


def _give_back_memory() -> None:
    """Return the memory of a finished batch to the system: a worker writes one segment after
    another, and without this it keeps the high-water mark of every batch it has held (freed
    blocks stay in the allocator's arenas), so that its size grew with the number of batches
    of a build, that is with the archive."""
    gc.collect()
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.malloc_trim(0)


# --- the committing side -----------------------------------------------------------------------


#: The warning of a post whose file changed between the listing of the corpus and its reading.
CHANGED_WHILE_READ = "changed while it was read: indexed as read; the next run reads it again"


def _changed_since_found(job: _Job) -> bool:
    # The stored state keeps the size and time of the listing, so a file that changed since is
    # read again by the next run, whatever was read now.
    try:
        st = os.stat(job.abspath)
    except OSError:
        return True
    return (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns)


def corpus_folder_problem(root: str) -> str | None:
    """Why ``root`` cannot be read as a corpus folder, or None."""
    try:
        st = os.stat(root)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"the corpus folder is a symbolic link loop: {root}"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"corpus folder not found: {root}"
        return f"cannot use the corpus folder {root}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"the corpus is not a folder: {root}"
    return None


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def build_index(
    corpus_dir: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    rebuild: bool = False,
    jobs: int | None = None,
    user_dict: str | os.PathLike[str] | Literal[False] | None = None,
    progress: ProgressCallback | None = None,
    timezone: str | None = None,
    wait_for_lock: bool = False,
    optimize: bool = False,
    drafts: bool | None = None,
    synonyms: str | os.PathLike[str] | Literal[False] | None = None,
) -> IndexReport:
    """Bring the index in ``index_dir`` up to date with the posts in ``corpus_dir``.

    Only new and changed posts are analysed; posts whose files are gone are removed. Posts that
    cannot be read are reported in ``IndexReport.problems`` and never stop the build. Small
    segments left by incremental builds are merged now and then; ``optimize`` merges them all.

    The user dictionary, the synonyms, the time zone and ``drafts`` are kept with the index:
    None keeps what the index has. ``user_dict`` is a file (its content is kept) or False for
    none: with another dictionary, the posts that hold a word it adds, removes or changes are
    analysed again, and the index is then the one a rebuild with it would give. ``synonyms`` is a
    file of synonym groups (one a line) or False for none; searches apply them, no post is
    analysed again. ``drafts`` reads a Jekyll site's ``_drafts`` folders.
    """
    started = time.perf_counter()
    corpus_root = os.path.abspath(arguments.fs_path(corpus_dir, "corpus_dir"))
    folder = os.path.abspath(arguments.fs_path(index_dir, "index_dir"))
    arguments.flag(rebuild, "rebuild")
    arguments.flag(wait_for_lock, "wait_for_lock")
    arguments.flag(optimize, "optimize")
    jobs = arguments.optional_count(jobs, "jobs") or default_jobs()
    # False drops the index's dictionary ("" stays an invalid path); None keeps it.
    user_dict_path = (
        None
        if user_dict is None
        else ""
        if user_dict is False
        else arguments.fs_path(user_dict, "user_dict")
    )
    drafts = None if drafts is None else arguments.flag(drafts, "drafts")
    arguments.callback(progress, "progress")
    timezone = None if timezone is None else arguments.timezone(timezone)
    problem = corpus_folder_problem(corpus_root)
    if problem:
        raise CorpusError(problem)
    if folder == corpus_root:
        raise CorpusError("the index folder cannot be the corpus folder")
    user_dict_text: str | None = None  # None: the index's own
    if user_dict_path is not None:
        user_dict_text = read_user_dict(user_dict_path) if user_dict_path else ""
    synonym_groups: Groups | None = None  # None: the index's own
    if synonyms is not None:
        synonym_groups = (
            () if synonyms is False else read_synonyms(arguments.fs_path(synonyms, "synonyms"))
        )

    kind = _index_folder(folder)
    lock = store.WriteLock(folder)
    lock.acquire(wait=wait_for_lock)
    try:
        if kind != "newsearch":
            try:
                store.write_marker(folder)
            except IndexWriteError as exc:
                raise IndexWriteError(f"{exc}; nothing was changed") from exc
        return _build(
            corpus_root,
            folder,
            rebuild,
            jobs,
            user_dict_text,
            timezone,
            progress,
            started,
            optimize,
            drafts,
            synonym_groups,
        )
    finally:
        lock.release()


def _index_folder(folder: str) -> store.FolderKind:
    """The kind of the index folder, created if missing; NotAnIndexError for a folder of
    something else, or one that cannot be created."""
    kind = store.folder_kind(folder)
    if kind == "foreign":
        raise NotAnIndexError(
            f"{folder} exists and is not a newsearch index; refusing to write there "
            "(choose another --index folder)"
        )
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror
        if os.path.islink(folder):  # a link to nowhere, or to itself: makedirs says "exists"
            reason = corpus_folder_problem(folder) or reason
            reason = "a symbolic link loop" if "loop" in str(reason) else "a broken symbolic link"
        raise NotAnIndexError(f"cannot create the index folder {folder}: {reason}") from exc
    return kind


def _build(
    corpus_root: str,
    folder: str,
    rebuild: bool,
    jobs: int,
    user_dict: str | None,
    timezone: str | None,
    progress: ProgressCallback | None,
    started: float,
    optimize: bool = False,
    drafts: bool | None = None,
    synonyms: Groups | None = None,
) -> IndexReport:
    """One build: the index's settings, the posts to read, reading them, merging, the report."""
    storage = store.storage_for(folder)
    toc = _last_commit(folder, rebuild)
    last_generation = store.latest_generation(storage)
    site = corpus.read_site(corpus_root)
    plan = _plan(folder, toc, site, rebuild, user_dict, timezone, drafts, synonyms)
    # Leftovers of a killed build: nothing refers to them, and nobody else writes now.
    if toc is not None:
        store.clean_up(storage, folder, toc.generation, list(toc.segments))
    work = _work(corpus_root, folder, plan, site)
    run = _Run(
        storage, folder, plan.schema, plan.segments, last_generation + 1, work.indexed, progress
    )
    run.redo = work.redo
    run.corpus_root = corpus_root
    run.index_id = plan.index_id
    # A rebuild is written beside the old index and replaces it in one commit, at the end: until
    # then searches see the old index, and a build killed before leaves it whole.
    run.private = plan.rebuild
    run.committed = (toc.generation, list(toc.segments)) if toc is not None else None
    run.problems.extend(work.problems)
    run.unchanged = work.unchanged
    # A path that failed discovery is not readable now: it leaves the index like a deleted file.
    run.delete(work.removed)
    run.removed = len(work.removed)

    total_bytes = work.jobs.bytes
    try:
        run.announce(Progress("index", 0, len(work.jobs), 0, total_bytes))
        _index_and_merge(run, plan, toc is None, work.jobs, jobs, site, optimize)
    except BaseException as exc:
        # Nothing of this build is left but its commits: its other files go now (no worker
        # writes any more), and a full disk or an I/O error says what the index still holds.
        run.remove_partial_files()
        if isinstance(exc, IndexWriteError):
            raise IndexWriteError(f"{exc}; {run.what_is_kept()}") from exc
        raise
    store.ensure_marker(folder)
    # (work.jobs is empty now: its jobs went with their batches)
    run.announce(Progress("done", run.total, run.total, total_bytes, total_bytes))
    store.clean_up(storage, folder, *run.committed_state())
    return _report(run, plan, corpus_root, folder, jobs, total_bytes, started)


def _last_commit(folder: str, rebuild: bool) -> store.Commit | None:
    """The index's last commit: None for a new index (or one whose first build was killed before
    its first commit), and for one that ``rebuild`` replaces because it cannot be read."""
    try:
        return store.read_commit(folder)
    except IndexNotFoundError:
        return None
    except (RebuildRequiredError, NotAnIndexError):
        if not rebuild:
            raise
        return None


@dataclass
class _Plan:
    """What a build writes into: the schema with its settings, the segments it starts from."""

    schema: NewsearchSchema
    segments: list[Any]
    index_id: str
    rebuild: bool
    #: Why the settings call for a rebuild (None: they do not).
    reason: str | None = None
    settings_changed: bool = False
    notes: list[str] = field(default_factory=list)
    dict_update: _DictUpdate | None = None


def _plan(
    folder: str,
    toc: store.Commit | None,
    site: corpus.Site,
    rebuild: bool,
    user_dict: str | None,
    timezone: str | None,
    drafts: bool | None,
    synonyms: Groups | None,
) -> _Plan:
    """The settings of this build against the index's: kept and updated in place (another
    dictionary, --drafts, synonyms), or a new index (new, --rebuild, another analysis)."""
    stored = toc.schema.settings() if toc is not None else None
    wanted = _wanted_settings(stored, site, user_dict, drafts)
    reason = None
    if stored is not None and not rebuild:
        _check_settings(stored, timezone)
        reason = _rebuild_reason(stored, wanted)
        # Another dictionary or another way of reading the folder changes unchanged posts too:
        # the same rebuild as --rebuild, keeping the index's time zone.
        rebuild = reason is not None
    if toc is not None and not rebuild:
        plan = _Plan(toc.schema, list(toc.segments), toc.index_id, rebuild)
        settings = plan.schema.settings()
        if settings.reading != wanted.reading:  # --drafts given or left out: no rebuild
            settings = replace(settings, reading=wanted.reading)
            plan.settings_changed = True
        if synonyms is not None and synonyms != settings.synonyms:
            settings = replace(settings, synonyms=synonyms)
            groups = f"{len(synonyms)} group{'' if len(synonyms) == 1 else 's'}"
            plan.notes.append(
                f"synonyms: {groups} kept with the index" if synonyms else "synonyms: dropped"
            )
            plan.settings_changed = True
        if (settings.analysis.user_dict or None) != wanted.user_dict:
            # The posts that hold a word the dictionary adds, removes or changes are analysed
            # again with it; every other post would be cut the same (see analysis).
            plan.dict_update = _user_dict_update(folder, settings, wanted.user_dict)
            settings = replace(
                settings, analysis=replace(settings.analysis, user_dict=wanted.user_dict)
            )
            plan.settings_changed = True
        plan.schema.newsearch_settings = settings.to_dict()
        return plan
    if reason is not None and stored is not None:
        tz = stored.timezone
    else:
        tz = timezone or site.timezone or corpus.DEFAULT_TIMEZONE
    kept = stored.synonyms if stored is not None else ()
    settings = IndexSettings(
        current_settings(wanted.user_dict),
        validate_timezone(tz),
        reading=wanted.reading,
        synonyms=kept if synonyms is None else synonyms,
    )
    # A new index, or a rebuild: a new id, so that open searchers see it is another index.
    return _Plan(make_schema(settings), [], store.new_index_id(), rebuild, reason)


@dataclass
class _Work:
    """The posts a build reads (new, changed, or to analyse again) and the paths it removes."""

    jobs: _Jobs
    removed: list[str]
    unchanged: int
    problems: list[Problem]
    indexed: dict[str, Any]
    redo: frozenset[str]


def _work(corpus_root: str, folder: str, plan: _Plan, site: corpus.Site) -> _Work:
    """The corpus's files against the index's state of each: what this build has to do."""
    settings = plan.schema.settings()
    files, problems = corpus.discover(
        corpus_root, exclude=(folder,), drafts=settings.drafts, site=site
    )
    indexed = _indexed_state(folder, plan.segments) if plan.segments else {}
    seen: set[str] = set()
    unchanged = 0
    redo = plan.dict_update.paths if plan.dict_update is not None else frozenset()
    paths: list[str] = []
    sizes, mtimes = array("q"), array("q")
    old_sha1: dict[int, str] = {}

    def add(f: corpus.PostFile, sha1: str | None) -> None:
        if sha1 is not None:
            old_sha1[len(paths)] = sha1
        paths.append(f.path)
        sizes.append(f.size)
        mtimes.append(f.mtime_ns)

    for f in files:
        old = indexed.get(f.path)
        if old is not None and old[1].size == f.size and old[1].mtime_ns == f.mtime_ns:
            seen.add(f.path)
            if f.path in redo:
                add(f, old[1].sha1)
            else:
                unchanged += 1
            continue
        if site.is_site and corpus.file_kind(f.path, site) == "page":
            # A site's file without front matter is static (Jekyll copies it): its first bytes
            # say so, and it is not read on every build.
            if not corpus.has_front_matter(corpus.read_head(f.abspath)):
                continue
        seen.add(f.path)
        add(f, old[1].sha1 if old else None)
    jobs = _Jobs.of(corpus_root, paths, sizes, mtimes, old_sha1)
    removed_paths = [p for p in indexed if p not in seen]
    # What discovery found of every file is in the jobs' buffers now: its own records, the
    # walk's lists and the set of paths go, and their memory (some 500 bytes a post file) with
    # them, before the dictionaries are loaded (see _Jobs).
    del files, seen
    paths.clear()
    _give_back_memory()
    return _Work(jobs, removed_paths, unchanged, list(problems), indexed, redo)


def _index_and_merge(
    run: _Run,
    plan: _Plan,
    new_index: bool,
    jobs_list: _Jobs,
    jobs: int,
    site: corpus.Site,
    optimize: bool,
) -> None:
    """Read and write the posts (on ``jobs`` processes), commit, merge, and publish."""
    batches = _batches(jobs_list, jobs)
    if batches:
        if jobs == 1 or len(batches) == 1:
            _run_serial(run, batches, run.folder, plan.schema, site)
        else:
            _run_parallel(run, batches, run.folder, plan.schema, jobs, site)
    if (
        run.pending_deletions
        or (new_index or plan.rebuild or plan.settings_changed)
        and not run.commits
    ):
        run.commit(None)
    merges = _merge_policy(run.segments, optimize)
    if not optimize:
        merges = _split_for_cores(merges, jobs)
    if jobs > 1 and len(merges) == 1:
        # One merge (``optimize``, or one the policy could not cut in two): on two processes.
        _merge_on_two_cores(run, merges[0])
    else:
        _run_merges(run, merges, jobs)
    run.publish()


def _merge_on_two_cores(run: _Run, group: list[Any]) -> None:
    """One merge on two processes: a worker writes the last posting lists (most of the text
    field's and what follows) while this process writes the documents and the others, then
    copies the worker's in (the same segment as one process would write: see
    store.merge_segments; a small merge is written by this process alone)."""
    run.announce(Progress("merge", 0, len(group)))
    executor = _merge_executor(1)
    futures: list[Future[Any]] = []
    generation = run.generation - 1

    def helper(field: str, split: bytes, path: str) -> Callable[[], Any]:
        fut = executor.submit(
            _tail_in_worker, run.folder, run.schema, group, generation, field, split, path
        )
        futures.append(fut)
        return lambda: _worker_result(fut, "a merge")

    with _workers(executor, futures):
        merged = store.merge_segments(
            run.storage, run.schema, group, generation, run.prefix, helper=helper
        )
    run.merged(group, merged)
    run.announce(Progress("merge", len(group), len(group)))


def _tail_in_worker(
    folder: str,
    schema: NewsearchSchema,
    group: list[Any],
    generation: int,
    field: str,
    split: bytes,
    path: str,
) -> Any:
    from .store.merge import write_tail

    return write_tail(store.storage_for(folder), schema, group, generation, field, split, path)


def _report(
    run: _Run,
    plan: _Plan,
    corpus_root: str,
    folder: str,
    jobs: int,
    total_bytes: int,
    started: float,
) -> IndexReport:
    update = plan.dict_update
    return IndexReport(
        corpus=corpus_root,
        index=folder,
        added=run.added,
        updated=run.updated,
        removed=run.removed,
        unchanged=run.unchanged + run.touched,
        problems=tuple(sorted(run.problems, key=lambda p: p.path)),
        warnings=tuple(sorted(run.warnings, key=lambda p: p.path)),
        total=sum(s.doc_count() for s in run.segments),
        seconds=time.perf_counter() - started,
        text_bytes=run.text_bytes,
        file_bytes=total_bytes,
        jobs=jobs,
        rebuilt=plan.rebuild,
        rebuild_reason=plan.reason,
        user_dict_words=update.words if update is not None else None,
        reanalysed=run.reanalysed,
        settings_changed=tuple(plan.notes),
    )


def validate_timezone(name: str) -> str:
    """The IANA name of a time zone, or InvalidArgumentError."""
    return arguments.timezone(name)


#: Segments are merged by tiers of size: a tier holds segments of MERGE_FACTOR ** t to
#: MERGE_FACTOR ** (t + 1) times TIER_BASE posts, and when a tier has MERGE_FACTOR segments they
#: are merged into one (of the next tier). The number of segments stays logarithmic in the size of
#: the index (at most MERGE_FACTOR - 1 per tier), and a small update only ever merges small
#: segments: a post is rewritten about once per tier, never the whole index for a few posts.
MERGE_FACTOR = 8
TIER_BASE = 1
#: A segment with more than this share of deleted documents is merged to reclaim the space.
MAX_DELETED_SHARE = 0.3


def _tier(posts: int) -> int:
    tier = 0
    size = TIER_BASE
    while posts >= size * MERGE_FACTOR:
        size *= MERGE_FACTOR
        tier += 1
    return tier


def _merge_policy(segments: list[Any], optimize: bool) -> list[list[Any]]:
    """The merges to do, in order (each a list of segments merged into one): everything with
    ``optimize``; else, tier by tier from the smallest, MERGE_FACTOR segments of a tier that
    has that many (the merged segment counts in its own tier for the next merges), and a
    segment mostly made of deleted documents with its tier."""
    if optimize:
        if len(segments) > 1 or any(s.has_deletions() for s in segments):
            return [list(segments)]
        return []
    # (posts, segments) per future segment: a merge's result is one entry made of its parts.
    live: list[tuple[int, list[Any]]] = [(s.doc_count(), [s]) for s in segments]
    merges: list[list[Any]] = []
    while True:
        tiers: dict[int, list[tuple[int, list[Any]]]] = {}
        for entry in live:
            tiers.setdefault(_tier(entry[0]), []).append(entry)
        full = [t for t, members in tiers.items() if len(members) >= MERGE_FACTOR]
        if not full:
            break
        members = sorted(tiers[min(full)], key=lambda e: e[0])[:MERGE_FACTOR]
        taken = {id(e) for e in members}
        live = [e for e in live if id(e) not in taken]
        parts = [s for _n, group in members for s in group]
        live.append((sum(n for n, _g in members), parts))
        # A merge of merges is one merge of their segments (each post written once).
        ids = {id(s) for s in parts}
        merges = [m for m in merges if not any(id(s) in ids for s in m)] + [parts]
    merged = {id(s) for m in merges for s in m}
    for seg in segments:
        if (
            id(seg) not in merged
            and seg.doc_count_all()
            and seg.deleted_count() / seg.doc_count_all() > MAX_DELETED_SHARE
        ):
            merges.append([seg])
    return merges


def _split_for_cores(merges: list[list[Any]], jobs: int) -> list[list[Any]]:
    """The merges of the policy, a merge cut in two contiguous halves while there are fewer
    merges than ``jobs`` and both halves of it already reach a higher tier than any segment in
    it: the halves run at once (a single merge uses one core) and no post is rewritten more
    often than by the whole merge (each half is a segment of the next tier, as the whole one
    would be). A build of a large archive otherwise ends with one long merge on one core."""
    out = [list(m) for m in merges]
    while len(out) < jobs:
        for k, group in sorted(enumerate(out), key=lambda kv: -_posts(kv[1])):
            half = _halves(group)
            if half is not None:
                out[k : k + 1] = list(half)
                break
        else:
            break
    return out


def _posts(group: list[Any]) -> int:
    return sum(s.doc_count() for s in group)


def _halves(group: list[Any]) -> tuple[list[Any], list[Any]] | None:
    if len(group) < 4:
        return None
    total = _posts(group)
    # The cut nearest to equal halves (by live posts).
    cut, best, acc = 0, total, 0
    for i, seg in enumerate(group[:-1], 1):
        acc += seg.doc_count()
        if abs(total - 2 * acc) < best:
            cut, best = i, abs(total - 2 * acc)
    first, second = group[:cut], group[cut:]
    top = max(_tier(s.doc_count()) for s in group)
    if len(first) < 2 or len(second) < 2:
        return None
    if min(_tier(_posts(first)), _tier(_posts(second))) <= top:
        return None
    return first, second


def _check_settings(settings: IndexSettings, timezone: str | None) -> None:
    # (The versions of the index format and of the analysis were checked when its commit was
    # read: store.read_commit asks for a rebuild.)
    if timezone and validate_timezone(timezone) != settings.timezone:
        raise RebuildRequiredError(
            f"the index was built for time zone {settings.timezone}; to use {timezone}, rebuild "
            "it with: newsearch index --rebuild --timezone " + timezone
        )


@dataclass(frozen=True)
class _Wanted:
    """The settings a build asks for, with what was left out taken from the index."""

    user_dict: str | None
    reading: dict[str, Any]


def _wanted_settings(
    stored: IndexSettings | None, site: corpus.Site, user_dict: str | None, drafts: bool | None
) -> _Wanted:
    if user_dict is None:
        user_dict = stored.analysis.user_dict if stored is not None else None
    if drafts is None:
        drafts = stored.drafts if stored is not None else False
    reading = {**site.reading(), "drafts": bool(drafts)}
    return _Wanted(user_dict or None, reading)


def _rebuild_reason(stored: IndexSettings, wanted: _Wanted) -> str | None:
    """Why unchanged posts would now be read otherwise, or None (a changed user dictionary
    analyses again only the posts that hold its changed words: see _user_dict_update)."""
    old, new = stored.reading_mode, wanted.reading["mode"]
    if old != new:
        if new == corpus.SITE_MODE:
            return "the folder is now read as a Jekyll site (it has a _config.yml)"
        return "the folder is now read as a folder of posts (it has no _config.yml)"
    old_link, new_link = stored.reading.get("permalink", ""), wanted.reading["permalink"]
    if old_link != new_link:
        return f"the site's permalink changed ({old_link or 'date'} to {new_link or 'date'})"
    return None


@dataclass(frozen=True)
class _DictUpdate:
    """What another user dictionary changes: its changed words, the posts that hold them."""

    words: tuple[str, ...]
    paths: frozenset[str]


def _user_dict_update(folder: str, settings: IndexSettings, new: str | None) -> _DictUpdate:
    """The words another user dictionary adds, removes or changes, and the posts of the index
    that hold one of them in their title or text, found by the index's own literal matching
    (with the analysis the index was built with, whose vocabulary it has)."""
    from .matching import Matcher

    words = user_dict_changes(settings.analysis.user_dict, new)
    if not words:
        return _DictUpdate((), frozenset())
    snap = store.Snapshot(folder)
    try:
        matcher = Matcher(snap, Analyzer(settings.analysis))
        docs: set[int] = set()
        for word in words:
            for piece in _pieces_of(matcher, word):
                for field_name in ("title", "text"):
                    docs |= matcher.literal_docs(field_name, piece)
        paths = frozenset(path for d, path, _ in snap.states() if d in docs)
    finally:
        snap.close()
    return _DictUpdate(tuple(words), paths)


def _pieces_of(matcher: Any, word: str) -> list[str]:
    """The literal pieces whose posts a user word can change the terms of.

    A word of Chinese characters changes how Han runs that hold it are cut, and which
    sub-words and joins they give. A word with other characters is never in a Han run (only
    Han runs are cut): it can only be a join, of two or three characters, across tokens,
    where two letters or digits may also stand apart (``5 g``).
    """
    from itertools import product

    piece = matcher.piece(word)
    if not piece:
        return []
    if _HAN_ONLY.match(word):
        return [piece]
    if len(word) > 3:
        return []
    gaps = [i for i in range(1, len(word)) if word[i - 1].isalnum() and word[i].isalnum()]
    out = []
    for spaced in product((False, True), repeat=len(gaps)):
        text = "".join(
            (" " if i in gaps and spaced[gaps.index(i)] else "") + c for i, c in enumerate(word)
        )
        got = matcher.piece(text)
        if got and got not in out:
            out.append(got)
    return out


_HAN_ONLY = re.compile("^[\u4e00-\u9fd5]+$")


def _indexed_state(folder: str, segments: list[Any]) -> dict[str, tuple[int, FileState]]:
    """path -> (docnum, state) of every live document of the current commit."""
    out: dict[str, tuple[int, FileState]] = {}
    snap = store.Snapshot(folder)
    try:
        for docnum, path, state in snap.states():
            if state is not None:
                out[path] = (docnum, state)
    finally:
        snap.close()
    return out


def _batches(jobs_list: _Jobs, jobs: int) -> list[_Jobs]:
    """Contiguous runs of posts (in path order) of about equal size, one per worker.

    Each batch becomes a segment, and fewer segments make a smaller index and faster searches;
    the cap bounds a worker's memory (postings take about 3.5 bytes per byte of post file: 16 MB
    batches keep a worker near 170 MB, about 100 of them its own).

    Batches are cut at the target, the last one holding the rest, rather than made of equal
    size: equal batches leave no core idle at the end, but at 144,264 posts they made 16
    segments of one merge tier, which the merge policy then rewrote whole (two merges of
    eight, 144,264 posts written again instead of 72,000: more than the idle core cost).

    The jobs move into the batches: ``jobs_list`` is left empty, so that the indexer holds the
    jobs of a batch only until a worker has it (see _run_parallel), not the whole archive's to
    the end of the build.
    """
    if not jobs_list:
        return []
    total = jobs_list.bytes
    target = min(MAX_BATCH_BYTES, max(MIN_BATCH_BYTES, total // jobs + 1))
    cuts = [0]
    size = 0
    for k, job_size in enumerate(jobs_list.sizes):
        if size >= target:
            cuts.append(k)
            size = 0
        size += job_size
    cuts.append(len(jobs_list))
    batches = [jobs_list.part(a, b) for a, b in pairwise(cuts)]
    jobs_list.clear()
    return batches


class _Run:
    """The committing side of one build: segments, deletions, counts, commits."""

    def __init__(
        self,
        storage: Any,
        folder: str,
        schema: NewsearchSchema,
        segments: list[Any],
        generation: int,
        indexed: dict[str, tuple[int, FileState]],
        progress: ProgressCallback | None,
    ):
        self.storage = storage
        self.folder = folder
        self.schema = schema
        self.segments = segments
        self.generation = generation
        self.indexed = indexed
        self.progress = progress
        self.index_id = ""
        self.corpus_root = ""
        #: Commits are kept in memory until ``publish`` (a rebuild), instead of written each.
        self.private = False
        #: (generation, segments) of the last commit on disk (None: there is none yet).
        self.committed: tuple[int, list[Any]] | None = None
        #: The names of this build's segments start with it (see remove_partial_files).
        self.prefix = secrets.token_hex(3)
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.pending_deletions: list[int] = []
        self.added = self.updated = self.removed = self.unchanged = self.touched = 0
        #: Unchanged posts analysed again for another user dictionary, and how many were.
        self.redo: frozenset[str] = frozenset()
        self.reanalysed = 0
        self.text_bytes = 0
        self.commits = 0
        self.done = self.total = self.bytes_done = self.bytes_total = 0
        self._offsets = self._segment_offsets()

    def _segment_offsets(self) -> list[tuple[int, Any]]:
        out = []
        base = 0
        for seg in self.segments:
            out.append((base, seg))
            base += seg.doc_count_all()
        return out

    def announce(self, p: Progress) -> None:
        if p.phase == "index":
            self.total, self.bytes_total = p.total, p.bytes_total
        if self.progress is not None:
            self.progress(p)

    def advance(self, posts: int, nbytes: int) -> None:
        self.done += posts
        self.bytes_done += nbytes
        if self.progress is not None:
            self.progress(
                Progress(
                    "index",
                    min(self.done, self.total),
                    self.total,
                    min(self.bytes_done, self.bytes_total),
                    self.bytes_total,
                )
            )

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            old = self.indexed.get(path)
            if old is not None:
                self.pending_deletions.append(old[0])

    def accept(self, result: _BatchResult) -> None:
        """Commit one finished batch: its segment and the deletions of what it replaces."""
        problem = corpus_folder_problem(self.corpus_root) if self.corpus_root else None
        if problem:
            # Its posts could not be read because the folder went away, not because they were
            # deleted: nothing is removed from the index for it.
            raise CorpusError(f"{problem} (it changed during the build; the index keeps its "
                              "last commit)")  # fmt: skip
        for path in result.indexed:
            if path in self.indexed:
                self.updated += 1
            else:
                self.added += 1
        again = [p for p in result.touched if p in self.redo]
        self.reanalysed += len(again)
        self.touched += len(result.touched) - len(again)
        self.problems.extend(result.problems)
        self.warnings.extend(result.warnings)
        self.text_bytes += result.text_bytes
        # A post that became unpublished leaves the index as a deleted one does.
        self.removed += len([p for p in result.skipped if p in self.indexed])
        replaced = result.indexed + result.touched + result.failed + result.skipped
        self.delete([p for p in replaced if p in self.indexed])
        self.commit(result.segment)

    def merge(self, segments: list[Any]) -> None:
        """Replace ``segments`` by one merged segment, in one commit."""
        merged = store.merge_segments(
            self.storage, self.schema, segments, self.generation - 1, self.prefix
        )
        self.merged(segments, merged)

    def merged(self, segments: list[Any], merged: Any) -> None:
        """Commit ``merged`` (written by ``store.merge_segments``) in place of ``segments``."""
        ids = {id(s) for s in segments}
        first = min(i for i, s in enumerate(self.segments) if id(s) in ids)
        rest = [s for s in self.segments if id(s) not in ids]
        if merged.doc_count_all():
            rest.insert(min(first, len(rest)), merged)
        self.segments = rest
        self._commit()

    def commit(self, segment: Any) -> None:
        for docnum in self.pending_deletions:
            for base, seg in reversed(self._offsets):
                if docnum >= base:
                    seg.delete_document(docnum - base)
                    break
        self.pending_deletions = []
        if segment is not None:
            self.segments.append(segment)
        self._commit()

    def _commit(self) -> None:
        self.commits += 1
        if not self.private:
            self._write()

    def publish(self) -> None:
        """Write the commits kept in memory as one (a rebuild's switch to the new index)."""
        if self.private and self.commits:
            self._write()

    def _write(self) -> None:
        commit = store.Commit(self.schema, self.segments, self.generation, self.index_id)
        try:
            store.write_commit(self.folder, commit)
        finally:
            # Once renamed into place, the commit is the index, even if flushing the folder
            # failed after: what a failure removes must be measured against it.
            if store.commit_exists(self.folder, self.generation):
                self.committed = (self.generation, list(self.segments))
                self.generation += 1

    def committed_state(self) -> tuple[int, list[Any]]:
        if self.committed is None:
            return self.generation - 1, []
        return self.committed

    def remove_partial_files(self) -> None:
        """After a failure: remove what no commit refers to (if this build made no commit,
        only its own files: an index that cannot be read keeps all of its files)."""
        with contextlib.suppress(OSError):
            if self.committed is not None:
                store.clean_up(self.storage, self.folder, *self.committed)
            else:
                store.remove_own_files(self.folder, self.prefix)

    def what_is_kept(self) -> str:
        if self.committed is None:
            return "no commit was made; nothing of this build is left"
        posts = sum(s.doc_count() for s in self.committed[1])
        return (
            f"the index keeps its last commit ({posts} posts) and this build's unfinished "
            "files were removed"
        )


class _InlineQueue:
    """Progress reports of a build that runs in this process."""

    def __init__(self, run: _Run):
        self.run = run

    def put(self, item: tuple[int, int]) -> None:
        self.run.advance(*item)


def _run_serial(
    run: _Run,
    batches: list[_Jobs],
    folder: str,
    schema: NewsearchSchema,
    site: corpus.Site | None = None,
) -> None:
    _init_worker(folder, schema, _InlineQueue(run), None, site, run.prefix)
    try:
        for i, batch in enumerate(batches):
            batches[i] = _NO_JOBS  # (see _batches)
            run.accept(_index_batch(i, batch))
    finally:
        _worker.clear()


def _run_parallel(
    run: _Run,
    batches: list[_Jobs],
    folder: str,
    schema: NewsearchSchema,
    jobs: int,
    site: corpus.Site | None = None,
) -> None:
    """Index the batches on ``jobs`` worker processes, committing them in batch order.

    A worker is replaced by a fresh one once it has read WORKER_BYTES of post files (with the
    default batches, after each batch): whatever a worker gathers while it works (the pages of
    the inherited dictionaries it copies as it reads them, its caches, its heap's high-water
    mark) then goes with it, and a worker's memory does not grow with the archive.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait as wait_for

    fork = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if fork else "spawn")
    if fork:
        # Load jieba's dictionary and pypinyin's (the readings of each segment's words) here,
        # once: forked workers share their memory pages instead of each loading its own copy
        # (pypinyin alone is about 57 MB a process).
        Analyzer(schema.settings().analysis).preload()
        from . import pinyin

        pinyin.preload()
    start = (folder, schema, os.getpid(), site, run.prefix)
    width = min(jobs, len(batches))
    waiting = list(range(len(batches)))[::-1]
    busy: dict[Any, _WorkerProcess] = {}
    idle: list[_WorkerProcess] = []
    finished: dict[int, _BatchResult] = {}
    next_commit = 0
    try:
        with _shared_with_workers(fork):
            while waiting or busy:
                while waiting and len(busy) < width:
                    worker = idle.pop() if idle else _WorkerProcess(ctx, start)
                    i = waiting.pop()
                    worker.give(i, batches[i])
                    # The worker has the batch now: this process keeps nothing of it.
                    batches[i] = _NO_JOBS
                    busy[worker.conn] = worker
                for conn in wait_for(list(busy)):
                    worker = busy[conn]
                    result = worker.receive(run)
                    if result is None:
                        continue
                    del busy[conn]
                    finished[result.batch] = result
                    if worker.spent >= WORKER_BYTES:
                        worker.close()
                    else:
                        idle.append(worker)
                # Commit in batch order, so documents keep path order whatever the number of jobs.
                while next_commit in finished:
                    run.accept(finished.pop(next_commit))
                    next_commit += 1
            for worker in idle:
                worker.close()
    except BaseException:
        for worker in [*busy.values(), *idle]:
            worker.kill()
        raise


#: A worker process is replaced once it has read this many bytes of post files (see
#: _run_parallel): after one batch of the largest size, after several small ones (a fork and a
#: worker's first steps cost some 20-50 ms, a batch of 16 MB some 10 s of one core).
WORKER_BYTES = 16 << 20


class _WorkerProcess:
    """One worker process of a parallel build, and the pipe it gets batches and sends progress
    and results through."""

    def __init__(self, ctx: Any, start: tuple[Any, ...]):
        here, there = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(there, *start), daemon=True)
        self.process.start()
        there.close()
        self.conn = here
        #: Bytes of post files given to this worker so far.
        self.spent = 0

    def give(self, batch: int, jobs: _Jobs) -> None:
        self.spent += jobs.bytes
        self.conn.send((batch, jobs))

    def receive(self, run: _Run) -> _BatchResult | None:
        """One message of the worker: progress (None), or its batch's result; the worker's
        error, or a BuildError if it died without a word."""
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(10)
            code = self.process.exitcode
            raise BuildError(
                f"indexing failed in a worker process (it ended with exit code {code}); "
                "the index keeps its last commit"
            ) from None
        if kind == "progress":
            run.advance(*value)
            return None
        if kind == "error":
            _raise_worker_error(value, "indexing")
        result: _BatchResult = value
        return result

    def close(self) -> None:
        """End an idle worker (its memory goes back before another one is forked)."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(10)
        if self.process.exitcode is None:
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        """End the worker now: a failed build's files are removed next, and no worker may still
        be writing one."""
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(10)
        with contextlib.suppress(Exception):
            self.conn.close()


class _PipeProgress:
    """A worker's progress reports, to its indexer through the worker's pipe."""

    def __init__(self, conn: Any):
        self.conn = conn

    def put(self, item: tuple[int, int]) -> None:
        self.conn.send(("progress", item))


def _worker_main(
    conn: Any,
    index_dir: str,
    schema: NewsearchSchema,
    parent: int,
    site: corpus.Site | None,
    prefix: str,
) -> None:
    """A worker process: batches from the pipe until told to stop (None), or its first error."""
    # Everything it inherited (forked) is left out of its garbage collections for good: the
    # indexer froze what it had before its first fork (see _shared_with_workers), and this
    # takes what it made since, which a collection here would otherwise walk and copy.
    gc.freeze()
    try:
        _init_worker(index_dir, schema, _PipeProgress(conn), parent, site, prefix)
        while (task := conn.recv()) is not None:
            conn.send(("done", _index_batch(*task)))
    except EOFError:  # the indexer is gone
        return
    except BaseException as exc:
        with contextlib.suppress(OSError):  # (the indexer may be gone)
            conn.send(("error", _sendable(exc)))
    finally:
        _worker.clear()


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to the indexer), else a RuntimeError that says what it
    was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


@contextlib.contextmanager
def _shared_with_workers(fork: bool) -> Iterator[None]:
    """Workers forked inside share this process's objects (the dictionaries) for good.

    Without it, the first full garbage collection of each worker writes to every container
    object it inherited (their collector headers), and with that copies every page of jieba's
    and pypinyin's tables into the worker: about 150 MB more a worker. Frozen objects are left
    out of collections, in the workers for good and here while workers are forked (a full
    collection here would copy the pages this process shares with them). Only what exists when
    the first worker is forked is frozen: what this process makes later (results, commits) is
    collected as usual, or it would stay for the rest of the build.
    """
    if not fork:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _workers(executor: ProcessPoolExecutor, futures: Iterable[Future[Any]]) -> Iterator[None]:
    """The pool's work: on any failure (or an interrupt) its futures are cancelled and its
    workers stopped at once; on success the pool is shut down once its workers are done."""
    try:
        yield
    except BaseException:
        for fut in futures:
            fut.cancel()
        _stop_workers(executor)
        raise
    else:
        executor.shutdown(wait=True)


def _worker_result(fut: Future[_R], what: str) -> _R:
    """What a worker process returned; its library error as it is, any other as a BuildError
    that says the index keeps its last commit."""
    exc = fut.exception()
    if exc is not None:
        _raise_worker_error(exc, what)
    return fut.result()


def _raise_worker_error(exc: BaseException, what: str) -> None:
    """A worker's library error as it is, any other as a BuildError that says the index keeps
    its last commit."""
    if isinstance(exc, NewsearchError):
        raise exc
    raise BuildError(
        f"{what} failed in a worker process ({type(exc).__name__}: {exc}); "
        "the index keeps its last commit"
    ) from exc


def _run_merges(run: _Run, merges: list[list[Any]], jobs: int) -> None:
    """Do the merges of the policy, each committed as it ends: in worker processes, several at
    once, when there are several and more than one job (they are independent: no segment is
    in two of them), so that every core keeps working to the end of a build."""
    total = sum(len(m) for m in merges)
    done = 0
    if jobs <= 1 or len(merges) <= 1:
        for group in merges:
            run.announce(Progress("merge", done, total))
            run.merge(group)
            done += len(group)
        return
    executor = _merge_executor(min(jobs, len(merges)))
    run.announce(Progress("merge", 0, total))
    futures = {
        executor.submit(
            _merge_in_worker, run.folder, run.schema, group, run.generation - 1, run.prefix
        ): group
        for group in merges
    }
    with _workers(executor, futures):
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                group = futures[fut]
                run.merged(group, _worker_result(fut, "a merge"))
                done += len(group)
                run.announce(Progress("merge", done, total))


def _merge_executor(workers: int) -> ProcessPoolExecutor:
    """Worker processes for merges (forked where the system can), ended with this process."""
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_init_merge_worker,
        initargs=(os.getpid(),),
    )


def _init_merge_worker(parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _merge_in_worker(
    folder: str, schema: NewsearchSchema, group: list[Any], generation: int, prefix: str
) -> Any:
    return store.merge_segments(store.storage_for(folder), schema, group, generation, prefix)


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """End the workers now: a failed build's files are removed next, and no worker may still be
    writing one."""
    processes = list(getattr(executor, "_processes", None) or {}.values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(10)
