"""Reliability: broken posts, hostile queries, searching while indexing, two indexers, threads,
text that must not reach the terminal as escapes, and corrupt, foreign or outdated index folders.

What the reader does with each kind of broken file is its own decision (see ``newsearch.corpus``);
the table of expectations is ``reliability_helpers.WRITERS``, printed by
``test_the_table_of_broken_posts``.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import read_terminal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    BIG_KINDS,
    HOLD_MARKER,
    KINDS,
    LOCKED_EXIT,
    OTHER_QUERIES,
    PROBLEM_KINDS,
    SMALL_BATCH,
    WORD_QUERIES,
    WRITERS,
    News,
    Running,
    expected_reason,
    listing,
    lock_holders,
    news_corpus,
    newsearch_cmd,
    no_traceback,
    one_line_error,
    results_state,
    run_newsearch,
    shared_news,
    skip_without_proc,
    start_newsearch,
    subprocess_env,
    time_limit,
    wait_for,
    write_item,
)

from newsearch import build_index, corpus, open_index, read_corpus
from newsearch.cli import cli, visible
from newsearch.errors import IndexNotFoundError
from newsearch.models import SearchResults

#: Query times are bounded in units of a peer query on the same index, measured in the same run
#: (the best of five), so that the bounds hold whatever the machine's speed. The peer takes about
#: 6 ms on this project's machine and an ordinary query a few of them: the bounds (about 2 s and
#: 15 s there) catch only the pathological.
PEER_QUERY = "经济 发展 人民 合作"
QUERY_PEERS = 400
#: Very long queries (10,000 characters) get more, but still a bound.
LONG_QUERY_PEERS = 2_500
_PEER_SECONDS: dict[str, float] = {}


def _peer_seconds(ix) -> float:
    """The time of the peer query on ``ix`` (an open index), measured once per index."""
    if ix.path not in _PEER_SECONDS:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            ix.search(PEER_QUERY)
            best = min(best, time.perf_counter() - started)
        _PEER_SECONDS[ix.path] = best
    return _PEER_SECONDS[ix.path]


def _peers(query: str) -> int:
    return LONG_QUERY_PEERS if len(query) > 100 else QUERY_PEERS


# --------------------------------------------------------------------------------------------------
# 1. Broken posts


def _markers(n: int, seed: int) -> list[str]:
    """``n`` distinct six-consonant words: no English word, no substring of another marker."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(6)))
    return sorted(out)


def test_the_table_of_broken_posts() -> None:
    # The expectations, one line per kind (shown with -rA or on failure); every kind is covered.
    rows = [f"{k:24} {WRITERS[k][0].expect:8} {WRITERS[k][0].why}" for k in KINDS]
    print("\n".join(rows))
    assert {WRITERS[k][0].expect for k in KINDS} == {"post", "problem", "either"}
    assert all(WRITERS[k][0].reason for k in PROBLEM_KINDS)


def _check_folder_outcome(
    corpus_dir: Path,
    expected: dict[str, tuple[str, str, str]],
    indexed: set[str],
    problems: dict[str, str],
) -> None:
    """Every file is a post or a problem, as the table says, and as the reader alone decides."""
    assert not indexed & set(problems), indexed & set(problems)
    assert indexed | set(problems) == set(expected), (
        set(expected) ^ (indexed | set(problems)),
        problems,
    )
    read = read_corpus(corpus_dir)
    assert {p.path for p in read.posts} == indexed
    assert {p.path for p in read.problems} == set(problems)
    for path, (kind, expect, _) in expected.items():
        if expect == "post":
            assert path in indexed, (kind, path, problems.get(path))
        elif expect == "problem":
            assert path in problems, (kind, path)
            assert expected_reason(kind).search(problems[path]), (kind, problems[path])


def _check_markers(index: Path, expected: dict[str, tuple[str, str, str]]) -> None:
    with open_index(index) as ix:
        peer = _peer_seconds(ix)
        for path, (kind, expect, marker) in expected.items():
            if expect != "post":
                continue
            started = time.perf_counter()
            res = ix.search(marker, limit=None)
            took = time.perf_counter() - started
            assert [h.path for h in res.hits] == [path], (kind, marker, res)
            # A 5 MB post gets some slack.
            assert took < QUERY_PEERS * 3 * peer, (kind, took, peer)


def _write_all(folder: Path, items: list[tuple[str, str, bytes]], scale: float):
    expected: dict[str, tuple[str, str, str]] = {}
    for i, (kind, marker, payload) in enumerate(items):
        for path, expect in write_item(folder, i, kind, marker, scale, payload).items():
            expected[path] = (kind, expect, marker)
    return expected


def _listed_problems(stdout: str) -> dict[str, str]:
    """The "N posts could not be indexed:" block of the index command: path -> reason."""
    head, found, rest = stdout.partition(" could not be indexed:\n")
    assert found, stdout
    out = {}
    for line in rest.splitlines():
        if not line.startswith("  "):
            break
        path, _, reason = line[2:].partition(": ")
        out[path] = reason
    assert int(head.rsplit("\n", 1)[-1].split()[0]) == len(out), stdout
    return out


