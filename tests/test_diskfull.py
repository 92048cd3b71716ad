"""A full disk or an I/O error at any moment of a build: one clear error, the last commit intact
and searchable, the build's own unfinished files removed, and the next run completes.

Two ways: the error injected at every call that writes the index folder (each call in turn,
counted in a first run) through the store's seam (``newsearch.store.folder._open``, ``_write``,
``_fsync``, ``_replace``: every index file is created and written through them), and a real
small file system (a tmpfs mounted with a size limit; the tests run as root, as CI does).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import build, tmpfs
from reliability_helpers import index_files_problems, no_traceback, one_line_error, run_newsearch

from newsearch import check_index, indexer, open_index, store
from newsearch.errors import IndexNotFoundError, IndexWriteError
from newsearch.store import folder as folder_module

QUERIES = ["经济", "人民币 美元", "股份"]
SEAM = ("_open", "_write", "_fsync", "_replace")


def _state(index: Path) -> Any:
    """What a searcher sees of the index (None: no index yet)."""
    try:
        ix = open_index(index)
    except IndexNotFoundError:
        return None
    with ix:
        return (
            tuple(ix.paths()),
            tuple(
                (q, ix.search(q, limit=5).total, tuple(h.path for h in ix.search(q)))
                for q in QUERIES
            ),
        )


class _Faults:
    """Counts the calls of the seam; makes call number ``fail_at`` fail with ``code`` (a write
    that fails writes part of its bytes first, as a write on a full disk does)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None, code: int):
        self.calls = 0
        self.fail_at = fail_at
        self.code = code
        for name in SEAM:
            monkeypatch.setattr(folder_module, name, self._wrap(name, getattr(folder_module, name)))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.fail_at:
                if name == "_write" and len(args[1]) > 1:
                    real(args[0], args[1][: len(args[1]) // 2])
                raise OSError(self.code, os.strerror(self.code))
            return real(*args, **kwargs)

        return call


@pytest.fixture(scope="module")
def posts(finews_dir: Path) -> list[Path]:
    return sorted(finews_dir.iterdir())[:12]


def _corpus(folder: Path, posts: list[Path], chosen: range, edited: tuple[int, ...] = ()) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in chosen:
        shutil.copyfile(posts[i], folder / posts[i].name)
        if i in edited:
            with open(folder / posts[i].name, "a", encoding="utf-8") as fh:
                fh.write("\n更正：补充一句。\n")


@contextlib.contextmanager
def _small_batches() -> Iterator[None]:
    # About two posts a batch: a build of a few posts makes several commits and merges.
    old = indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES
    indexer.MIN_BATCH_BYTES = indexer.MAX_BATCH_BYTES = 6000
    try:
        yield
    finally:
        indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES = old


#: name -> (posts of the index before the build or None, then the build: posts, edited, options)
SCENARIOS: dict[str, tuple[range | None, range, tuple[int, ...], dict[str, Any]]] = {
    "first build": (None, range(0, 6), (), {}),
    "update and merge": (range(0, 6), range(1, 9), (3, 5), {"optimize": True}),
    "rebuild": (range(0, 6), range(2, 8), (4,), {"rebuild": True}),
}


def _every_write_fails_cleanly(
    scenario: str, codes: list[int], tmp_path: Path, posts: list[Path], monkeypatch
) -> None:
    before, chosen, edited, options = SCENARIOS[scenario]
    corpus, index, base = tmp_path / "corpus", tmp_path / "index", tmp_path / "base"
    with _small_batches():
        if before is not None:
            _corpus(corpus, posts, before)
            build(corpus, base)
        else:
            base.mkdir()
        _corpus(corpus, posts, chosen, edited)
        # A first run counts the calls and records what each of its commits shows.
        states = [_state(base)]
        shutil.copytree(base, index)
        with monkeypatch.context() as m:
            real = store.write_commit

            def write_commit(folder: str, commit: Any) -> None:
                real(folder, commit)
                states.append(_state(index))

            m.setattr(store, "write_commit", write_commit)
            counter = _Faults(m, None, 0)
            build(corpus, index, **options)
        calls, final = counter.calls, states[-1]
        assert calls >= 20 and len(states) >= (2 if options.get("rebuild") else 3), calls
        for k in range(1, calls + 1):
            code = codes[k % len(codes)]
            shutil.rmtree(index)
            shutil.copytree(base, index)
            with monkeypatch.context() as m:
                _Faults(m, k, code)
                with pytest.raises(IndexWriteError) as caught:
                    build(corpus, index, **options)
            where = f"{scenario}: call {k} of {calls} fails with {errno.errorcode[code]}"
            message = str(caught.value)
            assert os.strerror(code) in message and "\n" not in message, where
            kept = ("keeps its last commit", "no commit was made", "nothing was changed")
            assert any(k in message for k in kept), where
            # The last commit, whole: one of the states the build goes through, nothing else.
            state = _state(index)
            assert state in states, where
            if state is None:
                left = set(os.listdir(index))
                assert left <= {"NEWSEARCH", "newsearch.lock"}, (where, left)
            else:
                assert index_files_problems(index) == [], where
                assert check_index(index).sound, where
            build(corpus, index, **options)
            assert _state(index) == final, where
            assert index_files_problems(index) == [], where


@pytest.mark.integration
@pytest.mark.parametrize("scenario", ["first build", "update and merge"])
def test_a_write_error_at_every_call_of_a_build(scenario, tmp_path, posts, monkeypatch) -> None:
    # Each call in turn fails: a full disk at one, an I/O error at the next. (A rebuild that
    # fails is in the slow run, call by call, and in test_a_real_full_disk.)
    _every_write_fails_cleanly(scenario, [errno.ENOSPC, errno.EIO], tmp_path, posts, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_each_write_error_at_every_call_of_a_build(scenario, code, tmp_path, posts, monkeypatch):
    _every_write_fails_cleanly(scenario, [code], tmp_path, posts, monkeypatch)


# --- a real full file system ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 3 MB (root only, as in CI); unmounted whatever the test does."""
    with tmpfs(tmp_path, "3m") as mount:
        yield mount


def _remount(mount: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(mount)], check=True)


@pytest.mark.integration
def test_a_real_full_disk(small_disk: Path, tmp_path: Path, xwlb_dir: Path) -> None:
    from helpers import copy_posts

    corpus = tmp_path / "corpus"
    copy_posts(xwlb_dir, corpus / "a", first=40)
    index = small_disk / "index"
    # A first build that fits (0.5 MB, and as much again while its segment is assembled), then
    # one that does not.
    done = run_newsearch("index", corpus, "--index", index, "--jobs", 2, timeout=120)
    assert done.returncode == 0, done.stderr
    first = _state(index)
    copy_posts(xwlb_dir, corpus / "b", first=300)
    done = run_newsearch("index", corpus, "--index", index, "--jobs", 2, timeout=300)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 1, done.stdout
    line = one_line_error(done.stderr)
    assert "No space left on device" in line and "keeps its last commit" in line, line
    assert _state(index) == first
    assert index_files_problems(index) == []
    assert check_index(index).sound
    # A rebuild that does not fit leaves the old index whole, too.
    done = run_newsearch("index", corpus, "--index", index, "--rebuild", timeout=300)
    assert done.returncode == 1 and "No space left on device" in one_line_error(done.stderr)
    assert _state(index) == first and index_files_problems(index) == []
    # With space again, the next run completes.
    _remount(small_disk, "size=64m")
    done = run_newsearch("index", corpus, "--index", index, "--jobs", 2, timeout=300)
    assert done.returncode == 0, done.stderr
    with open_index(index) as ix:
        assert len(ix) == 340
    assert index_files_problems(index) == []
    assert check_index(index).sound
