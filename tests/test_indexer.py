"""Tests of index builds: incremental updates, one job against two, broken posts, foreign folders,
rebuilds, analysis settings, the write lock and progress reports."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from array import array
from pathlib import Path

import pytest
from helpers import build, copy_posts, paths, write_post

from newsearch import check_index, indexer, open_index, store
from newsearch.errors import (
    BuildError,
    CorpusError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidArgumentError,
    NotAnIndexError,
    PostNotFoundError,
    RebuildRequiredError,
)
from newsearch.indexer import build_index
from newsearch.models import IndexReport, Progress


def fruit_corpus(folder: Path) -> None:
    write_post(folder, "2022-05-01-apple.md", "苹果新闻", "苹果公司发布新款手机。")
    write_post(folder, "2022-05-02-banana.md", "香蕉新闻", "香蕉价格持续上涨。")
    write_post(folder, "2022-05-03-orange.md", "橘子新闻", "橘子今年丰收。")
    write_post(folder, "2022-05-04-grape.md", "葡萄新闻", "葡萄酒出口增长。")


def counts(report: IndexReport) -> tuple[int, int, int, int]:
    return report.added, report.updated, report.removed, report.unchanged


# --------------------------------------------------------------------------------------------------
# Incremental builds


def test_first_build_and_a_second_run_on_an_unchanged_folder(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    first = build(corpus, index)
    assert counts(first) == (4, 0, 0, 0)
    assert first.total == 4
    assert first.problems == ()
    assert first.changed
    second = build(corpus, index)
    assert counts(second) == (0, 0, 0, 4)
    assert second.total == 4
    assert not second.changed
    with open_index(index) as ix:
        assert len(ix) == 4
        assert ix.paths() == sorted(p.name for p in corpus.iterdir())


def test_incremental_add_change_delete_touch(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    with open_index(index) as ix:
        assert paths(ix.search("香蕉")) == ["2022-05-02-banana.md"]

    # add one, change one (new content, same size or not), delete one, touch one
    write_post(corpus, "2022-05-05-melon.md", "西瓜新闻", "西瓜又甜又大。")
    write_post(corpus, "2022-05-02-banana.md", "香蕉新闻", "菠萝价格持续下跌。")
    os.remove(corpus / "2022-05-03-orange.md")
    grape = corpus / "2022-05-04-grape.md"
    later = time.time() + 5
    os.utime(grape, (later, later))

    report = build(corpus, index)
    assert counts(report) == (1, 1, 1, 2)
    assert report.total == 4
    assert report.problems == ()

    with open_index(index) as ix:
        assert ix.paths() == [
            "2022-05-01-apple.md",
            "2022-05-02-banana.md",
            "2022-05-04-grape.md",
            "2022-05-05-melon.md",
        ]
        # The changed post shows its new content, not the old.
        assert ix.search('"价格持续上涨"').total == 0
        assert paths(ix.search("菠萝")) == ["2022-05-02-banana.md"]
        assert "菠萝" in ix.get("2022-05-02-banana.md").text
        assert "香蕉价格" not in ix.get("2022-05-02-banana.md").text
        # The deleted post is gone everywhere.
        assert ix.search("橘子").total == 0
        assert ix.search("丰收").total == 0
        with pytest.raises(PostNotFoundError):
            ix.get("2022-05-03-orange.md")
        # The new one and the touched one are found.
        assert paths(ix.search("西瓜")) == ["2022-05-05-melon.md"]
        assert paths(ix.search("葡萄酒")) == ["2022-05-04-grape.md"]
        assert len(ix) == 4

    again = build(corpus, index)
    assert counts(again) == (0, 0, 0, 4)
    assert again.total == 4


def reads(corpus: Path, index: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> int:
    """How many post files one build (in this process) opens and reads."""
    opened: list[str] = []
    real = indexer.corpus.read_bytes

    def counting(abspath: str) -> bytes:
        opened.append(abspath)
        return real(abspath)

    with monkeypatch.context() as m:
        m.setattr(indexer.corpus, "read_bytes", counting)
        seen: list[Progress] = []
        build(corpus, index, progress=seen.append, **kwargs)
    assert seen[0].phase == "index" and seen[0].total == len(opened)
    return len(opened)


@pytest.mark.parametrize("jobs", [1, 2])
def test_touched_files_are_read_once_then_never_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    later = time.time() + 10
    for post in corpus.iterdir():  # touch corpus/*.md
        os.utime(post, (later, later))
    touched = build(corpus, index, jobs=jobs)
    assert counts(touched) == (0, 0, 0, 4) and not touched.changed
    assert touched.total == 4 and touched.problems == ()
    # The stored state is the files' own now: the next builds read nothing.
    snap = store.Snapshot(str(index))
    try:
        states = {path: state for _, path, state in snap.states()}
    finally:
        snap.close()
    assert sorted(states) == sorted(p.name for p in corpus.iterdir())
    for path, state in states.items():
        assert state is not None and state.mtime_ns == (corpus / path).stat().st_mtime_ns
    assert reads(corpus, index, monkeypatch) == 0
    again = build(corpus, index)
    assert counts(again) == (0, 0, 0, 4)
    with open_index(index) as ix:
        assert len(ix) == 4 and paths(ix.search("葡萄酒")) == ["2022-05-04-grape.md"]


def test_changed_content_with_the_same_size_and_mtime_of_another_run(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    post = corpus / "2022-05-01-apple.md"
    old = post.read_text(encoding="utf-8")
    new = old.replace("苹果公司发布新款手机", "梨子公司发布新款电脑")
    assert len(new.encode()) == len(old.encode())
    st = post.stat()
    post.write_text(new, encoding="utf-8")
    os.utime(post, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    report = build(corpus, index)
    assert counts(report) == (0, 1, 0, 3)
    with open_index(index) as ix:
        assert paths(ix.search("梨子")) == ["2022-05-01-apple.md"]
        assert ix.search("手机").total == 0


def test_a_post_that_becomes_broken_leaves_the_index(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    (corpus / "2022-05-02-banana.md").write_bytes(b"\x00\x01\x02" * 40)
    report = build(corpus, index)
    assert [p.path for p in report.problems] == ["2022-05-02-banana.md"]
    assert report.total == 3
    with open_index(index) as ix:
        assert ix.search("香蕉").total == 0
        assert "2022-05-02-banana.md" not in ix.paths()
    # Fixed again: it comes back.
    write_post(corpus, "2022-05-02-banana.md", "香蕉新闻", "香蕉回来了。")
    report = build(corpus, index)
    assert report.problems == ()
    assert report.total == 4
    with open_index(index) as ix:
        assert paths(ix.search("香蕉")) == ["2022-05-02-banana.md"]


def test_searching_an_open_index_sees_its_commit_until_refresh(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    with open_index(index) as ix:
        write_post(corpus, "2022-05-05-melon.md", "西瓜新闻", "西瓜又甜又大。")
        build(corpus, index)
        assert ix.search("西瓜").total == 0
        assert ix.refresh() is True
        assert paths(ix.search("西瓜")) == ["2022-05-05-melon.md"]
        assert ix.refresh() is False


# --------------------------------------------------------------------------------------------------
# One job against two


QUERIES = [
    "习近平",
    "经济",
    "疫情防控",
    "新冠肺炎疫情",
    "国务院 常务会议",
    '"电视电话会议"',
    "发展 -经济",
    "脱贫 OR 扶贫",
    "title:习近平",
    "tag:最美基层干部",
    "中国",
    "业经",
    "人民",
    "美国 总统",
    "科技创新",
    "一带一路",
    "春节",
    "2017年",
    "GDP",
    "为什么要加强生态文明建设？",
]


@pytest.fixture(scope="module")
def xwlb_200(xwlb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("xwlb200")
    copy_posts(xwlb_dir, folder, first=200)
    return folder


def snapshot_results(index: Path) -> tuple[list[object], list[str], dict[str, object]]:
    out: list[object] = []
    with open_index(index) as ix:
        for q in QUERIES:
            res = ix.search(q, limit=20)
            out.append(
                (
                    q,
                    res.total,
                    [
                        (
                            h.path,
                            h.score,
                            h.rank,
                            h.snippet,
                            h.highlights,
                            h.title_highlights,
                            h.match,
                        )
                        for h in res.hits
                    ],
                )
            )
            res = ix.search(q, limit=None, facets=True)
            out.append((q, res.total, [h.path for h in res.hits], res.facets))
        all_paths = ix.paths()
        posts = {p: ix.get(p) for p in all_paths}
    return out, all_paths, posts


@pytest.mark.integration
def test_one_job_and_two_jobs_give_the_same_index(
    xwlb_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 posts are about 400 KB, one batch at the default batch size: make batches small so
    # that two jobs really write several segments in two worker processes.
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 32 * 1024)
    one = build(xwlb_200, tmp_path / "one", jobs=1)
    two = build(xwlb_200, tmp_path / "two", jobs=2)
    assert one.total == two.total == 200
    assert (one.added, two.added) == (200, 200)
    assert one.problems == two.problems == ()
    assert two.jobs == 2
    with open_index(tmp_path / "two") as ix:
        assert ix.info().segments > 1
    r1, p1, posts1 = snapshot_results(tmp_path / "one")
    r2, p2, posts2 = snapshot_results(tmp_path / "two")
    assert p1 == p2
    assert len(p1) == 200
    assert posts1 == posts2
    for a, b in zip(r1, r2, strict=True):
        assert a == b
    # The queries are not all empty: the comparison means something.
    assert sum(1 for r in r1 if r[1]) >= 30  # type: ignore[index]


@pytest.mark.integration
def test_workers_are_replaced_once_they_have_read_their_share_and_the_index_is_the_same(
    xwlb_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 32 KB (about a dozen), and a worker replaced once it has read 64 KB: each
    # worker process indexes one or two batches, then a fresh one takes over.
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 32 * 1024)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 32 * 1024)
    monkeypatch.setattr(indexer, "WORKER_BYTES", 64 * 1024)
    log = tmp_path / "log"
    log.mkdir()
    real_batch = indexer._index_batch

    def logged(batch: int, jobs: indexer._Jobs) -> indexer._BatchResult:
        # Runs in the worker (forked: it has this function), which notes its pid.
        (log / f"{os.getpid()}-{batch}").touch()
        return real_batch(batch, jobs)

    given: list[list[indexer._Jobs]] = []
    sizes: list[int] = []
    real_parallel = indexer._run_parallel

    def parallel(run: object, batches: list[indexer._Jobs], *args: object) -> None:
        given.extend([batches])
        sizes.extend(sum(j.size for j in b) for b in batches)
        real_parallel(run, batches, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(indexer, "_index_batch", logged)
    monkeypatch.setattr(indexer, "_run_parallel", parallel)
    two = build(xwlb_200, tmp_path / "two", jobs=2)
    monkeypatch.setattr(indexer, "_index_batch", real_batch)
    one = build(xwlb_200, tmp_path / "one", jobs=1)
    assert one.total == two.total == 200 and two.problems == ()
    batches = len(sizes)
    assert batches >= 8 and all(32 * 1024 <= n < 64 * 1024 for n in sizes[:-1]), sizes
    by_pid: dict[int, list[int]] = {}
    for name in os.listdir(log):
        pid, batch = map(int, name.split("-"))
        by_pid.setdefault(pid, []).append(batch)
    assert sorted(b for bs in by_pid.values() for b in bs) == list(range(batches))
    assert os.getpid() not in by_pid
    # A worker goes on while it has read less than its share, then a fresh one comes: no
    # process had a batch after reaching 64 KB, only the two still working at the end stopped
    # below, and some had two batches or more.
    read = {pid: [sizes[b] for b in sorted(done)] for pid, done in by_pid.items()}
    assert all(sum(n[:-1]) < 64 * 1024 for n in read.values()), read
    assert sum(1 for n in read.values() if sum(n) < 64 * 1024) <= 2, read
    assert max(map(len, read.values())) >= 2 and len(read) > 2, read
    # The indexer gave each batch away, and kept none of its jobs.
    assert given and all(len(b) == 0 for b in given[0])
    r1, p1, posts1 = snapshot_results(tmp_path / "one")
    r2, p2, posts2 = snapshot_results(tmp_path / "two")
    assert p1 == p2 and len(p1) == 200
    assert posts1 == posts2
    assert r1 == r2


@pytest.mark.integration
@pytest.mark.parametrize("how", ["dies", "raises"])
def test_a_worker_that_dies_or_fails_stops_the_build_and_the_index_keeps_its_last_commit(
    xwlb_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 32 * 1024)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 32 * 1024)
    monkeypatch.setattr(indexer, "WORKER_BYTES", 64 * 1024)
    real_batch = indexer._index_batch

    def failing(batch: int, jobs: indexer._Jobs) -> indexer._BatchResult:
        if batch == 5:  # in the worker: a crash, or a bug
            if how == "dies":
                os._exit(3)
            raise RuntimeError("a bug in batch 5")
        return real_batch(batch, jobs)

    index = tmp_path / "index"
    monkeypatch.setattr(indexer, "_index_batch", failing)
    with pytest.raises(BuildError) as caught:
        build(xwlb_200, index, jobs=2)
    message = str(caught.value)
    assert "worker process" in message and "the index keeps its last commit" in message
    assert ("exit code 3" if how == "dies" else "RuntimeError: a bug in batch 5") in message
    assert not multiprocessing.active_children()
    # Batches are committed in order: the first five at most (almost always some), whole.
    try:
        with open_index(index) as ix:
            kept = len(ix)
    except IndexNotFoundError:
        kept = 0
    assert kept < 200
    assert not kept or check_index(index).sound
    monkeypatch.setattr(indexer, "_index_batch", real_batch)
    report = build(xwlb_200, index, jobs=2)
    assert report.total == 200 and report.added == 200 - kept


def test_batches_take_the_jobs_out_of_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 10_000)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 10_000)
    names = [f"p{i}.md" if i % 7 else f"新闻/p {i}.md" for i in range(50)]
    sizes = array("q", [1000 + i for i in range(50)])
    jobs = indexer._Jobs.of("/c", names, sizes, array("q", range(50)), {3: "a" * 40, 47: "b" * 40})
    kept = list(jobs)
    assert [(j.path, j.size, j.mtime_ns) for j in kept] == list(
        zip(names, sizes, range(50), strict=True)
    )
    assert kept[12].abspath == os.path.join("/c", "p12.md")
    assert kept[14].abspath == os.path.join("/c", "新闻", "p 14.md")
    assert [j.old_sha1 for j in kept if j.old_sha1] == ["a" * 40, "b" * 40]
    assert kept[3].old_sha1 == "a" * 40 and kept[47].old_sha1 == "b" * 40
    assert jobs.bytes == sum(sizes)
    batches = indexer._batches(jobs, 2)
    assert len(jobs) == 0 and list(jobs) == []  # the indexer holds each job once, in its batch
    assert [j for b in batches for j in b] == kept
    assert [len(b) for b in batches] == [10] * 5
    # A batch travels to its worker whole (pickled through the pipe).
    assert list(pickle.loads(pickle.dumps(batches[4]))) == kept[40:]


def test_two_jobs_with_default_batches_and_an_update(xwlb_200: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    files = copy_posts(xwlb_200, corpus, first=120)
    two = build(corpus, tmp_path / "two", jobs=2)
    assert two.total == 120
    # An incremental run with two jobs: change and remove a few, add a few.
    for f in files[:3]:
        f.write_text(
            f.read_text(encoding="utf-8") + "\n追加的段落：量子纠缠实验取得新进展。\n",
            encoding="utf-8",
        )
    for f in files[3:5]:
        f.unlink()
    copy_posts(xwlb_200, tmp_path / "more", first=125)
    for f in sorted((tmp_path / "more").iterdir())[120:]:
        f.rename(corpus / f.name)
    report = build(corpus, tmp_path / "two", jobs=2)
    assert counts(report) == (5, 3, 2, 115)
    assert report.total == 123
    with open_index(tmp_path / "two") as ix:
        assert sorted(paths(ix.search('"量子纠缠实验"', limit=None))) == sorted(
            f.name for f in files[:3]
        )
        assert len(ix) == 123


# --------------------------------------------------------------------------------------------------
# Problems


def test_broken_posts_are_reported_and_the_others_indexed(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    (corpus / "binary.md").write_bytes(bytes(range(256)) * 8)
    (corpus / "empty.md").write_bytes(b"")
    report = build(corpus, index)
    assert report.added == 4
    assert report.total == 4
    by_path = {p.path: p.reason for p in report.problems}
    assert set(by_path) == {"binary.md", "empty.md"}
    assert all(reason.strip() for reason in by_path.values())
    assert "binary" in by_path["binary.md"]
    assert "empty" in by_path["empty.md"]
    with open_index(index) as ix:
        assert "binary.md" not in ix.paths()
        assert paths(ix.search("香蕉")) == ["2022-05-02-banana.md"]
    # They are reported again on the next run, and nothing else changes.
    again = build(corpus, index)
    assert {p.path for p in again.problems} == {"binary.md", "empty.md"}
    assert counts(again) == (0, 0, 0, 4)


@pytest.mark.parametrize("rebuild", [False, True])
def test_a_foreign_folder_is_refused_and_left_alone(tmp_path: Path, rebuild: bool) -> None:
    corpus, folder = tmp_path / "corpus", tmp_path / "notes"
    fruit_corpus(corpus)
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(NotAnIndexError):
        build(corpus, folder, rebuild=rebuild)
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(os.listdir(folder)) == ["notes.txt"]


def test_a_file_in_place_of_the_index_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    fruit_corpus(corpus)
    (tmp_path / "index").write_text("not a folder", encoding="utf-8")
    with pytest.raises(NotAnIndexError):
        build(corpus, tmp_path / "index")
    assert (tmp_path / "index").read_text(encoding="utf-8") == "not a folder"


def test_an_empty_existing_folder_becomes_an_index(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    index.mkdir()
    assert build(corpus, index).total == 4


def test_bad_corpus_folders(tmp_path: Path) -> None:
    with pytest.raises(CorpusError):
        build(tmp_path / "missing", tmp_path / "index")
    corpus = tmp_path / "corpus"
    fruit_corpus(corpus)
    with pytest.raises(CorpusError):
        build(corpus, corpus)


def test_rebuild_of_a_real_index_keeps_the_results(finews_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = build(finews_dir, index)
    assert first.total == 141
    queries = ["工业经济", "比亚迪", "新能源汽车", '"电视电话会议"', "港股 -恒指", "title:工信部"]

    def results() -> list[object]:
        with open_index(index) as ix:
            return [
                (q, r.total, [(h.path, h.score, h.snippet, h.highlights) for h in r.hits])
                for q in queries
                for r in [ix.search(q, limit=20)]
            ]

    before = results()
    again = build(finews_dir, index, rebuild=True)
    assert again.rebuilt
    assert counts(again) == (141, 0, 0, 0)
    assert again.total == 141
    assert results() == before
    # Nothing of the old commits is left behind but the current one.
    with open_index(index) as ix:
        assert len(ix) == 141


def test_the_user_dictionary_is_kept_with_the_index(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    write_post(corpus, "2022-05-06-covid.md", "疫情", "新冠肺炎疫情防控工作有序开展。")
    assert build(corpus, index).rebuild_reason is None
    ud = tmp_path / "words.txt"
    ud.write_text("新冠肺炎 10 n\n", encoding="utf-8")

    def words() -> object:
        with open_index(index) as ix:
            return ix.info().analysis["user_dict_words"]

    # A dictionary where there was none: the posts that hold its words are analysed again.
    given = build(corpus, index, user_dict=ud)
    assert not given.rebuilt and given.rebuild_reason is None
    assert given.user_dict_words == ("新冠肺炎",) and given.reanalysed == 1
    assert given.total == 5 and given.added == 0 and given.unchanged == 4
    assert words() == 1
    # Left out, it is kept (as an omitted time zone is): no rebuild, no error, nothing read.
    kept = build(corpus, index)
    assert not kept.rebuilt and kept.rebuild_reason is None and counts(kept) == (0, 0, 0, 5)
    assert kept.user_dict_words is None and kept.reanalysed == 0
    assert words() == 1
    # The file may move: its content is what is kept. The same content again changes nothing.
    moved = tmp_path / "moved.txt"
    moved.write_text("新冠肺炎 10 n\n", encoding="utf-8")
    again = build(corpus, index, user_dict=moved)
    assert not again.rebuilt and again.user_dict_words is None and again.reanalysed == 0
    ud.unlink()
    assert build(corpus, index).total == 5
    # Another content: its added and removed words, and the posts that hold them, again;
    # False drops the dictionary (its words' posts are analysed again too).
    other = tmp_path / "other.txt"
    other.write_text("疫情防控 10 n\n有序开展 10 n\n", encoding="utf-8")
    changed = build(corpus, index, user_dict=other)
    assert not changed.rebuilt
    assert set(changed.user_dict_words or ()) == {"新冠肺炎", "疫情防控", "有序开展"}
    assert changed.reanalysed == 1
    assert words() == 2
    with open_index(index) as ix:
        assert paths(ix.search('"疫情防控"')) == ["2022-05-06-covid.md"]
        assert ix.search("疫情防控").hits[0].highlights  # one word now
    dropped = build(corpus, index, user_dict=False)
    assert not dropped.rebuilt and dropped.reanalysed == 1
    assert words() == 0
    last = build(corpus, index, user_dict=False)
    assert not last.rebuilt and last.user_dict_words is None


def test_a_rebuild_keeps_the_user_dictionary_and_the_time_zone(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    ud = tmp_path / "words.txt"
    ud.write_text("葡萄酒出口 10 n\n", encoding="utf-8")
    build(corpus, index, user_dict=ud, timezone="Europe/Paris")
    other = tmp_path / "other.txt"
    other.write_text("香蕉价格 10 n\n", encoding="utf-8")
    # Another dictionary keeps the zone the index was built for.
    assert not build(corpus, index, user_dict=other).rebuilt
    with open_index(index) as ix:
        assert ix.timezone == "Europe/Paris"
    # --rebuild without --user-dict keeps the dictionary too.
    assert build(corpus, index, rebuild=True, timezone="Europe/Paris").rebuilt
    with open_index(index) as ix:
        assert ix.info().analysis["user_dict_words"] == 1
        assert ix.timezone == "Europe/Paris"


def test_another_time_zone_requires_a_rebuild(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    with pytest.raises(RebuildRequiredError, match="rebuild"):
        build(corpus, index, timezone="Europe/Paris")
    assert build(corpus, index, timezone="Asia/Shanghai").total == 4
    # A bad time zone is the caller's mistake, not the corpus's.
    with pytest.raises(InvalidArgumentError, match="unknown time zone") as caught:
        build(corpus, tmp_path / "other", timezone="Mars/Olympus")
    assert not isinstance(caught.value, CorpusError)


# --------------------------------------------------------------------------------------------------
# The write lock


class _Holder:
    """A process holding the write lock of an index."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc

    def wait(self) -> None:
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def kill(self) -> None:
        self.proc.kill()