@pytest.mark.integration
def test_index_command_survives_every_kind_of_broken_post(tmp_path: Path) -> None:
    """All kinds at full size (5 MB body, 2 MB line, 10,000-deep HTML) through the real CLI."""
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    kinds = KINDS + ["good", "good", "odd_name"]
    markers = _markers(len(kinds), seed=6)
    rng = random.Random(6)
    items = [(k, m, rng.randbytes(500)) for k, m in zip(kinds, markers, strict=True)]
    expected = _write_all(corpus_dir, items, scale=1.0)
    index = tmp_path / "index"

    done = run_newsearch("index", corpus_dir, "--index", index, "--jobs", 2, timeout=300)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # "N posts could not be indexed:" then "  path: reason" per file, in path order.
    problems = _listed_problems(done.stdout)
    with open_index(index) as ix:
        indexed = set(ix.paths())
    _check_folder_outcome(corpus_dir, expected, indexed, problems)
    _check_markers(index, expected)
    assert len(problems) >= len(PROBLEM_KINDS) + 1  # the loop is two files

    # The search command finds the big post and the oddly named one.
    for kind in ("big_body", "odd_name", "deep_html"):
        path, (_, _, marker) = next((p, e) for p, e in expected.items() if e[0] == kind)
        found = run_newsearch("search", "--json", "--index", index, "--", marker, timeout=60)
        assert found.returncode == 0, found.stderr
        assert [h["path"] for h in json.loads(found.stdout)["hits"]] == [path]

    # A second run reads only the files that failed, reports them again, changes nothing.
    again = run_newsearch("index", corpus_dir, "--index", index, "--strict", timeout=300)
    no_traceback(again.stdout, again.stderr)
    assert again.returncode == 1
    assert "could not be indexed (--strict)" in again.stderr
    assert _listed_problems(again.stdout) == problems
    with open_index(index) as ix:
        assert set(ix.paths()) == indexed


_MARKER = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=6, max_size=6)
_ITEMS = st.lists(
    st.tuples(st.sampled_from(KINDS), _MARKER, st.binary(max_size=400)),
    min_size=1,
    max_size=14,
    unique_by=lambda item: item[1],
)


def _loose(data: bytes) -> str:
    """Text a reader could make of ``data``, folded the way literal matching folds it."""
    text = data.decode("utf-8", "ignore") + data.decode("gb18030", "ignore")
    text += data.decode("utf-16", "ignore") if len(data) % 2 == 0 else ""
    return unicodedata.normalize("NFKC", text).casefold()


def _bad_posts_property(items: list[tuple[str, str, bytes]], scale: float) -> None:
    payloads = [_loose(p) for k, _, p in items if WRITERS[k][0].expect == "either"]
    assume(not any(m in p for _, m, _ in items for p in payloads))
    assume(sum(k in BIG_KINDS for k, _, _ in items) <= 2)
    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus_dir.mkdir()
        expected = _write_all(corpus_dir, items, scale)
        with time_limit(120, "build_index"):
            report = build_index(corpus_dir, index, jobs=1)
        problems = {p.path: p.reason for p in report.problems}
        assert all(reason for reason in problems.values())
        with open_index(index) as ix:
            indexed = set(ix.paths())
        assert report.total == len(indexed)
        _check_folder_outcome(corpus_dir, expected, indexed, problems)
        _check_markers(index, expected)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(items=_ITEMS)
def test_any_mix_of_broken_posts_builds_and_finds_every_good_one(items) -> None:
    # Big kinds at 1/25 of their size here (200 KB, 80 KB); full size in the test above and the
    # slow variant below.
    _bad_posts_property(items, scale=0.04)


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(items=_ITEMS)
def test_any_mix_of_broken_posts_at_full_size(items) -> None:
    _bad_posts_property(items, scale=1.0)


def test_the_indexer_refuses_files_over_the_size_limit_like_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The indexer used to read files itself, without the reader's limit (found by this test,
    # fixed meanwhile in d844039). The limit is 64 MB (the "too_large" kind is a real 65 MB
    # file); lowered here, where the build runs in this process, a text file over it is cheap.
    monkeypatch.setattr(corpus, "MAX_POST_BYTES", 100_000)
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    write_item(corpus_dir, 0, "big_body", "zqxwvb", 0.05)  # about 250 KB
    write_item(corpus_dir, 1, "good", "kdkdkd", 1.0)
    read = read_corpus(corpus_dir)
    assert [p.reason.split(":")[0] for p in read.problems] == ["file too large"]
    report = build_index(corpus_dir, tmp_path / "index", jobs=1)
    assert [p.reason.split(":")[0] for p in report.problems] == ["file too large"]
    assert report.total == 1


# --------------------------------------------------------------------------------------------------
# 2. Bad queries

