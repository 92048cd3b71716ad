"""Bad surroundings: a read-only index folder, corpus files that vanish or change while they are
read, a corpus folder replaced by a file, symbolic link loops, and an index folder where another
program wrote its own files. Each gives one clear line (or a reported problem) and loses nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import build, copy_posts, tmpfs
from reliability_helpers import (
    index_files_problems,
    listing,
    no_traceback,
    one_line_error,
    run_newsearch,
)

from newsearch import check_index, corpus, indexer, open_index
from newsearch.errors import CorpusError, IndexDamagedError

QUERIES = ["经济", "人民币 美元", "股份"]


def _state(index: Path) -> Any:
    with open_index(index) as ix:
        return ix.paths(), [[(h.path, h.score, h.snippet) for h in ix.search(q)] for q in QUERIES]


@pytest.fixture
def posts(tmp_path: Path, finews_dir: Path) -> Path:
    folder = tmp_path / "corpus"
    copy_posts(finews_dir, folder, first=30)
    return folder


# --- a read-only index folder ------------------------------------------------------------------


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs that the test makes read-only (root only, as in CI); unmounted at the end."""
    with tmpfs(tmp_path, "16m") as mount:
        yield mount


@pytest.mark.integration
def test_a_read_only_index_is_searched_and_says_why_it_is_not_written(
    read_only_disk: Path, posts: Path, tmp_path: Path
) -> None:
    index = read_only_disk / "index"
    assert run_newsearch("index", posts, "--index", index, timeout=120).returncode == 0
    expected = _state(index)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_disk)], check=True)
    before = listing(index)
    found = run_newsearch("search", "--json", "--index", index, "经济", timeout=60)
    assert found.returncode == 0, found.stderr
    assert _state(index) == expected
    assert run_newsearch("check", "--index", index, timeout=60).returncode == 0
    (posts / "2099-01-01-new.md").write_text("---\ntitle: 新\n---\n新的一篇。\n", encoding="utf-8")
    for extra in ([], ["--rebuild"]):
        done = run_newsearch("index", posts, "--index", index, *extra, timeout=60)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode == 1
        line = one_line_error(done.stderr)
        assert "cannot write to the index" in line and "Read-only file system" in line, line
        assert "nothing was changed" in line
    assert listing(index) == before


# --- corpus files that vanish or change while they are read -------------------------------------


def _while_reading(monkeypatch: pytest.MonkeyPatch, name: str, action: Any) -> None:
    """Run ``action(path)`` just before the indexer reads the post ``name`` (after the listing)."""
    real = corpus.read_bytes

    def read_bytes(abspath: str) -> bytes:
        if os.path.basename(abspath) == name:
            return action(Path(abspath), real)
        return real(abspath)

    monkeypatch.setattr(corpus, "read_bytes", read_bytes)