def _lock_holder(index: Path, seconds: float) -> _Holder:
    code = (
        "import sys, time\n"
        "from newsearch import store\n"
        f"lock = store.WriteLock({str(index)!r})\n"
        "lock.acquire()\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
        "lock.release()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return _Holder(proc)


def test_build_fails_while_the_lock_is_held_in_this_process(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    lock = store.WriteLock(str(index))
    lock.acquire()
    try:
        with pytest.raises(IndexLockedError) as info:
            build(corpus, index)
        assert info.value.exit_code == 75
    finally:
        lock.release()


def test_build_waits_for_a_lock_held_in_this_process(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    lock = store.WriteLock(str(index))
    lock.acquire()
    timer = threading.Timer(0.5, lock.release)
    started = time.monotonic()
    timer.start()
    try:
        report = build(corpus, index, wait_for_lock=True)
        elapsed = time.monotonic() - started
    finally:
        timer.join()
    assert elapsed >= 0.4
    assert report.total == 4


@pytest.mark.integration
def test_build_fails_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    holder = _lock_holder(index, 3.0)
    try:
        with pytest.raises(IndexLockedError) as info:
            build(corpus, index)
        assert info.value.exit_code == 75
        assert "--wait" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # Released (the holder died): building works again.
    assert build(corpus, index).total == 4


@pytest.mark.integration
def test_build_waits_for_another_process_to_release_the_lock(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    build(corpus, index)
    write_post(corpus, "2022-05-05-melon.md", "西瓜新闻", "西瓜又甜又大。")
    holder = _lock_holder(index, 0.5)
    started = time.monotonic()
    try:
        report = build(corpus, index, wait_for_lock=True)
        elapsed = time.monotonic() - started
    finally:
        holder.wait()
    assert elapsed >= 0.3
    assert report.added == 1
    assert report.total == 5


@pytest.mark.integration
def test_a_first_build_in_progress_locks_the_new_index(tmp_path: Path) -> None:
    # What another process sees while a first build runs: the marker, the lock, no commit yet.
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    index.mkdir()
    store.write_marker(str(index))
    holder = _lock_holder(index, 3.0)
    try:
        with pytest.raises(IndexLockedError):
            build(corpus, index)
        with pytest.raises(IndexNotFoundError):
            open_index(index)
    finally:
        holder.kill()
        holder.wait()
    assert build(corpus, index).total == 4


@pytest.mark.integration
def test_a_folder_holding_only_the_lock_file_is_locked_not_foreign(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    index.mkdir()
    holder = _lock_holder(index, 3.0)
    try:
        with pytest.raises(IndexLockedError):
            build(corpus, index)
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------------------------------
# Progress


def test_progress_ends_with_done_equal_to_total(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    fruit_corpus(corpus)
    for i in range(60):
        write_post(corpus, f"2022-05-10-n{i:03d}.md", f"新闻{i}", "第{i}条新闻的正文。" * 20)
    seen: list[Progress] = []
    build_index(corpus, index, jobs=1, progress=seen.append)
    assert seen
    assert all(isinstance(p, Progress) for p in seen)
    assert seen[-1].done == seen[-1].total == 64
    assert seen[-1].bytes_done == seen[-1].bytes_total > 0
    done = [p.done for p in seen]
    assert done == sorted(done)
    assert all(0 <= p.done <= p.total for p in seen)
    # An update with nothing to do still ends at done == total.
    seen.clear()
    build_index(corpus, index, jobs=1, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 0


@pytest.mark.integration
def test_progress_with_two_jobs(
    tmp_path: Path, xwlb_200: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 32 * 1024)
    seen: list[Progress] = []
    build_index(xwlb_200, tmp_path / "index", jobs=2, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 200
    done = [p.done for p in seen]
    assert done == sorted(done)