SYNTAX = [
    '"', "'", "(", ")", "[", "]", "{", "}", ":", "-", "+", "*", "?", "~", "^", "\\", "|", "&", "!",
    "/", "<", ">", "=", ".", ",", "。", "，", "、", "“", "”", "「", "」", "《", "》", "…", "OR",
    "AND", "NOT", "or", "title:", "category:", "tag:", 'title:"', '-"', "--", "-", "- ", " ",
    "\t", "\n", "\u3000", "\x00", "\x1b[31m", "\u200b", "\u202e", "\ufeff",
]  # fmt: skip
WORDS = [
    "经济", "工业经济", "业经", "人民币", "新闻", "疫情", "a", "5g", "2022", "3.5", "華為", "經濟",
    "ＥＣＯＮＯＭＹ", "economy", "emnews", "xinwenlianbo", "东财滚动新闻", "😀", "👨‍👩‍👧", "🇨🇳",
]  # fmt: skip
MIXED = "经济abcАБВΑΒΓאבגابت한국어ไทย١٢٣𠀀𪚥ｆｕｌｌ①Ⅻ㈱ﬁß̶̷"
SURROGATES = ["\ud800", "a\udfffb", "\udc80经济", "经济\ud83d", "\ud83d\ude00"]

_SHORT_QUERIES = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(SYNTAX + WORDS), max_size=12).map("".join),
    st.lists(st.sampled_from(SYNTAX + WORDS), max_size=12).map(" ".join),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co"]), max_size=20),
    st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=10),
    st.text(st.sampled_from(MIXED), max_size=30),
    st.sampled_from(SURROGATES),
)
_LONG_QUERIES = st.builds(
    lambda unit, sep: ((unit + sep) * (10_000 // len(unit + sep) + 1))[:10_000],
    st.one_of(st.sampled_from(SYNTAX + WORDS), st.text(min_size=1, max_size=4)),
    st.sampled_from(["", " ", " OR ", " -"]),
)


@pytest.fixture(scope="module")
def query_index(tmp_path_factory: pytest.TempPathFactory, xwlb_dir: Path, finews_dir: Path) -> Path:
    """The finews posts, 200 新闻联播 posts of all years, and posts in other scripts."""
    root = tmp_path_factory.mktemp("queries")
    corpus_dir = news_corpus(root / "corpus", xwlb_dir, finews_dir, xwlb=200, step=150)
    odd = corpus_dir / "odd"
    odd.mkdir()
    for i, text in enumerate(
        [MIXED, "😀 表情 👨‍👩‍👧 🇨🇳 emoji", "Economy in English, 5G and 3.5%."]
    ):
        (odd / f"2022-05-0{i + 1}-odd-{i}.md").write_text(
            f'---\ntitle: "{text}"\ndate: 2022-05-01\n---\n{text}\n', encoding="utf-8"
        )
    index = root / "index"
    build_index(corpus_dir, index, jobs=1)
    return index


@pytest.fixture(scope="module")
def query_ix(query_index: Path):
    with open_index(query_index) as ix:
        yield ix


def _check_results(res: SearchResults, paths: set[str]) -> None:
    assert isinstance(res, SearchResults)
    assert res.total >= len(res.hits)
    assert [h.rank for h in res.hits] == list(range(1, len(res.hits) + 1))
    for h in res.hits:
        assert h.path in paths
        assert all(0 <= s < e <= len(h.snippet) for s, e in h.highlights), h
        assert all(0 <= s < e <= len(h.title) for s, e in h.title_highlights), h


def _library_search(ix, query: str) -> None:
    paths = _paths_of(ix)
    peer = _peer_seconds(ix)
    started = time.perf_counter()
    res = ix.search(query)
    took = time.perf_counter() - started
    _check_results(res, paths)
    assert took < _peers(query) * peer, (query[:80], took, peer)


_PATHS: dict[int, set[str]] = {}


def _paths_of(ix) -> set[str]:
    if id(ix) not in _PATHS:
        _PATHS[id(ix)] = set(ix.paths())
    return _PATHS[id(ix)]


@settings(max_examples=300, deadline=None)
@given(query=_SHORT_QUERIES)
def test_any_short_query_gives_results_quickly(query_ix, query: str) -> None:
    _library_search(query_ix, query)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=_LONG_QUERIES)
def test_any_long_query_gives_results(query_ix, query: str) -> None:
    _library_search(query_ix, query)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(query=_SHORT_QUERIES)
def test_any_short_query_gives_results_quickly_many(query_ix, query: str) -> None:
    _library_search(query_ix, query)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=_LONG_QUERIES)
def test_any_long_query_gives_results_many(query_ix, query: str) -> None:
    _library_search(query_ix, query)


def test_hand_picked_hostile_queries(query_ix) -> None:
    queries = [
        "", " ", '"', '""', "'", "(", ")", "[", "]", "title:", "category:", "tag:", "-", "--", "-.",
        "OR", "OR OR", "AND", "NOT", "经济 OR", "OR 经济", "-经济", "- 经济", '"经济', '经济"',
        "title:\"", 'title:"经济', "category:", "\x00", "\x1b[31m经济", "😀", "👨‍👩‍👧", "\ud800",
        "经济\udfff", MIXED, "\u202e经济", "\u3000\u3000", "经" * 10_000, "经济 " * 2_000,
        '"' * 10_000, "(" * 10_000, "a " * 5_000, "-经济 " * 2_000, "title:经 " * 1_000,
        "1 2 3 4 5 " * 1_000, "𠀀" * 5_000,
    ]  # fmt: skip
    for q in queries:
        _library_search(query_ix, q)