def test_a_post_that_vanishes_before_it_is_read(posts: Path, tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "index"
    build(posts, index)
    victim, other = sorted(posts.iterdir())[5], sorted(posts.iterdir())[6]
    for f in (victim, other):
        f.write_text(f.read_text(encoding="utf-8") + "\n后记。\n", encoding="utf-8")

    def vanish(path: Path, real: Any) -> bytes:
        path.unlink()
        return real(str(path))

    _while_reading(monkeypatch, victim.name, vanish)
    report = build(posts, index)
    assert [(p.path, p.reason) for p in report.problems] == [
        (victim.name, "cannot read file: No such file or directory")
    ]
    assert report.updated == 1  # the other changed post
    with open_index(index) as ix:
        assert victim.name not in ix.paths() and len(ix) == 29
        assert "后记" in ix.get(other.name).text
    assert check_index(index).sound


def test_a_post_that_changes_while_it_is_read(posts: Path, tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "index"
    build(posts, index)
    victim = sorted(posts.iterdir())[3]
    victim.write_text(victim.read_text(encoding="utf-8") + "\n第一次修改。\n", encoding="utf-8")

    def change(path: Path, real: Any) -> bytes:
        # The file changes while it is read: the reader gets the first half of the new text.
        path.write_text(path.read_text(encoding="utf-8") + "\n第二次修改。\n", encoding="utf-8")
        data = real(str(path))
        return data[: data.rindex(b"\n", 0, len(data) // 2) + 1]

    _while_reading(monkeypatch, victim.name, change)
    report = build(posts, index)
    assert [(p.path, p.reason) for p in report.warnings] == [
        (victim.name, indexer.CHANGED_WHILE_READ)
    ]
    monkeypatch.undo()
    again = build(posts, index)  # reads it again, whole
    assert again.updated == 1 and again.warnings == ()
    with open_index(index) as ix:
        assert ix.get(victim.name).text.rstrip().endswith("第二次修改。")
    assert build(posts, index).changed is False


# --- the corpus folder replaced by a file -------------------------------------------------------


def test_a_corpus_folder_replaced_by_a_file(posts: Path, tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "index"
    file = tmp_path / "a-file"
    file.write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="the corpus is not a folder"):
        build(file, index)
    done = run_newsearch("index", file, "--index", index, timeout=60)
    assert done.returncode == 2 and "is a file" in done.stderr.splitlines()[-1]
    assert not index.exists()
    # Replaced while a build runs (after its first commit): the build stops, nothing of the
    # corpus is taken for deleted, and the next run with the folder back completes.
    old = indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 20_000)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 20_000)
    real = indexer._Run.accept
    moved = tmp_path / "moved"
    states: list[Any] = []

    def accept(self: Any, result: Any) -> None:
        real(self, result)
        states.append(_state(index))
        if not moved.exists():
            posts.rename(moved)
            posts.write_text("a file now\n", encoding="utf-8")

    monkeypatch.setattr(indexer._Run, "accept", accept)
    with pytest.raises(CorpusError, match="it changed during the build") as caught:
        build(posts, index)
    assert "\n" not in str(caught.value)
    assert len(states) == 1 and _state(index) == states[0]
    assert index_files_problems(index) == []
    monkeypatch.setattr(indexer._Run, "accept", real)
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", old[0])
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", old[1])
    posts.unlink()
    moved.rename(posts)
    build(posts, index)
    with open_index(index) as ix:
        assert len(ix) == 30


# --- symbolic link loops --------------------------------------------------------------------------


@pytest.mark.integration
def test_symbolic_link_loops(posts: Path, tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    index = tmp_path / "index"
    with pytest.raises(CorpusError, match="symbolic link loop"):
        build(loop, index)
    for args in (["index", loop, "--index", index], ["index", posts, "--index", loop]):
        done = run_newsearch(*args, timeout=60)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode != 0
        line = done.stderr.strip().splitlines()[-1]
        assert "symbolic link" in line or "Too many levels" in line, line
    # A search builds a missing index first (and says so on a line of its own).
    done = run_newsearch("search", "经济", "--index", loop, "--corpus", posts, timeout=60)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].endswith(f"{loop}: a symbolic link loop")
    assert not index.exists()
    # A loop inside the corpus is one reported problem; the other posts are indexed.
    os.symlink("..", posts / "up")
    os.symlink(posts / "self.md", posts / "self.md")
    report = build(posts, index)
    assert report.total == 30
    assert {p.path: p.reason for p in report.problems} == {
        "self.md": "symbolic link loop",
        "up": "symbolic link to a folder: not followed",
    }


# --- files of other programs in the index folder ------------------------------------------------


@pytest.mark.integration
def test_files_other_programs_wrote_in_the_index_folder(posts: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(posts, index)
    expected = _state(index)
    theirs = {
        "notes.txt": b"my notes\n",
        ".DS_Store": b"\0\0\0\1Bud1",
        "MAIN.txt": b"not a segment\n",
        "photos/1.jpg": b"\xff\xd8\xff",
    }
    for name, data in theirs.items():
        (index / name).parent.mkdir(exist_ok=True)
        (index / name).write_bytes(data)
    mine = {name: listing(index)[name] for name in theirs}
    # A file in newsearch's own names that no commit refers to: a leftover, removed.
    (index / "MAIN_0123456789abcdef.seg").write_bytes(b"a segment of a killed build")
    report = check_index(index)
    assert report.sound and report.leftovers == ("MAIN_0123456789abcdef.seg",)
    assert set(report.foreign) == {"notes.txt", "MAIN.txt", "photos"}
    for args in (["search", "经济"], ["info"], ["check"], ["index", posts], ["index", posts,
                 "--rebuild"], ["index", posts, "--optimize"]):  # fmt: skip
        done = run_newsearch(*args, "--index", index, timeout=120)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode == 0, (args, done.stderr)
        assert {name: listing(index)[name] for name in theirs} == mine, args
    assert not (index / "MAIN_0123456789abcdef.seg").exists()
    assert _state(index) == expected
    # A newer table of contents that is not one: a damaged index, said in one line and found by
    # the check; --rebuild replaces it, and the other program's files stay.
    (index / "_MAIN_99.toc").write_bytes(b"junk" * 100)
    with pytest.raises(IndexDamagedError, match="_MAIN_99.toc"):
        open_index(index)
    done = run_newsearch("search", "经济", "--index", index, timeout=60)
    assert done.returncode == 1 and "_MAIN_99.toc" in one_line_error(done.stderr)
    assert [p.file for p in check_index(index).problems] == ["_MAIN_99.toc"]
    assert run_newsearch("index", posts, "--index", index, "--rebuild", timeout=120).returncode == 0
    assert _state(index) == expected
    assert {name: listing(index)[name] for name in theirs} == mine
    shutil.rmtree(index / "photos")
