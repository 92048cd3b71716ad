"""Synonyms, did-you-mean and suggestions as you type, on small fixed corpora: the library, the
command line (real subprocesses) and the API (a real server on a loopback port)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import build, write_post

from newsearch import open_index
from newsearch.errors import NewsearchError

POSTS = [
    ("a-full.md", "工业和信息化部召开会议", "工业和信息化部召开电视电话会议，部署稳增长工作。"),
    ("b-short.md", "工信部召开会议", "工信部召开电视电话会议，部署稳增长工作。"),
    ("c-other.md", "财政部发布通知", "财政部发布关于减税降费的通知。"),
    *[
        (f"shoe-{i}.md", f"运动鞋市场第{i}期", f"运动鞋销量增长，运动鞋品牌扩张。第{i}期报道。")
        for i in range(6)
    ],
    ("d-gongxin.md", "工信部答记者问", "工信部有关负责人答记者问。"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("help") / "corpus"
    for name, title, body in POSTS:
        write_post(folder, name, title, body)
    return folder


@pytest.fixture(scope="module")
def index(corpus: Path) -> Path:
    index = corpus.parent / "index"
    build(corpus, index)
    return index


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsearch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- synonyms ----------------------------------------------------------------------------------


def test_synonyms_are_kept_with_the_index_and_need_no_rebuild(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(corpus, index)
    with open_index(index) as ix:
        assert {h.path for h in ix.search("工信部")} == {"b-short.md", "d-gongxin.md"}
    groups = tmp_path / "synonyms.txt"
    groups.write_text("# 部委\n工信部 工业和信息化部\n", encoding="utf-8")
    report = build(corpus, index, synonyms=groups)
    assert not report.rebuilt and report.reanalysed == 0
    assert report.added == report.updated == 0
    groups.unlink()  # kept with the index: the file is no longer needed
    with open_index(index) as ix:
        res = ix.search("工信部")
        matches = {h.path: h.match for h in res.hits}
        assert matches["a-full.md"] == "synonym"
        assert matches["b-short.md"] != "synonym"
        # The same words (title and text) either way: the exact match ranks first.
        order = [h.path for h in res.hits]
        assert order.index("b-short.md") < order.index("a-full.md")
        full = next(h for h in res.hits if h.path == "a-full.md")
        assert "工业和信息化部" in {full.title[s:e] for s, e in full.title_highlights}
        assert "工业和信息化部" in {full.snippet[s:e] for s, e in full.highlights}
        # The other way round, too; and off for one search, or replaced by others.
        assert "b-short.md" in {h.path for h in ix.search("工业和信息化部")}
        assert {h.path for h in ix.search("工信部", synonyms=False)} == {
            "b-short.md",
            "d-gongxin.md",
        }
        other = ix.search("财政部", synonyms=[["财政部", "工信部"]])
        assert {h.match for h in other if h.path != "c-other.md"} == {"synonym"}
    # Still there after an update that re-reads the corpus; --no-synonyms drops them.
    write_post(corpus.parent / "extra", "x.md", "x", "y")
    assert not build(corpus, index).rebuilt
    with open_index(index) as ix:
        assert "a-full.md" in {h.path for h in ix.search("工信部")}
    assert run("index", corpus, "--index", index, "--no-synonyms", "-j", "1").returncode == 0
    with open_index(index) as ix:
        assert "a-full.md" not in {h.path for h in ix.search("工信部")}


def test_synonyms_for_one_search_on_the_command_line(index: Path, tmp_path: Path) -> None:
    groups = tmp_path / "syn.txt"
    groups.write_text("工信部，工业和信息化部\n", encoding="utf-8")
    done = run("search", "工信部", "--index", index, "--synonyms", groups, "--json")
    assert done.returncode == 0, done.stderr
    hits = {h["path"]: h["match"] for h in json.loads(done.stdout)["hits"]}
    assert hits["a-full.md"] == "synonym"
    plain = json.loads(run("search", "工信部", "--index", index, "--json").stdout)
    assert "a-full.md" not in {h["path"] for h in plain["hits"]}
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    failed = run("search", "工信部", "--index", index, "--synonyms", bad)
    assert failed.returncode != 0 and "not UTF-8" in failed.stderr
    assert "Traceback" not in failed.stderr


# --- did you mean ------------------------------------------------------------------------------


def test_did_you_mean_offers_the_homophone_and_never_searches_it(index: Path) -> None:
    with open_index(index) as ix:
        typo = ix.search("运动写")
        assert typo.query == "运动写" and typo.suggestion == "运动鞋"
        # Offered, not searched: what the hits highlight is what was typed (运动), not 运动鞋.
        marked = {h.title[s:e] for h in typo for s, e in h.title_highlights}
        assert marked == {"运动"}
        assert ix.search("运动鞋").suggestion is None
        assert ix.search("运动鞋").total == 6
        # The other keywords are kept as typed.
        assert ix.search("运动写 品牌").suggestion == "运动鞋 品牌"
        assert ix.search("财政部").suggestion is None


def test_did_you_mean_at_the_terminal_and_in_json(index: Path) -> None:
    done = run("search", "运动写", "--index", index)
    assert done.returncode == 0, done.stderr
    assert "您是不是要找：运动鞋" in done.stdout
    got = json.loads(run("search", "运动写", "--index", index, "--json").stdout)
    assert got["suggestion"] == "运动鞋" and got["query"] == "运动写"
    right = json.loads(run("search", "运动鞋", "--index", index, "--json").stdout)
    assert "suggestion" not in right and right["total"] == 6


# --- suggestions as you type -------------------------------------------------------------------


def test_suggest_han_and_pinyin_prefixes_most_posts_first(index: Path) -> None:
    with open_index(index) as ix:
        han = ix.suggest("工信")
        assert [s.text for s in han][:1] == ["工信部"]
        assert han.suggestions[0].posts == 2 and han.suggestions[0].kind == "word"
        assert [s.text for s in ix.suggest("gongx")][:1] == ["工信部"]
        assert ix.suggest("gongx").suggestions[0].kind == "pinyin"
        sport = {s.text: s.posts for s in ix.suggest("运动")}
        assert sport["运动鞋"] == 6
        posts = [s.posts for s in ix.suggest("工", limit=20) if s.kind != "title"]
        assert posts == sorted(posts, reverse=True) and len(posts) >= 3
        assert len(ix.suggest("工", limit=2)) == 2
        kept = [s.text for s in ix.suggest("财政部 运动")]
        assert "财政部 运动鞋" in kept and all(t.startswith("财政部 运动") for t in kept)
        assert ix.suggest("   ").suggestions == ()
        assert ix.suggest("zzzzqqq").suggestions == ()
        with pytest.raises(NewsearchError):
            ix.suggest("工信", limit=0)


def test_suggest_on_the_command_line(index: Path) -> None:
    done = run("suggest", "gongx", "--index", index, "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["prefix"] == "gongx" and got["suggestions"][0]["text"] == "工信部"
    text = run("suggest", "运动", "--index", index)
    assert text.returncode == 0 and "运动鞋" in text.stdout
    bad = run("suggest", "工信", "--index", index, "--limit", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.integration
def test_suggest_over_http_and_in_the_openapi_document(index: Path) -> None:
    from serving import serving

    with serving("--index", index) as s:
        got = s.json("/api/suggest", q="gongx", limit=3)
        assert got["suggestions"][0] == {"text": "工信部", "posts": 2, "kind": "pinyin"}
        assert len(got["suggestions"]) <= 3
        assert s.json("/api/suggest", q="")["suggestions"] == []
        assert s.get("/api/suggest", q="工信", limit="x").status_code == 400
        assert s.get("/api/suggest", q="工信", limit="999").status_code == 400
        assert s.get("/api/suggest", q="工" * 1000).status_code == 400
        doc = s.json("/openapi.json")
        op = doc["paths"]["/api/suggest"]["get"]
        assert {p["name"] for p in op["parameters"]} == {"q", "limit"}
        assert "Suggestions" in json.dumps(op["responses"]["200"])
        typo = s.json("/api/search", q="运动写")
        assert typo["suggestion"] == "运动鞋" and typo["query"] == "运动写"


def test_the_literal_count_of_did_you_mean_is_every_candidate_s_below_its_stop(
    bundled_index: Path,
) -> None:
    """Candidates are checked in no particular order: under ``stop`` the count is that of all
    of them (each checked on the index), and at ``stop`` or more it says so."""
    from newsearch import suggest
    from newsearch.query import parse_query

    with open_index(bundled_index) as ix:
        matcher = ix._matcher
        seen = 0
        queries = "工业经济 高质量发展 济社 近平 经济发 会议召 新冠肺炎 业和信".split()
        for text in queries:
            selection = matcher.select(parse_query(text), [], [])
            for e in [e for g in selection.soft + selection.required for e in g]:
                maybe = set(e.maybe - e.exact)
                truth = len(e.exact) + len(
                    set().union(*(matcher.verify(f, e.piece, maybe) for f in e.fields))
                )
                for stop in (1, 4, 9, 10**9):
                    got = suggest._literal_count(matcher, e, stop)
                    if truth < stop:
                        assert got == truth, (text, stop)
                    else:
                        assert stop <= got <= truth, (text, stop)
                seen += bool(maybe)
        assert seen >= 4  # keywords with candidates to check
