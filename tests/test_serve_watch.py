"""``--watch``: a server (and ``newsearch index --watch`` without one) indexes posts within seconds
of their being written, changed, moved or deleted, and never indexes a half-written file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import post_text, write_post
from serving import Server, serving, wait_for

import newsearch
from newsearch.watch import PostFilter, unsettled

pytestmark = pytest.mark.integration  # a real server and watcher in subprocesses


#: Seconds within which a change must be searchable (the watcher waits ~1 s for a file to settle).
SOON = 20


def found(s: Server, q: str) -> list[str]:
    return [h["path"] for h in s.json("/api/search", q=q)["hits"]]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write_post(folder, "2022-05-01-a.md", "第一篇", "稳经济一揽子政策")
    write_post(folder, "2022-05-02-b.md", "第二篇", "春耕备耕进展顺利")
    return folder


def test_serve_watch_indexes_new_changed_moved_and_deleted_posts(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    with serving("--index", index, "--watch", "--corpus", corpus, "--jobs", "1") as s:
        # There is no index when it starts: the watcher builds it, and the API answers then.
        wait_for(lambda: s.get("/api/info").status_code == 200, SOON)
        assert s.json("/api/info")["posts"] == 2
        write_post(corpus, "2022-05-03-c.md", "第三篇", "火星基地建设启动")
        assert wait_for(lambda: found(s, "火星基地"), SOON) == ["2022-05-03-c.md"]
        write_post(corpus, "2022-05-01-a.md", "第一篇（更新）", "月球车顺利着陆")
        wait_for(lambda: found(s, "月球车") == ["2022-05-01-a.md"], SOON)
        assert found(s, "一揽子政策") == []
        os.rename(corpus / "2022-05-03-c.md", corpus / "2022-05-04-moved.md")
        wait_for(lambda: found(s, "火星基地") == ["2022-05-04-moved.md"], SOON)
        assert s.get("/api/posts/2022-05-03-c.md").status_code == 404
        (corpus / "2022-05-02-b.md").unlink()
        wait_for(lambda: s.get("/api/posts/2022-05-02-b.md").status_code == 404, SOON)
        assert s.json("/api/info")["posts"] == 2
        # A folder of posts moved in at once, then away.
        sub = corpus.parent / "more"
        write_post(sub, "2022-05-05-d.md", "第四篇", "深海探测器下潜")
        os.rename(sub, corpus / "more")
        wait_for(lambda: found(s, "深海探测器") == ["more/2022-05-05-d.md"], SOON)
        os.rename(corpus / "more", corpus.parent / "gone")
        wait_for(lambda: found(s, "深海探测器") == [], SOON)
        assert "Traceback" not in s.output()


def test_a_half_written_post_is_never_indexed_half(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    path = corpus / "2022-05-06-slow.md"
    text = post_text("慢慢写的文章", "开头一段。" + "中间的内容很长。" * 40 + "结尾出现量子通信。")
    data = text.encode("utf-8")
    with serving("--index", index, "--watch", "--corpus", corpus, "--jobs", "1") as s:
        wait_for(lambda: s.get("/api/info").status_code == 200, SOON)
        seen: list[int] = []
        stop = threading.Event()

        def watch_it() -> None:
            while not stop.is_set():
                seen.append(s.get("/api/posts/2022-05-06-slow.md").status_code)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch_it)
        watcher.start()
        try:
            # Written in ten pieces, 0.4 s apart: more than the watcher's grouping of events,
            # less than the time a file must stay unchanged.
            with open(path, "wb") as fh:
                for i in range(10):
                    fh.write(data[i * len(data) // 10 : (i + 1) * len(data) // 10])
                    fh.flush()
                    time.sleep(0.4)
            before = list(seen)
            wait_for(lambda: s.get("/api/posts/2022-05-06-slow.md").status_code == 200, SOON)
        finally:
            stop.set()
            watcher.join()
        assert before and set(before) == {404}, "indexed before it was written whole"
        post = s.json("/api/posts/2022-05-06-slow.md")
        assert post["title"] == "慢慢写的文章" and post["text"].endswith("结尾出现量子通信。")
        assert found(s, "量子通信") == ["2022-05-06-slow.md"]


def test_index_watch_without_a_server(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsearch",
            "index",
            corpus,
            "--index",
            index,
            "--watch",
            "-j",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def search(q: str) -> list[str]:
            try:
                with newsearch.open_index(index) as ix:
                    return [h.path for h in ix.search(q)]
            except newsearch.IndexNotFoundError:
                return []

        wait_for(lambda: search("春耕") == ["2022-05-02-b.md"], SOON)
        write_post(corpus, "2022-05-07-e.md", "第五篇", "量子计算突破")
        wait_for(lambda: search("量子计算") == ["2022-05-07-e.md"], SOON)
        (corpus / "2022-05-07-e.md").unlink()
        wait_for(lambda: search("量子计算") == [], SOON)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Watching" in err and "Traceback" not in err
    # The first build and the new post (the deletion's summary may be cut short by Ctrl+C).
    assert out.count("Indexed ") >= 2 and re.search(r"^\s+added\s+1$", out, re.M)


def test_index_watch_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsearch",
            "index",
            tmp_path / "none",
            "--index",
            tmp_path / "ix",
            "--watch",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1 and result.stderr.startswith("Error: corpus folder not found")


def test_what_the_watcher_looks_at(tmp_path: Path) -> None:
    corpus = tmp_path / "site"
    index = corpus / "index"
    (corpus / "_posts").mkdir(parents=True)
    keep = PostFilter(str(corpus), str(index))
    assert keep(None, str(corpus / "_posts" / "2022-05-01-a.md"))
    assert keep(None, str(corpus / "_posts" / "b.HTML"))
    assert keep(None, str(corpus / "_posts"))  # a folder (moved in, say)
    assert keep(None, str(corpus / "gone-folder"))  # gone, named like a folder
    assert not keep(None, str(corpus / "_posts" / "notes.txt"))
    assert not keep(None, str(corpus / "_posts" / ".a.md.swp"))
    assert not keep(None, str(corpus / ".git" / "x.md"))
    assert not keep(None, str(corpus / "_site" / "page.html"))
    assert not keep(None, str(index / "_MAIN_1.toc"))  # the index inside its corpus


def test_a_file_settles_when_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("x")
    seen: dict[str, tuple[int, int]] = {}
    assert unsettled({str(path)}, seen, 0.2) == [str(path)]  # never looked at before
    time.sleep(0.3)
    assert unsettled({str(path)}, seen, 0.2) == []
    path.write_text("xy")
    assert unsettled({str(path)}, seen, 0.2) == [str(path)]
    path.unlink()
    assert unsettled({str(path)}, seen, 0.2) == []  # a deletion is never half done
