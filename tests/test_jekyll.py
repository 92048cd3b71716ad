"""A Jekyll site's root read as Jekyll reads it: posts from every ``_posts`` folder, drafts on
request, pages with front matter and their URLs, static files, unpublished posts, the site's
exclude/include and Jekyll's default excludes; the reading kept with the index (real tiny sites
built by each test, real indexes, the command line through click's runner)."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import BUNDLED_CORPUS
from helpers import build

from newsearch import indexer, open_index, read_corpus
from newsearch.cli import cli
from newsearch.corpus import FOLDER_MODE, SITE_MODE, Site, discover, read_site
from newsearch.models import Progress

CONFIG = """\
title: 测试站
timezone: America/New_York
exclude:
  - notes
  - "*.tmp.md"
include:
  - _pages
"""
#: Everything the site's build publishes as a post or a page, with its URL.
PUBLISHED = {
    "404.html": "/404.html",
    "_pages/faq.md": "/_pages/faq.html",
    "_posts/2022-05-01-hello.md": "/world/2022/05/01/hello.html",
    "about/index.md": "/about/",
    "news/_posts/2022-05-03-local.md": "/news/%E5%9F%8E%E5%B8%82/2022/05/03/local.html",
    "news/_posts/sub/2022-05-04-deeper.md": "/news/2022/05/04/deeper.html",
    "news/index.md": "/news/",
    "old_post/2019-01-01-archive.md": "/old_post/2019-01-01-archive.html",
}
DRAFT = "_drafts/draft-idea.md"
DRAFT_TIME = datetime(2022, 5, 6, 12, 30).timestamp()  # local time of the machine: any moment


def front(title: str, body: str, **fields: str) -> str:
    lines = ["---", f'title: "{title}"', *(f"{k}: {v}" for k, v in fields.items()), "---"]
    return "\n".join([*lines, body, ""])


def make_site(root: Path) -> Path:
    files = {
        "_config.yml": CONFIG,
        "_layouts/default.html": front("布局", "<html>{{ content }}经济布局</html>"),
        "_includes/head.html": "<head>经济头部</head>\n",
        DRAFT: front("草稿", "经济草稿正文。"),
        "_posts/2022-05-01-hello.md": front(
            "你好", "经济你好正文。", date="2022-05-01 10:00:00", categories="world"
        ),
        "_posts/2022-05-02-secret.md": front(
            "秘密", "经济秘密正文。", date="2022-05-02 10:00:00", published="false"
        ),
        "_posts/notes.md": front("笔记", "经济笔记。", date="2022-05-02 10:00:00"),
        "news/_posts/2022-05-03-local.md": front(
            "本地", "经济本地正文。", date="2022-05-03 10:00:00", categories="[城市]"
        ),
        "news/_posts/sub/2022-05-04-deeper.md": front(
            "更深", "经济更深。", date="2022-05-04 10:00:00"
        ),
        "news/index.md": front("新闻首页", "经济新闻首页。"),
        "old_post/2019-01-01-archive.md": front(
            "旧文", "经济旧文正文。", date="2019-01-01 08:00:00"
        ),
        "about/index.md": front("关于", "经济关于我们。"),
        "README.md": "# 说明\n\n经济说明文件，没有 front matter。\n",
        "vendor/bundle/ruby/3.1.0/gems/x-1.0/README.md": front("依赖", "经济依赖说明。"),
        "node_modules/pkg/readme.md": front("模块", "经济模块。"),
        "notes/todo.md": front("待办", "经济待办。"),
        "notes/_posts/2022-05-05-hidden.md": front("隐藏的帖子", "经济隐藏。"),
        "draft.tmp.md": front("临时", "经济临时。"),
        "_pages/faq.md": front("问答", "经济问答。"),
        "unpublished-page.md": front("隐藏页", "经济隐藏页。", published="false"),
        "404.html": front("找不到", "<p>经济页面不存在</p>"),
        "_site/index.html": front("输出", "经济输出。"),
        ".hidden/x.md": front("隐藏", "经济隐藏。"),
        "backup.md~": front("备份", "经济备份。"),
        "Gemfile": 'source "https://rubygems.org"\n',
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    os.utime(root / DRAFT, (DRAFT_TIME, DRAFT_TIME))
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site")


def run(*args: object) -> Result:
    env = {"NO_COLOR": None, "FORCE_COLOR": None, "COLUMNS": None, "NEWSEARCH_DEBUG": None}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def indexed(index: Path) -> dict[str, str]:
    with open_index(index) as ix:
        return {path: ix.get(path).url for path in ix.paths()}


# --- what is read --------------------------------------------------------------------------------


def test_a_site_root_is_read_as_jekyll_reads_it(site: Path) -> None:
    result = read_corpus(site, timezone="America/New_York")
    assert {p.path: p.url for p in result.posts} == PUBLISHED
    # A file in _posts without a date in its name is no post for Jekyll: said, not hidden.
    assert [(p.path, p.reason) for p in result.problems] == [
        (
            "_posts/notes.md",
            "not a post: a post's file name starts with its date (YYYY-MM-DD-title)",
        )
    ]


def test_an_index_of_a_site_root_holds_its_posts_and_pages(site: Path, tmp_path: Path) -> None:
    report = build(site, tmp_path / "index")
    assert report.added == len(PUBLISHED) and report.total == len(PUBLISHED)
    assert indexed(tmp_path / "index") == PUBLISHED
    with open_index(tmp_path / "index") as ix:
        # The site's time zone (from _config.yml) dates its posts.
        assert ix.timezone == "America/New_York"
        hello = ix.get("_posts/2022-05-01-hello.md")
        assert hello.date is not None and hello.date.isoformat() == "2022-05-01T10:00:00-04:00"
        # Nothing of the layouts, includes, vendor files, excluded or static files is found.
        for word in ("布局", "头部", "依赖", "模块", "待办", "隐藏", "临时", "说明文件", "输出"):
            assert ix.search(word).total == 0, word
        assert ix.search("秘密").total == 0  # published: false
        info = ix.info()
        assert info.mode == SITE_MODE and not info.drafts


def test_categories_come_from_the_folders_above_posts_then_the_front_matter(site: Path) -> None:
    (site / "news/_posts/2022-05-07-both.md").write_text(
        front("两者", "经济。", date="2022-05-07", categories="[国内, news]", category="财经"),
        encoding="utf-8",
    )
    posts = {p.path: p for p in read_corpus(site).posts}
    assert posts["news/_posts/2022-05-03-local.md"].categories == ("news", "城市")
    assert posts["news/_posts/sub/2022-05-04-deeper.md"].categories == ("news",)
    assert posts["news/_posts/2022-05-07-both.md"].categories == ("news", "国内", "财经")
    assert posts["_posts/2022-05-01-hello.md"].categories == ("world",)
    # A page's categories are its front matter's only.
    assert posts["news/index.md"].categories == ()


def test_pages_have_their_own_date_and_no_warning_without_one(site: Path) -> None:
    posts = {p.path: p for p in read_corpus(site, timezone="America/New_York").posts}
    assert posts["about/index.md"].date is None
    assert not any("date" in w for w in posts["about/index.md"].warnings)
    archive = posts["old_post/2019-01-01-archive.md"]
    assert archive.date is not None and archive.date.isoformat() == "2019-01-01T08:00:00-05:00"


def test_a_page_permalink_and_the_pretty_style(site: Path) -> None:
    (site / "about/index.md").write_text(front("关于", "经济。", permalink="/us/"), "utf-8")
    (site / "_config.yml").write_text(CONFIG + "permalink: pretty\n", encoding="utf-8")
    urls = {p.path: p.url for p in read_corpus(site).posts}
    assert urls["about/index.md"] == "/us/"
    assert urls["old_post/2019-01-01-archive.md"] == "/old_post/2019-01-01-archive/"
    assert urls["404.html"] == "/404/"
    assert urls["_posts/2022-05-01-hello.md"] == "/world/2022/05/01/hello/"
    (site / "_config.yml").write_text(CONFIG + "permalink: /:year/:title/\n", encoding="utf-8")
    urls = {p.path: p.url for p in read_corpus(site).posts}
    assert urls["_posts/2022-05-01-hello.md"] == "/2022/hello/"
    assert urls["old_post/2019-01-01-archive.md"] == "/old_post/2019-01-01-archive/"


def test_the_exclude_and_include_lists(site: Path) -> None:
    files, _ = discover(site)
    found = {f.path for f in files}
    assert "notes/todo.md" not in found and "notes/_posts/2022-05-05-hidden.md" not in found
    assert "draft.tmp.md" not in found and "_pages/faq.md" in found
    # The site's own exclude list adds to Jekyll's defaults; include re-admits names.
    (site / "vendor/other").mkdir(parents=True)
    (site / "vendor/other/page.md").write_text(front("其他", "经济。"), encoding="utf-8")
    config = CONFIG.replace("  - _pages\n", "  - _pages\n  - node_modules\n")
    (site / "_config.yml").write_text(config, encoding="utf-8")
    found = {f.path for f in discover(site)[0]}
    assert "vendor/other/page.md" in found  # only vendor/bundle/ and the like are excluded
    assert "node_modules/pkg/readme.md" in found
    assert not any(p.startswith("vendor/bundle") for p in found)


def test_an_exclude_pattern_is_a_prefix_as_in_jekyll(tmp_path: Path) -> None:
    site = Site(SITE_MODE, exclude=("news", "a/b/", "*.bak.md"))
    from newsearch.corpus import _admitted

    assert not _admitted(site, "news", "news", True)
    assert not _admitted(site, "newsletter.md", "newsletter.md", False)  # Jekyll's start_with?
    assert not _admitted(site, "b", "a/b", True)
    assert _admitted(site, "bc", "a/bc", True)
    assert not _admitted(site, "x.bak.md", "x.bak.md", False)
    assert not _admitted(site, "_x", "_x", True) and not _admitted(site, ".x", ".x", True)
    assert not _admitted(site, "#x.md", "#x.md", False)
    assert not _admitted(site, "x.md~", "x.md~", False)
    assert _admitted(Site(SITE_MODE, include=("_x",)), "_x", "_x", True)


def test_the_destination_folder_is_never_read(site: Path) -> None:
    (site / "_config.yml").write_text(CONFIG + "destination: public\n", encoding="utf-8")
    (site / "public").mkdir()
    (site / "public/index.html").write_text(front("输出", "经济输出。"), encoding="utf-8")
    assert not any(f.path.startswith("public/") for f in discover(site)[0])


def test_a_broken_config_is_read_with_jekylls_defaults(site: Path) -> None:
    (site / "_config.yml").write_text('title: "a "b" c"\ntimezone: Europe/Paris\n', "utf-8")
    found = read_site(site)
    assert found.mode == SITE_MODE and found.timezone == "Europe/Paris"
    assert found.exclude[-1] == "vendor/ruby/"
    files, problems = discover(site)
    assert any(p.path == "_config.yml" and "not valid YAML" in p.reason for p in problems)
    assert "notes/todo.md" in {f.path for f in files}  # its exclude list could not be read


def test_a_folder_without_config_reads_as_before(tmp_path: Path) -> None:
    assert read_site(BUNDLED_CORPUS) == Site(FOLDER_MODE)
    files, problems = discover(BUNDLED_CORPUS)
    expected = sorted(
        str(p.relative_to(BUNDLED_CORPUS).as_posix())
        for p in BUNDLED_CORPUS.rglob("*")
        if p.suffix in (".md", ".markdown", ".html")
        and not any(
            part.startswith(".") or part == "_site" for part in p.relative_to(BUNDLED_CORPUS).parts
        )
    )
    assert [f.path for f in files] == expected and problems == []
    # A _posts folder of a site is a folder of posts, in the site's time zone.
    site = make_site(tmp_path / "site")
    posts = read_site(site / "_posts")
    assert posts.mode == FOLDER_MODE and posts.timezone == "America/New_York"
    names = [f.path for f in discover(site / "_posts")[0]]
    assert names == ["2022-05-01-hello.md", "2022-05-02-secret.md", "notes.md"]


# --- drafts ----------------------------------------------------------------------------------


def test_drafts_only_when_asked_and_dated_by_their_mtime(site: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(site, index)
    assert DRAFT not in indexed(index)
    with_drafts = build(site, index, drafts=True)
    assert with_drafts.added == 1
    with open_index(index) as ix:
        draft = ix.get(DRAFT)
        assert draft.date is not None
        assert draft.date.timestamp() == int(DRAFT_TIME)
        assert draft.date.utcoffset() == timedelta(hours=-4)  # in the site's zone
        assert draft.url == draft.date.strftime("/%Y/%m/%d/draft-idea.html")
        assert ix.info().drafts
    # Kept with the index: a build without the option keeps the drafts; --no-drafts drops them.
    assert build(site, index).added == 0 and DRAFT in indexed(index)
    dropped = build(site, index, drafts=False)
    assert dropped.removed == 1 and DRAFT not in indexed(index)


def test_a_draft_with_a_date_keeps_it(site: Path) -> None:
    (site / "news/_drafts").mkdir(parents=True)
    (site / "news/_drafts/plan.md").write_text(
        front("计划", "经济计划。", date="2022-06-01 09:00:00"), encoding="utf-8"
    )
    posts = {p.path: p for p in read_corpus(site, timezone="America/New_York", drafts=True).posts}
    plan = posts["news/_drafts/plan.md"]
    assert plan.date is not None and plan.date.isoformat() == "2022-06-01T09:00:00-04:00"
    assert plan.categories == ("news",) and plan.url == "/news/2022/06/01/plan.html"
    assert DRAFT in posts and "news/_drafts/plan.md" not in {p.path for p in read_corpus(site)}


# --- published: false, static files ----------------------------------------------------------


def test_a_post_that_becomes_unpublished_leaves_the_index(site: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(site, index)
    hello = site / "_posts/2022-05-01-hello.md"
    text = hello.read_text(encoding="utf-8")
    hello.write_text(text.replace('title: "你好"', 'title: "你好"\npublished: false'), "utf-8")
    report = build(site, index)
    assert report.removed == 1 and report.problems[0].path == "_posts/notes.md"
    assert "_posts/2022-05-01-hello.md" not in indexed(index)
    hello.write_text(text, encoding="utf-8")
    assert build(site, index).added == 1


def test_static_files_are_not_read_by_every_build(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    build(site, index)
    opened: list[str] = []
    real = indexer.corpus.read_bytes

    def counting(abspath: str) -> bytes:
        opened.append(os.path.relpath(abspath, site))
        return real(abspath)

    monkeypatch.setattr(indexer.corpus, "read_bytes", counting)
    seen: list[Progress] = []
    assert not build(site, index, progress=seen.append).changed
    # Only what must be parsed to be left out is read again: published: false.
    assert sorted(opened) == ["_posts/2022-05-02-secret.md", "unpublished-page.md"]
    assert seen[0].total == 2


# --- the reading is kept with the index ------------------------------------------------------


def test_a_folder_that_becomes_a_site_is_rebuilt_by_itself(site: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    config = (site / "_config.yml").read_text(encoding="utf-8")
    (site / "_config.yml").unlink()
    first = build(site, index)
    assert first.rebuild_reason is None and "README.md" in indexed(index)
    with open_index(index) as ix:
        assert ix.info().mode == FOLDER_MODE
    (site / "_config.yml").write_text(config, encoding="utf-8")
    report = build(site, index)
    assert report.rebuilt
    assert report.rebuild_reason == "the folder is now read as a Jekyll site (it has a _config.yml)"
    assert indexed(index) == PUBLISHED
    with open_index(index) as ix:
        # The time zone of the index is kept (an automatic rebuild changes nothing else).
        assert ix.info().mode == SITE_MODE and ix.timezone == "Asia/Shanghai"
    (site / "_config.yml").write_text(config + "permalink: none\n", encoding="utf-8")
    again = build(site, index)
    assert again.rebuild_reason == "the site's permalink changed (date to none)"
    assert indexed(index)["_posts/2022-05-01-hello.md"] == "/world/hello.html"
    assert build(site, index).rebuild_reason is None


def test_the_command_line_reads_a_site(site: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = run("index", site, "--index", index, "--drafts", "-j", "1")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s+added\s+9$", result.stdout, re.M)
    assert "_posts/notes.md: not a post" in result.stdout
    shown = run("info", "--index", index)
    assert re.search(r"^read as\s+jekyll site, drafts included$", shown.stdout, re.M)
    data = json.loads(run("info", "--index", index, "--json").stdout)
    assert data["mode"] == "jekyll site" and data["drafts"] is True
    found = json.loads(run("search", "旧文", "--index", index, "--json").stdout)
    assert found["hits"][0]["url"] == "/old_post/2019-01-01-archive.html"
    dropped = run("index", site, "--index", index, "--no-drafts", "-j", "1")
    assert re.search(r"^\s+removed\s+1$", dropped.stdout, re.M)
    plain = tmp_path / "plain"
    shutil.copytree(BUNDLED_CORPUS / "finews", plain)
    run("index", plain, "--index", tmp_path / "plain-index", "-j", "1")
    shown = run("info", "--index", tmp_path / "plain-index")
    assert re.search(r"^read as\s+folder of posts$", shown.stdout, re.M)


def test_the_command_line_keeps_and_drops_the_user_dictionary(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(BUNDLED_CORPUS / "finews", corpus)
    words = tmp_path / "words.txt"
    words.write_text("提振工业经济 10 n\n", encoding="utf-8")
    assert run("index", corpus, "--index", index, "-j", "1").exit_code == 0
    given = run("index", corpus, "--index", index, "-j", "1", "--user-dict", words)
    assert given.exit_code == 0, given.output
    assert "user dictionary: 1 word added, removed or changed (提振工业经济)" in given.stdout
    assert "re-analysed 1 post that hold them" in given.stdout
    kept = run("index", corpus, "--index", index, "-j", "1")
    assert kept.exit_code == 0 and "index is up to date" in kept.stdout
    both = run("index", corpus, "--index", index, "--user-dict", words, "--no-user-dict")
    assert both.exit_code == 2 and "not both" in both.stderr
    dropped = run("index", corpus, "--index", index, "-j", "1", "--no-user-dict")
    assert dropped.exit_code == 0 and "re-analysed 1 post that hold them" in dropped.stdout
    info = json.loads(run("info", "--index", index, "--json").stdout)
    assert info["analysis"]["user_dict"] is None
