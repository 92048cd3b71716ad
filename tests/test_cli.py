"""The command line, end to end: real tiny indexes in tmp_path, stdout and stderr checked apart."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import read_terminal

from newsearch import build_index
from newsearch.cli import PlainWriter, ProgressBar, cells, cli, marked, render_report, visible
from newsearch.models import Progress

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

INJECTED_TITLE = "[bold]注入[/bold] \x1b[31m红色 <b>html</b>"
INJECTED_SHOWN = "[bold]注入[/bold] ␛[31m红色 <b>html</b>"


def post(title: str, date: str, category: str, tag: str, body: str) -> str:
    return (
        f'---\nlayout: post\ntitle: "{title}"\ndate: {date}\ncategories: {category}\n'
        f"tags: {tag}\n---\n{body}\n"
    )


POSTS = {
    "cailianshe/2022-05-27-NW202205272394760297.md": post(
        "工信部召开提振工业经济电视电话会议 强调以超常规力度和手段抓好一揽子政策措施落地见效",
        "2022-05-27 17:34:38 +0800",
        "cailianshe",
        "财联社新闻",
        "<p>工业和信息化部27日召开提振工业经济电视电话会议，会议指出，工业是国民经济的主体和"
        "增长引擎，工业稳则经济稳。</p>\n<p>会议要求，切实稳住工业经济基本盘，确保二季度工业"
        "经济平稳运行。</p>",
    ),
    "xinwenlianbo/2022-05-10-xwlb-006.md": post(
        "证监会：支持上市公司克服疫情影响",
        "2022-05-10 19:00:00 +0800",
        "xinwenlianbo",
        "新闻联播",
        "受疫情等因素影响，一些上市公司经营困难增加。下一步，证监会将贯彻资本市场支持振作工业"
        "经济运行的18条措施，支持上市公司通过再融资、并购重组等方式克服疫情影响。",
    ),
    "xinwenlianbo/2022-04-15-xwlb-003.md": post(
        "一季度工业经济运行总体平稳",
        "2022-04-15 19:00:00 +0800",
        "xinwenlianbo",
        "新闻联播",
        "国家统计局今天发布数据，一季度全国规模以上工业增加值同比增长6.5%，工业经济运行总体"
        "平稳，高技术制造业增长较快。",
    ),
    "emnews/2021-12-08-202112082206672930.md": post(
        "离岸人民币兑美元升至2018年以来最高水平",
        "2021-12-08 10:46:18 +0800",
        "emnews",
        "东财滚动新闻",
        "离岸人民币兑美元升至6.3512，为2018年以来最高水平。\n\n"
        "<http://finance.eastmoney.com/news/11060,202112082206672930.html>",
    ),
    "emnews/2021-12-08-202112082206748961.md": post(
        "在岸人民币兑美元升至2018年5月以来新高",
        "2021-12-08 10:45:00 +0800",
        "emnews",
        "东财滚动新闻",
        "在岸人民币兑美元升至2018年5月以来新高，现报6.3565，人民币汇率保持强势。",
    ),
    # YAML's "\e" is the escape character: the title holds a raw ESC.
    "cailianshe/2022-05-20-inj.md": post(
        "[bold]注入[/bold] \\e[31m红色 <b>html</b>",
        "2022-05-20 09:00:00 +0800",
        "cailianshe",
        "财联社新闻",
        "<p>注入测试：方括号[/]不是标记，[link=http://x]点[/link]也不是链接，[bold]粗体[/bold]"
        "也不是。</p>",
    ),
}
N_POSTS = len(POSTS)
FIRST = "cailianshe/2022-05-27-NW202205272394760297.md"


def write_corpus(folder: Path) -> Path:
    for rel, text in POSTS.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One corpus and its index, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("built")
    corpus = write_corpus(root / "corpus")
    index = root / "index"
    build_index(corpus, index, jobs=1)
    return corpus, index


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


def run(*args: object, env: dict[str, str | None] | None = None, **kw: object) -> Result:
    # Whatever the calling shell has, tests see a pipe with neither NO_COLOR nor FORCE_COLOR.
    base: dict[str, str | None] = {
        "NO_COLOR": None,
        "FORCE_COLOR": None,
        "COLUMNS": None,
        "NEWSEARCH_DEBUG": None,
    }
    base.update(env or {})
    return CliRunner().invoke(cli, [str(a) for a in args], env=base, **kw)  # type: ignore[arg-type]


def search_json(index: Path, *args: object) -> dict:
    result = run("search", *args, "--index", index, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- help and version ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "index", "search", "show", "info", "similar"])
def test_every_help_has_an_example(command: str) -> None:
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout or "newsearch index corpus/" in result.stdout
    assert re.search(r"^\s+newsearch \w+", result.stdout, re.M), result.stdout
    if not command:
        for name in ("index", "search", "show", "info", "similar"):
            assert re.search(rf"^\s+{name}\s", result.stdout, re.M)


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert re.fullmatch(r"newsearch \d+\.\d+\.\d+\S*\n", result.stdout)


# --- index ---------------------------------------------------------------------------------------


def summary(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+([a-zA-Z/ ]+?)\s{2,}(\S+)\s*$", stdout, re.M))


def test_index_summary_prints_the_report(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = build_index(corpus, tmp_path / "index", jobs=1)
    render_report(report, PlainWriter())
    numbers = summary(capsys.readouterr().out)
    files = list(corpus.rglob("*.md"))
    assert report.file_bytes == sum(p.stat().st_size for p in files) > 0
    assert report.seconds > 0 and report.added == len(files) == N_POSTS
    assert numbers["added"] == str(report.added) and numbers["problems"] == "0"
    assert numbers["seconds"] == f"{report.seconds:.2f}"
    assert numbers["MB/s of post files"] == f"{report.file_bytes / 1e6 / report.seconds:.2f}"


def test_index_summary_then_up_to_date(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = run("index", corpus, "--index", index, "--jobs", 1)
    assert result.exit_code == 0, result.output
    numbers = summary(result.stdout)
    assert numbers["added"] == str(N_POSTS)
    assert numbers["updated"] == numbers["removed"] == numbers["unchanged"] == "0"
    assert numbers["problems"] == "0"
    assert numbers["posts in index"] == str(N_POSTS)
    # A cold build of six tiny posts may well print a rate of 0.00: the figures themselves are
    # checked against the report in the next test.
    assert float(numbers["seconds"]) > 0 and float(numbers["MB/s of post files"]) >= 0
    assert result.stderr == ""  # no progress bar without a terminal, and jieba stays quiet

    again = run("index", corpus, "--index", index)
    assert again.exit_code == 0
    assert again.stdout.strip() == f"index is up to date: {N_POSTS} posts, nothing changed"

    (corpus / FIRST).unlink()
    (corpus / "emnews/2021-12-08-202112082206748961.md").write_text(
        post("在岸人民币新高", "2021-12-08 10:45:00 +0800", "emnews", "东财滚动新闻", "改写。"),
        encoding="utf-8",
    )
    changed = summary(run("index", corpus, "--index", index, "-j", 1).stdout)
    assert (changed["added"], changed["updated"], changed["removed"]) == ("0", "1", "1")
    assert changed["unchanged"] == str(N_POSTS - 2)
    assert changed["posts in index"] == str(N_POSTS - 1)


def test_index_lists_problems_and_exits_0_unless_strict(corpus: Path, tmp_path: Path) -> None:
    (corpus / "bad.md").write_bytes(b"---\ntitle: x\x00\x00\x00\n---\n\x00\x01\x02binary")
    index = tmp_path / "index"
    result = run("index", corpus, "--index", index, "--jobs", 1)
    assert result.exit_code == 0, result.output
    assert summary(result.stdout)["problems"] == "1"
    assert "1 post could not be indexed:" in result.stdout
    assert re.search(r"^\s+bad\.md: .*binary", result.stdout, re.M), result.stdout

    strict = run("index", corpus, "--index", index, "--strict")
    assert strict.exit_code == 1
    assert "nothing changed" in strict.stdout and "bad.md" in strict.stdout
    assert strict.stderr == "Error: 1 post could not be indexed (--strict)\n"


def test_index_warnings_are_counted_and_listed_with_verbose(corpus: Path, tmp_path: Path) -> None:
    (corpus / "undated.md").write_text("---\ntitle: 没有日期\n---\n正文。\n", encoding="utf-8")
    result = run("index", corpus, "--index", tmp_path / "i1", "-j", 1)
    assert result.exit_code == 0
    assert re.search(r"^\d+ warnings? \(.*-v lists them\)$", result.stdout, re.M), result.stdout
    assert "undated.md:" not in result.stdout
    verbose = run("index", corpus, "--index", tmp_path / "i2", "-j", 1, "-v")
    assert re.search(r"^\s+undated\.md: .*date", verbose.stdout, re.M), verbose.stdout


def test_index_quiet_prints_nothing_when_all_is_well(corpus: Path, tmp_path: Path) -> None:
    result = run("index", corpus, "--index", tmp_path / "index", "-j", 1, "--quiet")
    assert result.exit_code == 0
    assert result.stdout == result.stderr == ""


def test_index_refuses_a_folder_that_is_not_an_index(corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("precious", encoding="utf-8")
    for extra in ((), ("--rebuild",)):
        result = run("index", corpus, "--index", other, *extra)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ") and "not a newsearch index" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    assert (other / "keep.txt").read_text(encoding="utf-8") == "precious"


def test_index_bad_inputs(tmp_path: Path, corpus: Path) -> None:
    missing = run("index", tmp_path / "nope", "--index", tmp_path / "index")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: corpus folder not found")
    zone = run("index", corpus, "--index", tmp_path / "index", "--timezone", "Mars/Base")
    # A bad option value, like --jobs 0: a usage error.
    assert zone.exit_code == 2 and "unknown time zone: 'Mars/Base'" in zone.stderr
    assert "Traceback" not in zone.output
    jobs = run("index", corpus, "--jobs", 0)
    assert jobs.exit_code == 2 and "--jobs" in jobs.stderr
    no_dict = run("index", corpus, "--user-dict", tmp_path / "missing.txt")
    assert no_dict.exit_code == 2 and "--user-dict" in no_dict.stderr


def test_index_in_a_path_that_cannot_be_a_folder(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for args in (["index", corpus], ["search", "工业经济", "--corpus", corpus]):
        result = run(*args, "--index", tmp_path / "afile" / "sub")
        assert result.exit_code == 1
        last = result.stderr.splitlines()[-1]
        assert last == (
            f"Error: cannot create the index folder {tmp_path / 'afile' / 'sub'}: Not a directory"
        )


@pytest.mark.integration
def test_index_locked_by_another_process_exits_75(corpus: Path, tmp_path: Path) -> None:
    from newsearch.store import LOCK_FILE

    index = tmp_path / "index"
    assert run("index", corpus, "--index", index, "-j", 1).exit_code == 0
    script = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(index / LOCK_FILE)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            result = run("index", corpus, "--index", index)
            assert result.exit_code == 75
            assert result.stderr.startswith("Error: another newsearch process is writing")
            assert "--wait" in result.stderr
        finally:
            holder.kill()


def test_progress_bar_follows_the_callback() -> None:
    from rich.console import Console

    buf = io.StringIO()
    bar = ProgressBar(console=Console(file=buf, force_terminal=True, width=100))
    with bar as callback:
        assert callback is not None
        callback(Progress("index", 0, 4, 0, 400))
        callback(Progress("index", 4, 4, 400, 400))
        callback(Progress("merge", 0, 3))
        callback(Progress("merge", 3, 3))
        callback(Progress("done", 4, 4, 400, 400))
        assert bar._bar is None  # stopped at "done"
    out = ANSI.sub("", buf.getvalue())
    assert "Indexing" in out and "4/4" in out
    assert "Merging segments" in out and "3/3" in out
    with ProgressBar(enabled=False) as none:
        assert none is None


# --- search --------------------------------------------------------------------------------------


def test_search_plain_output(built: tuple[Path, Path]) -> None:
    _, index = built
    result = run("search", "工业经济", "--index", index)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.match(r"3 results for 工业经济\n", out)
    assert "1. 工信部召开提振工业经济电视电话会议" in out
    assert "工业稳则经济稳" in out  # the snippet
    assert "2022-05-27 17:34 · cailianshe · #财联社新闻" in out
    assert "/cailianshe/2022/05/27/NW202205272394760297.html" in out
    assert FIRST in out
    assert "\x1b" not in out and result.stderr == ""


def test_search_json(built: tuple[Path, Path]) -> None:
    _, index = built
    data = search_json(index, "工业", "经济")
    assert data["query"] == "工业 经济"
    assert data["total"] == 3 and data["page"] == 1 and len(data["hits"]) == 3
    assert "facets" not in data
    keys = {
        "path",
        "title",
        "date",
        "categories",
        "tags",
        "url",
        "source_url",
        "score",
        "snippet",
        "highlights",
    }
    for rank, hit in enumerate(data["hits"], 1):
        assert keys <= hit.keys()
        assert hit["rank"] == rank
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", hit["date"])
        assert hit["highlights"], hit
        for start, end in hit["highlights"]:
            assert hit["snippet"][start:end], (hit["snippet"], start, end)
        for start, end in hit["title_highlights"]:
            assert hit["title"][start:end]
    assert data["hits"][0]["path"] == FIRST
    assert data["hits"][0]["categories"] == ["cailianshe"]


def test_search_filters_sort_and_facets(built: tuple[Path, Path]) -> None:
    _, index = built
    paths = lambda data: [h["path"] for h in data["hits"]]  # noqa: E731
    may = search_json(index, "工业经济", "--since", "2022-05")
    assert may["total"] == 2 and "xinwenlianbo/2022-04-15-xwlb-003.md" not in paths(may)
    april = search_json(index, "工业经济", "--until", "2022-04-30")
    assert paths(april) == ["xinwenlianbo/2022-04-15-xwlb-003.md"]
    day = search_json(index, "工业经济", "--since", "2022-05-27", "--until", "2022-05-27")
    assert paths(day) == [FIRST]
    cat = search_json(index, "工业经济", "-c", "xinwenlianbo")
    assert {h["categories"][0] for h in cat["hits"]} == {"xinwenlianbo"} and cat["total"] == 2
    tag = search_json(index, "工业经济", "-t", "财联社新闻")
    assert paths(tag) == [FIRST]
    newest = search_json(index, "工业经济", "--sort", "newest")
    dates = [h["date"] for h in newest["hits"]]
    assert dates == sorted(dates, reverse=True)
    oldest = search_json(index, "--since", "2021", "--sort", "oldest", "-n", 1)
    assert oldest["total"] == N_POSTS and oldest["hits"][0]["date"].startswith("2021-12-08T10:45")
    facets = search_json(index, "工业经济", "--facets")
    assert facets["facets"]["category"] == {"xinwenlianbo": 2, "cailianshe": 1}
    assert facets["facets"]["month"] == {"2022-04": 1, "2022-05": 2}
    plain = run("search", "工业经济", "--facets", "--index", index).stdout
    assert re.search(r"^By category\n\s+xinwenlianbo\s+2\n\s+cailianshe\s+1$", plain, re.M), plain
    assert re.search(r"^By month\n\s+2022-04\s+1\n\s+2022-05\s+2$", plain, re.M)


def test_search_query_syntax_reaches_the_library(built: tuple[Path, Path]) -> None:
    _, index = built
    excluded = search_json(index, "工业经济", "-证监会")
    assert excluded["query"] == "工业经济 -证监会"
    assert "xinwenlianbo/2022-05-10-xwlb-006.md" not in [h["path"] for h in excluded["hits"]]
    assert excluded["total"] == 2
    either = search_json(index, "离岸", "OR", "在岸")
    assert either["total"] == 2
    phrase = search_json(index, '"工业稳则经济稳"')
    assert [h["path"] for h in phrase["hits"]] == [FIRST]
    latin = run("search", "--index", index, "--json", "--", "工业经济", "-x")
    assert latin.exit_code == 0 and json.loads(latin.stdout)["query"] == "工业经济 -x"


def test_search_pages(built: tuple[Path, Path]) -> None:
    _, index = built
    first = search_json(index, "工业经济", "-n", 2)
    second = search_json(index, "工业经济", "-n", 2, "-p", 2)
    assert first["pages"] == 2 and len(first["hits"]) == 2 and len(second["hits"]) == 1
    assert second["hits"][0]["rank"] == 3
    beyond = search_json(index, "工业经济", "-n", 2, "--page", 9)
    assert beyond["hits"] == [] and beyond["total"] == 3 and beyond["page"] == 9
    plain = run("search", "工业经济", "-n", 2, "-p", 9, "--index", index)
    assert plain.exit_code == 0
    assert plain.stdout == "No results on page 9: 3 results for 工业经济, 2 pages.\n"
    assert run("search", "工业经济", "-n", 2, "--index", index).stdout.startswith(
        "3 results for 工业经济 · page 1 of 2\n"
    )


def test_search_nothing_found(built: tuple[Path, Path]) -> None:
    _, index = built
    result = run("search", "火星殖民", "--index", index)
    assert result.exit_code == 0 and result.stdout == "No results for 火星殖民.\n"
    assert search_json(index, "火星殖民")["hits"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--since", "2022-13"], "bad date '2022-13'"),
        (["x", "--until", "yesterday"], "bad date 'yesterday'"),
        (["x", "--since", "2022-06", "--until", "2022-05"], "--since is after --until"),
        (["x", "--sort", "random"], "'random' is not one of"),
        (["x", "--limit", "0"], "--limit"),
        (["x", "--page", "0"], "--page"),
        ([], "give a QUERY"),
    ],
)
def test_search_bad_options_are_usage_errors(
    built: tuple[Path, Path], args: list[str], message: str
) -> None:
    _, index = built
    result = run("search", *args, "--index", index)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ")
    assert result.stdout == ""


def test_search_builds_a_missing_index_first(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus.parent)
    assert not (corpus.parent / "index").exists()
    result = run("search", "工业经济", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "No index in index/ yet: building it from corpus/ (first use)...\n"
    )
    assert f"Indexed {N_POSTS} posts" in result.stderr
    assert json.loads(result.stdout)["total"] == 3
    again = run("search", "工业经济")
    assert again.stderr == "" and again.stdout.startswith("3 results")


def test_search_without_index_or_corpus(tmp_path: Path) -> None:
    result = run("search", "工业经济", "--index", tmp_path / "index", "--corpus", tmp_path / "c")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no index in ")
    assert "no corpus folder" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "index").exists()


def test_search_in_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    (tmp_path / "stuff.txt").write_text("x", encoding="utf-8")
    result = run("search", "x", "--index", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path} is not a newsearch index\n"


# --- what a post cannot do to the terminal -------------------------------------------------------


def test_markup_and_escapes_in_posts_are_shown_as_written(built: tuple[Path, Path]) -> None:
    _, index = built
    plain = run("search", "注入", "--index", index)
    assert plain.exit_code == 0
    assert "\x1b" not in plain.stdout
    assert f"1. {INJECTED_SHOWN}\n" in plain.stdout
    assert "[/]不是标记，[link=http://x]点[/link]也不是链接，[bold]粗体[/bold]" in plain.stdout

    colour = run("search", "注入", "--index", index, env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    assert colour.exit_code == 0
    assert "\x1b[" in colour.stdout  # styled...
    text = ANSI.sub("", colour.stdout)
    assert "\x1b" not in text  # ...and the post's own escape never reaches the terminal
    assert INJECTED_SHOWN in text
    assert "[/]不是标记，[link=http://x]点[/link]也不是链接，[bold]粗体[/bold]" in text

    hit = search_json(index, "注入")["hits"][0]
    assert hit["title"] == INJECTED_TITLE
    assert "[link=http://x]点[/link]" in hit["snippet"]

    shown = run("show", "cailianshe/2022-05-20-inj.md", "--index", index, env={"FORCE_COLOR": "1"})
    text = ANSI.sub("", shown.stdout)
    assert INJECTED_SHOWN in text and "\x1b" not in text and "[link=http://x]点[/link]" in text
    data = json.loads(
        run("show", "cailianshe/2022-05-20-inj.md", "--index", index, "--json").stdout
    )
    assert data["title"] == INJECTED_TITLE


def test_visible_keeps_length_and_offsets() -> None:
    text = "a\x1b[31mb\x00c\x7fd\x9be\u202ef\ud800g\rh\ti\nj"
    shown = visible(text)
    assert len(shown) == len(text)
    assert shown == "a␛[31mb␀c␡d\ufffde\ufffdf\ufffdg␍h\ti\nj"
    assert visible("a\tb\nc", one_line=True) == "a b c"
    # Overlapping spans merge, spans past the end are dropped, nothing is lost or repeated.
    segs = marked("注入测试", [(1, 3), (0, 2), (9, 12)], "", "hl")
    assert "".join(t for t, _ in segs) == "注入测试"
    assert "".join(t for t, style in segs if style == "hl") == "注入测"


def test_narrow_terminal_wraps_inside_the_width(built: tuple[Path, Path]) -> None:
    _, index = built
    for args in (["search", "工业经济", "--facets"], ["show", FIRST], ["info"], ["similar", FIRST]):
        result = run(*args, "--index", index, env={"FORCE_COLOR": "1", "COLUMNS": "40"})
        assert result.exit_code == 0, result.output
        lines = ANSI.sub("", result.stdout).splitlines()
        assert lines and max(cells(line.rstrip()) for line in lines) <= 40, lines


def test_no_color_wins_over_force_color(built: tuple[Path, Path]) -> None:
    _, index = built
    result = run("search", "工业经济", "--index", index, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b" not in result.stdout and "1. 工信部" in result.stdout


NEWSEARCH = [str(Path(sys.executable).with_name("newsearch"))]


def on_a_terminal(*args: object, env: dict[str, str], cwd: Path | None = None) -> str:
    """``newsearch ARGS`` with stdin, stdout and stderr on a pseudo-terminal: what it prints."""
    import pty

    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    clean.update({"COLUMNS": "200", "TERM": "xterm-256color", "PYTHONUTF8": "1", **env})
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*NEWSEARCH, *map(str, args)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=clean,
        cwd=cwd,
    )
    os.close(follower)
    text = read_terminal(leader)
    assert proc.wait(timeout=120) == 0
    return text


#: Any SGR sequence: colour, bold (ESC[1m), dim (ESC[2m), underline, reset.
SGR = re.compile(r"\x1b\[[0-9;:]*m")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("env", "styled"),
    [
        ({}, True),
        ({"NO_COLOR": ""}, True),  # set but empty: as if unset
        ({"FORCE_COLOR": ""}, True),  # set but empty: a terminal is still a terminal
        ({"NO_COLOR": "1"}, False),
        ({"NO_COLOR": "0"}, False),  # any non-empty value
        ({"NO_COLOR": "yes", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
        ({"FORCE_COLOR": "1"}, True),
    ],
)
def test_colour_at_a_real_terminal(
    built: tuple[Path, Path], env: dict[str, str], styled: bool
) -> None:
    _, index = built
    out = on_a_terminal("search", "工业经济", "--index", index, env=env)
    assert bool(SGR.search(out)) == styled, (env, out[:300])
    # Titles are bold and dates dim: the styles rich keeps under its own reading of NO_COLOR.
    assert ("\x1b[1m" in out) == styled and ("\x1b[2m" in out) == styled
    assert "工信部召开提振工业经济电视电话会议" in SGR.sub("", out)


@pytest.mark.integration
def test_no_color_index_at_a_real_terminal_has_no_style(tmp_path: Path) -> None:
    """The summary and the progress bar of a build: no bold, no dim, no colour."""
    corpus = write_corpus(tmp_path / "corpus")
    out = on_a_terminal("index", corpus, "--index", tmp_path / "index", env={"NO_COLOR": "1"})
    assert "added" in out and f"{N_POSTS}" in out
    assert not SGR.search(out), out
    again = on_a_terminal("index", corpus, "--index", tmp_path / "index", env={})
    assert "up to date" in again


# --- show, info, similar -------------------------------------------------------------------------


def test_show(built: tuple[Path, Path]) -> None:
    corpus, index = built
    result = run("show", FIRST, "--index", index)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("工信部召开提振工业经济电视电话会议")
    assert re.search(r"^date\s+2022-05-27 17:34:38\+08:00$", out, re.M)
    assert re.search(r"^categories\s+cailianshe$", out, re.M)
    assert re.search(r"^tags\s+财联社新闻$", out, re.M)
    assert re.search(rf"^path\s+{re.escape(FIRST)}$", out, re.M)
    assert "工业是国民经济的主体和增长引擎" in out and "确保二季度工业经济平稳运行。" in out
    # The path as it is on disk, with the corpus folder in front, finds the same post.
    on_disk = run("show", f"{corpus.name}/{FIRST}", "--index", index)
    assert on_disk.exit_code == 0 and on_disk.stdout == out
    data = json.loads(run("show", FIRST, "--index", index, "--json").stdout)
    assert data["path"] == FIRST and data["date"] == "2022-05-27T17:34:38+08:00"
    assert data["tags"] == ["财联社新闻"] and "增长引擎" in data["text"]


def test_show_unknown_path(built: tuple[Path, Path]) -> None:
    _, index = built
    result = run("show", "nope/2022-01-01-none.md", "--index", index)
    assert result.exit_code == 1
    assert result.stderr == "Error: no post with path 'nope/2022-01-01-none.md' in the index\n"
    assert result.stdout == ""


def test_info(built: tuple[Path, Path]) -> None:
    _, index = built
    result = run("info", "--index", index)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(rf"^posts\s+{N_POSTS}$", out, re.M)
    assert re.search(r"^dates\s+2021-12-08 … 2022-05-27$", out, re.M)
    assert re.search(r"^time zone\s+Asia/Shanghai$", out, re.M)
    assert re.search(r"^\s+cailianshe\s+2$", out, re.M)
    assert re.search(r"^\s+新闻联播\s+2$", out, re.M)
    assert re.search(r"^size\s+\d+\.\d MB$", out, re.M)
    assert re.search(r"^\s+analysis_version\s+\d+$", out, re.M)
    top = run("info", "--index", index, "--top", 1).stdout
    assert re.search(r"^\s+…\s+2 more$", top, re.M)  # 3 categories, 1 shown
    data = json.loads(run("info", "--index", index, "--json").stdout)
    assert data["posts"] == N_POSTS and data["categories"]["emnews"] == 2
    assert data["first_date"].startswith("2021-12-08T10:45") and data["timezone"] == "Asia/Shanghai"
    assert "analysis_version" in data["analysis"]


def test_info_without_index(tmp_path: Path) -> None:
    result = run("info", "--index", tmp_path / "none")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no index in ") and result.stderr.count("\n") == 1


def test_similar(built: tuple[Path, Path]) -> None:
    _, index = built
    me = "emnews/2021-12-08-202112082206672930.md"
    result = run("similar", me, "--index", index, "-n", 3)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Posts like {me}\nkey terms: ")
    assert "1. 在岸人民币兑美元升至2018年5月以来新高" in out
    data = json.loads(run("similar", me, "--index", index, "--json").stdout)
    assert data["terms"] and data["query"] == " ".join(data["terms"])
    assert data["hits"][0]["path"] == "emnews/2021-12-08-202112082206748961.md"
    assert me not in [h["path"] for h in data["hits"]]
    missing = run("similar", "none.md", "--index", index)
    assert missing.exit_code == 1
    assert missing.stderr == "Error: no post with path 'none.md' in the index\n"


# --- errors that are bugs, and jieba's chatter --------------------------------------------------


def test_unexpected_error_is_one_line_with_a_hint(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsearch.engine import SearchIndex

    def broken(self: object, *args: object, **kw: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(SearchIndex, "search", broken)
    _, index = built
    result = run("search", "工业经济", "--index", index)
    assert result.exit_code == 1
    first, hint = result.stderr.splitlines()
    assert first == "Error: unexpected RuntimeError: boom"
    assert "--debug" in hint and "NEWSEARCH_DEBUG=1" in hint
    for args, env in ((["--debug"], None), ([], {"NEWSEARCH_DEBUG": "1"})):
        debug = run(*args, "search", "工业经济", "--index", index, env=env)
        assert isinstance(debug.exception, RuntimeError)  # the traceback is shown


def test_jieba_logger_is_quiet_after_the_cli_starts(built: tuple[Path, Path]) -> None:
    _, index = built
    run("info", "--index", index)
    import jieba  # noqa: F401 - importing it resets its logger to DEBUG

    log = logging.getLogger("jieba")
    assert not log.filter(logging.makeLogRecord({"levelno": logging.DEBUG, "name": "jieba"}))
    assert log.filter(logging.makeLogRecord({"levelno": logging.WARNING, "name": "jieba"}))


# --- the installed command -----------------------------------------------------------------------


@pytest.mark.integration
def test_python_m_newsearch_end_to_end(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for rel in (FIRST, "emnews/2021-12-08-202112082206672930.md"):
        shutil.copy(write_corpus(tmp_path / "src") / rel, corpus / Path(rel).name)
    (tmp_path / "words.txt").write_text("提振工业经济 10 n\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    cmd = [sys.executable, "-m", "newsearch"]
    # A user dictionary makes the index use jieba itself, which would say "Building prefix dict".
    built = subprocess.run(
        [*cmd, "index", "corpus", "--index", "ix", "-j", "1", "--user-dict", "words.txt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert re.search(r"^\s+added\s+2$", built.stdout, re.M)
    assert built.stderr == ""
    found = subprocess.run(
        [*cmd, "search", "工业经济", "--index", "ix", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout.decode("utf-8"))
    assert data["total"] == 1 and data["hits"][0]["path"] == Path(FIRST).name
    assert found.stderr == b""