def _cli(*args: object, env: dict[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {
        "NO_COLOR": None,
        "FORCE_COLOR": None,
        "COLUMNS": None,
        "NEWSEARCH_DEBUG": None,
    }
    base.update(env or {})
    return CliRunner().invoke(cli, [str(a) for a in args], env=base)


def _join_pairs(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _cli_search(index: Path, query: str, *, dashes: bool) -> None:
    args: list[object] = ["search", "--json", "--index", index]
    args += ["--", query] if dashes else [query]
    peer = _PEER_SECONDS.get(str(index.resolve()))
    if peer is None:
        with open_index(index) as ix:
            peer = _peer_seconds(ix)
    started = time.perf_counter()
    result = _cli(*args)
    took = time.perf_counter() - started
    no_traceback(result.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert took < _peers(query) * peer, (query[:80], took, peer)
    if result.exit_code == 2:
        # A usage error: an empty query, or (without --) a string click takes for an option.
        assert "Error:" in result.stderr and len(result.stderr.splitlines()) <= 5, result.stderr
        assert result.stdout == ""
        assert not query.strip() or (not dashes and query.lstrip().startswith("-")), query
        return
    assert result.exit_code == 0, (query, result.exit_code, result.stderr)
    if not dashes and query.strip() in ("-h", "--help"):
        assert result.stdout.startswith("Usage: ")  # an option, not a query
        return
    data = json.loads(result.stdout)
    if dashes or not query.lstrip().startswith("-"):
        # Lone surrogates come back as they went in; a pair of them, as JSON says, as one
        # character. (Without --, "-t0" is the option -t 0: a filter, and no query.)
        assert data["query"] == _join_pairs(query.strip())
    assert data["total"] >= len(data["hits"])


@settings(max_examples=60, deadline=None)
@given(query=_SHORT_QUERIES)
def test_any_query_at_the_command_line_gives_json_or_a_usage_error(query_index, query) -> None:
    _cli_search(query_index, query, dashes=True)
    _cli_search(query_index, query, dashes=False)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(query=st.one_of(_SHORT_QUERIES, _LONG_QUERIES))
def test_any_query_at_the_command_line_many(query_index, query) -> None:
    _cli_search(query_index, query, dashes=True)
    _cli_search(query_index, query, dashes=False)


def test_option_like_queries_at_the_command_line(query_index: Path) -> None:
    for q in ["-n", "--json", "-x", "--limit", "-c", "-p", "--since", "-h", "--foo", "-经济", "- "]:
        _cli_search(query_index, q, dashes=True)
        _cli_search(query_index, q, dashes=False)
    # After --, an option-like word is searched for.
    result = _cli("search", "--json", "--index", query_index, "--", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["query"] == "--json"
    # The plain (non-JSON) output of hostile queries is clean too.
    for q in ["\x1b[31m经济", "\ud800", "[bold]经济[/bold]", "经济\r\x07"]:
        result = _cli("search", "--index", query_index, "--", q)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\r" not in result.output
        assert "\x07" not in result.output


# --------------------------------------------------------------------------------------------------
# 4. Concurrency


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, xwlb_dir: Path, finews_dir: Path) -> News:
    skip_without_proc()
    return shared_news(tmp_path_factory.getbasetemp(), xwlb_dir, finews_dir, xwlb=1500, step=24)


@pytest.mark.integration
def test_searching_while_another_process_indexes(news: News, tmp_path: Path) -> None:
    """Every state a searcher sees is a commit of the build: a prefix of the posts, with exactly
    the reference's matches among them, and the totals only grow."""
    index = tmp_path / "index"
    states: list[tuple[int, tuple[int, ...]]] = []  # (posts, totals of WORD_QUERIES)
    errors: list[str] = []
    ix = None
    with start_newsearch(
        "index", news.corpus, "--index", index, "--jobs", 2, out_dir=tmp_path,
        batch_bytes=SMALL_BATCH,
    ) as run:  # fmt: skip
        # Searching starts once the marker is there: before, the marker's temporary file makes
        # the folder look foreign (test_a_search_while_a_first_build_writes_its_marker).
        assert wait_for(lambda: (index / "NEWSEARCH").exists() or not run.running(), 60)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            finished = not run.running()
            try:
                if ix is None:
                    ix = open_index(index)  # the first commit may not be there yet
                else:
                    ix.refresh()
            except IndexNotFoundError:
                assert not states, "the index went away after a commit"
                if finished:
                    break
                time.sleep(0.01)
                continue
            paths = ix.paths()
            assert paths == news.sorted_paths[: len(paths)]
            have = set(paths)
            totals = []
            for q in WORD_QUERIES:
                res = ix.search(q, limit=5)
                if res.total != len(news.matches[q] & have) or not {h.path for h in res} <= have:
                    errors.append(f"{q}: {res.total} in a commit of {len(have)} posts")
                totals.append(res.total)
            state = (len(paths), tuple(totals))
            if not states or states[-1] != state:
                if states:
                    assert all(a <= b for a, b in zip(states[-1][1], totals, strict=True))
                    assert states[-1][0] <= len(paths)
                states.append(state)
            # A second searcher opens the newest commit from scratch each time.
            with open_index(index) as fresh:
                assert fresh.paths() == news.sorted_paths[: len(fresh.paths())]
                fresh.search("工业经济 OR 疫情", limit=3)
            if finished:
                break
            time.sleep(0.02)  # leave the build some of the two cores
        assert run.wait() == 0, run.stderr
    assert ix is not None
    ix.close()
    assert errors == []
    assert states[-1][0] == len(news.sorted_paths)
    # 17 segments merged into a few: the same index as the reference's two segments.
    assert results_state(index, WORD_QUERIES + OTHER_QUERIES) == news.state
    # The searcher saw the build in progress, not only its end.
    assert len(states) >= 3, states
    print(f"searcher saw {len(states)} states: {[s[0] for s in states]}")


@pytest.mark.integration
def test_a_second_indexer_gets_exit_75_or_waits(news: News, tmp_path: Path) -> None:
    index = tmp_path / "index"
    with start_newsearch(
        "index", news.corpus, "--index", index, "--jobs", 2, out_dir=tmp_path / "a"
    ) as first:
        assert wait_for(lambda: first.pid in lock_holders(index), timeout=60)
        second = run_newsearch("index", news.corpus, "--index", index, "--jobs", 1, timeout=60)
        assert first.pid in lock_holders(index), "the first build ended too soon to tell"
        assert second.returncode == LOCKED_EXIT
        assert second.stdout == ""
        line = one_line_error(second.stderr)
        assert "another newsearch process is writing to the index" in line
        assert "--wait" in line
        # The same with --wait: it waits for the first build, then finds nothing to do.
        with start_newsearch(
            "index", news.corpus, "--index", index, "--jobs", 1, "--wait", out_dir=tmp_path / "b"
        ) as waiting:
            # A search meanwhile answers from the last commit, or waits for the first one.
            search = start_newsearch(
                "search", "--json", "--index", index, "--corpus", news.corpus, "--", "疫情",
                out_dir=tmp_path / "c",
            )  # fmt: skip
            assert first.wait(300) == 0, first.stderr
            assert waiting.wait(300) == 0, waiting.stderr
            assert search.wait(300) == 0, search.stderr
    assert waiting.ended is not None and first.ended is not None
    assert waiting.ended >= first.ended
    no_traceback(first.stderr, waiting.stdout, waiting.stderr, search.stderr)
    assert "index is up to date" in waiting.stdout
    assert json.loads(search.stdout)["total"] > 0
    assert results_state(index, WORD_QUERIES + OTHER_QUERIES) == news.state


def test_a_search_index_shared_by_eight_threads(query_ix) -> None:
    calls = [
        (q, kw)
        for q in [
            "经济",
            "工业经济",
            "业经",
            "人民币 美元",
            '"人民币汇率"',
            "疫情 OR 防控",
            "新闻 -疫情",
            "title:习近平",
            "😀",
            "economy",
            "华为 芯片",
            "会议",
        ]  # fmt: skip
        for kw in (
            {},
            {"limit": 3, "page": 2},
            {"sort": "newest", "facets": True},
            {"categories": ["emnews"], "since": "2021-12"},
            {"limit": None},
        )
    ]
    expected = [query_ix.search(q, **kw) for q, kw in calls]
    some_path = query_ix.paths()[0]
    expected_similar = query_ix.similar(some_path, limit=5)
    expected_post = query_ix.get(some_path)
    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        order = list(range(len(calls))) * 2
        rng.shuffle(order)
        barrier.wait()
        try:
            for i in order:
                q, kw = calls[i]
                got = query_ix.search(q, **kw)
                assert got == expected[i], (q, kw)
                if i % 7 == 0:
                    assert query_ix.similar(some_path, limit=5) == expected_similar
                    assert query_ix.get(some_path) == expected_post
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


@pytest.mark.integration
def test_a_search_while_a_first_build_writes_its_marker(tmp_path: Path) -> None:
    # The window is microseconds wide (a loop of open_index calls during a first build hits it
    # about three times in five builds); here the builder is held inside it for two seconds.
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    write_item(corpus_dir, 0, "good", "kdkdkd", 1.0)
    index = tmp_path / "index"
    argv = [sys.executable, "-c", HOLD_MARKER, "index", str(corpus_dir), "--index", str(index)]
    with Running(argv, tmp_path, HOLD_SECONDS="2") as run:
        assert wait_for(lambda: (index / ".held").exists(), timeout=60)
        with pytest.raises(IndexNotFoundError):
            open_index(index)  # no commit yet: "not found", as before and after the marker
        found = _cli("search", "--json", "--index", index, "--corpus", corpus_dir, "kdkdkd")
        assert run.wait(60) == 0
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["total"] == 1


# --------------------------------------------------------------------------------------------------
# 5. Output safety: text from posts never becomes markup or an escape sequence

_SGR = re.compile(r"\x1b\[[0-9;]*m")
#: Characters a terminal may act on: C0 controls but newline, DEL, C1 controls, bidi overrides.
_ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_HOSTILE = {
    "2022-05-01-markup.md": (
        '"[bold]粗体[/bold] [/] [link=http://x]链接[/link] :smile: [red]红 mkmkmb"',
        "<p>正文[bold]粗[/bold][/][link=http://x]点[/link] :smile: mkmkmb</p>",
    ),
    "2022-05-02-ansi.md": (
        # YAML escapes: ESC, an OSC 8 hyperlink, BEL, BS, CR, a C1 CSI, a bidi override.
        r'"\e[31m红\e[0m \x1b]8;;http://x\x1b\\链接\x1b]8;;\x1b\\ \a\b\r\x9b31m\u202e反向 mkmkmc"',
        "<p>&#27;[31m红&#27;[0m &#x1b;]8;;http://x&#x1b;\\链接&#x1b;]8;;&#x1b;\\ &#155;31m "
        "&#7;&#x202e;反向 mkmkmc</p>",
    ),
    "2022-05-03-html.md": (
        '"<b>粗</b> &lt;i&gt; &amp; <script>alert(1)</script> mkmkmd"',
        "<script>alert(1)</script><b>加粗</b>&lt;b&gt; mkmkmd",
    ),
    # A lone surrogate cannot come from UTF-8; from a YAML escape it could. (libyaml refuses
    # it: the front matter is recovered line by line and the escape stays as text.)
    "2022-05-04-surrogate.md": (r'"\ud800 孤 \udc80 mkmkmf"', "代理 mkmkmf"),
    "2022-05-05-surrogate-pair.md": (r'"\ud83d\ude00 对 mkmkmg"', "代理 mkmkmg"),
    "2022-05-06-\x1b[31mname\x07.md": ('"文件名 mkmkmh"', "文件名里有转义 mkmkmh"),
}
_LABELS = (
    '---\ntitle: "标签 mkmkmj"\ncategories: "\\e[31mcat other"\n'
    'tags: ["\\e[32mtag", "[red]t[/red]"]\n---\n<p>标签 mkmkmj</p>\n'
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    corpus_dir = root / "corpus"
    corpus_dir.mkdir()
    for name, (title, body) in _HOSTILE.items():
        (corpus_dir / name).write_text(
            f"---\ntitle: {title}\ndate: 2022-05-01 10:00:00 +0800\ncategories: news\n"
            f"---\n{body}\n",
            encoding="utf-8",
        )
    (corpus_dir / "2022-05-07-labels.md").write_text(_LABELS, encoding="utf-8")
    index = root / "index"
    report = build_index(corpus_dir, index, jobs=1)
    assert report.total == len(_HOSTILE) + 1 and not report.problems
    return corpus_dir, index


def _marker_of(name: str) -> str:
    return re.findall(r"mkmkm\w", _HOSTILE[name][0])[0]


def _assert_inert(result: Result, colour: bool) -> str:
    """No byte of the output can act on a terminal, except rich's own colours when asked for."""
    no_traceback(result.output)
    assert result.exit_code == 0, result.output
    for raw in (result.stdout_bytes, result.stderr_bytes):
        text = raw.decode("utf-8")  # strict: no lone surrogate reached the output
        if colour:
            assert "\x1b]" not in text  # no hyperlink or other OSC from a post
            text = _SGR.sub("", text)
        else:
            assert "\x1b" not in text
        assert not _ACTIVE.search(text), _ACTIVE.search(text)
    return _SGR.sub("", result.stdout)


_COLOUR = {"FORCE_COLOR": "1", "COLUMNS": "300"}


def test_hostile_text_reaches_the_index_unchanged(hostile: tuple[Path, Path]) -> None:
    # So that the tests below mean something: escapes and markup are in the stored posts.
    _, index = hostile
    with open_index(index) as ix:
        ansi = ix.get("2022-05-02-ansi.md")
        assert "\x1b[31m" in ansi.title and "\x1b]8;;" in ansi.title and "\u202e" in ansi.title
        assert "\x1b[31m" in ansi.text and "\x07" in ansi.text
        assert "[bold]" in ix.get("2022-05-01-markup.md").title
        assert "2022-05-06-\x1b[31mname\x07.md" in ix.paths()
        assert "\x1b[31mcat" in ix.get("2022-05-07-labels.md").categories


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
def test_search_and_show_output_is_inert(hostile: tuple[Path, Path], colour: bool) -> None:
    _, index = hostile
    env = _COLOUR if colour else None
    with open_index(index) as ix:
        for name in _HOSTILE:
            marker = _marker_of(name)
            post = ix.get(name)
            result = _cli("search", marker, "--index", index, env=env)
            shown = _assert_inert(result, colour)
            assert bool(_SGR.search(result.stdout)) == colour  # rich styles, only when asked
            assert visible(post.title, one_line=True) in shown  # shown, not interpreted
            assert visible(name, one_line=True) in shown
            shown = _assert_inert(_cli("show", name, "--index", index, env=env), colour)
            assert visible(post.title, one_line=True) in shown
            _assert_inert(_cli("similar", name, "--index", index, env=env), colour)
    _assert_inert(_cli("search", "mkmkmj", "--facets", "--index", index, env=env), colour)
    _assert_inert(_cli("info", "--index", index, env=env), colour)


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
def test_index_report_is_inert(hostile: tuple[Path, Path], tmp_path: Path, colour: bool) -> None:
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(hostile[0], corpus_dir)
    bad = "2022-05-09-\x1b]8;;x\x1b\\\u202ebad.md"  # a hyperlink and a bidi override
    (corpus_dir / bad).write_bytes(b"")  # a problem: listed with its path
    env = _COLOUR if colour else None
    result = _cli("index", corpus_dir, "--index", tmp_path / "index", "-v", "-j", 1, env=env)
    shown = _assert_inert(result, colour)
    assert visible(bad, one_line=True) + ": empty file" in shown
    assert "2022-05-07-labels.md: no date" in shown  # the warnings are listed too


def test_json_output_is_valid_and_round_trips(hostile: tuple[Path, Path]) -> None:
    _, index = hostile
    with open_index(index) as ix:
        for name in [*_HOSTILE, "2022-05-07-labels.md"]:
            post = ix.get(name)
            marker = re.findall(r"mkmkm\w", post.title)[0]
            result = _cli("search", marker, "--json", "--index", index)
            assert result.exit_code == 0, result.output
            data = json.loads(result.stdout_bytes.decode("utf-8"))
            assert [h["path"] for h in data["hits"]] == [name]
            hit = data["hits"][0]
            assert hit["title"] == _join_pairs(post.title)
            assert hit["categories"] == list(post.categories)
            shown = json.loads(_cli("show", name, "--json", "--index", index).stdout_bytes)
            assert shown["title"] == _join_pairs(post.title)
            assert shown["text"] == post.text


@pytest.mark.integration
def test_a_real_terminal_gets_inert_output(hostile: tuple[Path, Path]) -> None:
    """The console script on a pseudo-terminal: rich draws in colour, posts stay text."""
    _, index = hostile
    for args, expected in (
        (["search", "mkmkmc"], "␛[31m红"),
        (["show", "2022-05-02-ansi.md"], "␛]8;;http://x␛\\链接"),
        (["info"], "␛[31mcat"),
    ):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            newsearch_cmd(*args, "--index", index),
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=subprocess_env(COLUMNS="300", TERM="xterm-256color"),
        )
        os.close(follower)
        with time_limit(60, "newsearch on a terminal"):
            text = read_terminal(leader)
            assert proc.wait() == 0
        assert _SGR.search(text), text  # a terminal: styled
        assert "\x1b]" not in text
        rest = _SGR.sub("", text)
        assert not _ACTIVE.search(rest), (args, _ACTIVE.search(rest))
        assert expected in rest


# --------------------------------------------------------------------------------------------------
# 6. Index safety: corrupt, foreign and outdated index folders


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory, finews_dir: Path) -> tuple[Path, Path]:
    """The finews posts in two segments (two incremental builds)."""
    root = tmp_path_factory.mktemp("small")
    corpus_dir = root / "corpus"
    corpus_dir.mkdir()
    names = sorted(p.name for p in finews_dir.iterdir())
    for name in names[:70]:
        shutil.copyfile(finews_dir / name, corpus_dir / name)
    index = root / "index"
    build_index(corpus_dir, index, jobs=1)
    for name in names[70:]:
        shutil.copyfile(finews_dir / name, corpus_dir / name)
    build_index(corpus_dir, index, jobs=1)
    with open_index(index) as ix:
        assert ix.info().segments == 2
    return corpus_dir, index


def _copy_index(small_index: tuple[Path, Path], tmp_path: Path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(small_index[1], index)
    return index


def _toc(index: Path) -> Path:
    (toc,) = index.glob("_MAIN_*.toc")
    return toc


def _segments(index: Path) -> list[Path]:
    return sorted(index.glob("MAIN_*.seg"))


def _truncate(path: Path, size: int) -> None:
    os.truncate(path, size)


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 64] = b"\xab" * 64
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "toc emptied": lambda ix: _truncate(_toc(ix), 0),
    "toc cut in half": lambda ix: _truncate(_toc(ix), _toc(ix).stat().st_size // 2),
    "toc garbled": lambda ix: _garble(_toc(ix)),
    "toc replaced by junk": lambda ix: _toc(ix).write_bytes(random.Random(6).randbytes(3000)),
    "segment deleted": lambda ix: _segments(ix)[0].unlink(),
    "segment emptied": lambda ix: _truncate(_segments(ix)[0], 0),
    "segment cut in half": lambda ix: _truncate(
        _segments(ix)[0], _segments(ix)[0].stat().st_size // 2
    ),
}


def _check_refused(index: Path, corpus_dir: Path) -> None:
    before = listing(index)
    for args in (["search", "新闻"], ["info"], ["index", corpus_dir, "--jobs", 2]):
        done = run_newsearch(*args, "--index", index, timeout=120)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode not in (0, LOCKED_EXIT), (args, done.stdout)
        line = one_line_error(done.stderr)
        assert str(index) in line, line
        assert listing(index) == before, args  # nothing deleted, nothing written


@pytest.mark.parametrize(
    "corruption",
    list(CORRUPTIONS),
)
@pytest.mark.integration
def test_a_corrupt_index_is_refused_and_left_alone(
    small_index: tuple[Path, Path], tmp_path: Path, corruption: str, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no default corpus/ here: nothing can be built from it either
    index = _copy_index(small_index, tmp_path)
    CORRUPTIONS[corruption](index)
    _check_refused(index, small_index[0])


@pytest.mark.integration
def test_a_corrupt_index_can_be_rebuilt(small_index: tuple[Path, Path], tmp_path: Path) -> None:
    corpus_dir, reference = small_index
    index = _copy_index(small_index, tmp_path)
    _garble(_toc(index))
    done = run_newsearch("index", corpus_dir, "--index", index, "--rebuild", timeout=120)
    assert done.returncode == 0, done.stderr
    assert results_state(index, ["人民币", "美元 汇率"]) == results_state(
        reference, ["人民币", "美元 汇率"]
    )


def _foreign_folder(folder: Path) -> None:
    """Files of another application, among them a Whoosh index of its own."""
    from whoosh import fields
    from whoosh import index as windex

    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (folder / "data.db").write_bytes(b"SQLite format 3\x00" + bytes(100))
    (folder / "sub").mkdir()
    (folder / "sub" / "keep.md").write_text("---\ntitle: 别删\n---\n别删我\n", encoding="utf-8")
    (folder / ".hidden").write_text("x", encoding="utf-8")
    wix = windex.create_in(str(folder), fields.Schema(body=fields.TEXT(stored=True)))
    with wix.writer() as w:
        w.add_document(body="another app's document")


@pytest.mark.parametrize("rebuild", [False, True], ids=["update", "rebuild"])
@pytest.mark.integration
def test_a_foreign_folder_is_never_touched(
    small_index: tuple[Path, Path], tmp_path: Path, rebuild: bool, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    corpus_dir = small_index[0]
    folder = tmp_path / "theirs"
    _foreign_folder(folder)
    before = listing(folder)
    extra = ["--rebuild"] if rebuild else []
    for args in (["index", corpus_dir, *extra], ["search", "新闻"], ["info"]):
        done = run_newsearch(*args, "--index", folder, timeout=120)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode not in (0, LOCKED_EXIT), done.stdout
        line = one_line_error(done.stderr)
        assert str(folder) in line and "not a newsearch index" in line, line
        assert listing(folder) == before
    # A file given as the index folder is refused the same way.
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine\n", encoding="utf-8")
    done = run_newsearch("index", corpus_dir, "--index", a_file, *extra, timeout=120)
    assert done.returncode == 2 and a_file.read_text(encoding="utf-8") == "mine\n"
    assert "is a file" in done.stderr.splitlines()[-1]  # click's usage error


def _rewrite_schema(index: Path, change) -> None:
    """A new commit of the same index whose pickled schema was changed by ``change``."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    storage = FileStorage(str(index))
    toc = TOC.read(storage, "MAIN")
    change(toc.schema)
    toc.generation += 1
    toc.write(storage, "MAIN")


def _older_schema(schema) -> None:
    schema.newsearch_version = 0


def _older_analysis(schema) -> None:
    schema.newsearch_settings = dict(schema.newsearch_settings, analysis_version=1)


@pytest.mark.parametrize(
    "change",
    [
        _older_schema,
        _older_analysis,
    ],
    ids=["schema version 0", "analysis version 1"],
)
@pytest.mark.integration
def test_an_index_of_an_older_version_asks_for_a_rebuild(
    small_index: tuple[Path, Path], tmp_path: Path, change, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    corpus_dir, reference = small_index
    index = _copy_index(small_index, tmp_path)
    _rewrite_schema(index, change)
    before = listing(index)
    for args in (["search", "人民币"], ["info"], ["index", corpus_dir]):
        done = run_newsearch(*args, "--index", index, timeout=120)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode not in (0, LOCKED_EXIT), (args, done.stdout)
        line = one_line_error(done.stderr)
        assert "newsearch index --rebuild" in line, line
        assert listing(index) == before
    done = run_newsearch("index", corpus_dir, "--index", index, "--rebuild", timeout=120)
    assert done.returncode == 0, done.stderr
    queries = ["人民币", "美元 汇率", '"人民币汇率"']
    assert results_state(index, queries) == results_state(reference, queries)
    found = run_newsearch("search", "--json", "人民币", "--index", index, timeout=60)
    assert found.returncode == 0 and json.loads(found.stdout)["total"] > 0
