"""Tests of the corpus reader: every real finews post, the 新闻联播 posts at scale, and one small
fixture for each variant of the Jekyll format the reader must handle."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsearch import corpus
from newsearch.corpus import (
    DEFAULT_TIMEZONE,
    PostError,
    PostFile,
    discover,
    parse_post,
    read_corpus,
    read_post,
    site_timezone,
)
from newsearch.errors import CorpusError
from newsearch.models import Post, Problem

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLUS8 = timedelta(hours=8)
HEADER = "---\nlayout: post\ntitle: 标题\ndate: 2021-12-08 10:46:18\ncategories: emnews\n---\n"
NAME = "2021-12-08-post.md"


def parse(text: str, name: str = NAME, **kwargs: str) -> Post:
    return parse_post(text.encode("utf-8"), name, **kwargs)


def body(text: str) -> Post:
    """A post with a fixed, valid front matter and the given body."""
    return parse(HEADER + text)


def front(lines: str, text: str = "正文。", name: str = NAME) -> Post:
    """A post with the given front matter lines and body."""
    return parse(f"---\n{lines}\n---\n{text}", name)


def assert_clean_text(text: str) -> None:
    """The text invariants: one line per block, no blank lines, no indentation, nothing trailing."""
    assert text == text.strip()
    for line in text.split("\n") if text else ():
        assert line, f"blank line in {text!r}"
        assert line == line.strip(), f"untrimmed line {line!r}"
        assert "  " not in line


# --------------------------------------------------------------------------------------------------
# The real finews posts


@pytest.fixture(scope="module")
def finews(finews_dir: Path) -> dict[str, Post]:
    result = read_corpus(finews_dir)
    assert result.problems == ()
    return {post.path: post for post in result.posts}


RAW_DATE = re.compile(r"^date:[ \t]*(.*?)[ \t]*$", re.M)
RAW_SOURCE = re.compile(r"^<(.*)>[ \t]*$", re.M)
NO_MARKUP = [
    "<p",
    "<span",
    "<img",
    "<a ",
    "</",
    "<!--",
    "&amp;",
    "&lt;",
    "&gt;",
    "&nbsp;",
    "&quot;",
]
NO_NAVIGATION = ["[返回", "](", "finews.withounder.com", "返回首页", "返回东财滚动新闻"]


def test_every_finews_post_is_read_right(finews_dir: Path, finews: dict[str, Post]) -> None:
    names = sorted(p.name for p in finews_dir.iterdir() if p.suffix == ".md")
    assert len(names) == 141
    assert sorted(finews) == names
    failures: list[str] = []
    for name in names:
        post = finews[name]
        raw = (finews_dir / name).read_text(encoding="utf-8")
        try:
            assert post.title, "empty title"
            assert post.categories and all(post.categories), "no categories"
            assert post.tags, "no tags"
            raw_date = RAW_DATE.search(raw)
            assert raw_date is not None
            value = raw_date.group(1)
            match = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)( \+0800)?", value)
            if match is None:
                assert value == "+0800" and name.startswith("-"), f"unexpected raw date {value!r}"
                assert post.date is None
            else:
                assert post.date is not None
                wall = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
                assert post.date.replace(tzinfo=None) == wall, "wall time changed"
                assert post.date.utcoffset() == PLUS8, "offset is not +08:00"
                assert post.date == wall.replace(tzinfo=timezone(PLUS8))
                assert post.url.startswith(f"/{post.categories[0]}/{wall:%Y/%m/%d}/")
            sources = [s for s in RAW_SOURCE.findall(raw) if s.startswith("http")]
            assert post.source_url == (sources[0] if sources else None), "source_url"
            assert post.url.endswith(".html") and "//" not in post.url
            assert post.text, "empty text"
            for bad in NO_MARKUP + NO_NAVIGATION:
                assert bad not in post.text, f"{bad!r} in text"
            assert re.search(r"&#x?[0-9a-fA-F]+;", post.text) is None, "numeric entity in text"
            assert_clean_text(post.text)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def test_finews_short_digest_post_exactly(finews: dict[str, Post]) -> None:
    post = finews["2021-12-08-202112082206672930.md"]
    assert post == Post(
        path="2021-12-08-202112082206672930.md",
        title="离岸人民币兑美元升至2018年以来最高水平",
        date=datetime(2021, 12, 8, 10, 46, 18, tzinfo=SHANGHAI),
        categories=("emnews",),
        tags=("东财滚动新闻",),
        url="/emnews/2021/12/08/202112082206672930.html",
        source_url="http://finance.eastmoney.com/news/11060,202112082206672930.html",
        text="离岸人民币兑美元升至6.3512，为2018年以来最高水平。",
        recovered=False,
        warnings=(),
    )


def test_finews_post_with_blank_line_before_front_matter(finews_dir: Path) -> None:
    name = "2021-12-08-202112082206703990.md"
    assert (finews_dir / name).read_bytes().startswith(b"\n---\n")
    post = read_post(finews_dir, name)
    assert post.title == "FF：有充足的现金支持到FF 91完成投产"
    assert post.date == datetime(2021, 12, 8, 10, 18, 31, tzinfo=timezone(PLUS8))
    assert post.categories == ("emnews",)
    assert post.source_url == "http://stock.eastmoney.com/news/1611,202112082206703990.html"
    assert post.text.startswith("Faraday Future (FF)于今日举办的线上投资者沟通交流会上")
    assert post.text.endswith("并表示首家旗舰店将落地比佛利山庄。")
    assert post.recovered is False and post.warnings == ()


def test_finews_post_without_title_date_or_dated_name(finews: dict[str, Post]) -> None:
    post = finews["-202205262391921712.md"]
    first = (
        "据霍尼韦尔官网消息，5月24日，霍尼韦尔宣布为蔚来旗下ET7新能源汽车提供"
        "HFO-1234yf(四氟丙烯)制冷剂。"
    )
    assert post.title == first  # the first sentence of the text
    assert post.date is None
    assert any("title is empty" in w for w in post.warnings)
    assert any("date is empty" in w and "no date" in w for w in post.warnings)
    assert post.source_url is None  # its source line is an empty "<>"
    assert post.url == "/emnews/202205262391921712.html"
    lines = post.text.split("\n")
    assert (
        lines[0]
        == first + "据悉，这也标志着蔚来成为国内首家使用HFO-1234yf制冷剂的汽车企业。（上海证券报）"
    )
    assert lines[1] == "国内首款使用超低GWP(全球变暖潜值)制冷剂的新能源汽车来了！"  # spans joined
    assert "《<蒙特利尔议定书>基加利修正案》" in post.text  # entities decoded
    assert "K图" not in post.text and "EM_StockImg" not in post.text  # image alt, comment
    assert "图片来源：霍尼韦尔官网" in lines
    assert lines[-1] == "（文章来源：上海证券报）"


def test_finews_unescaped_less_than_survives(finews: dict[str, Post]) -> None:
    post = finews["2021-12-08-202112082206796814.md"]
    assert "且精度满足<1%，视场角达到120度以上" in post.text
    assert post.text.endswith("智能仓储等。")  # both navigation lines removed
    assert post.source_url == "http://finance.eastmoney.com/news/1354,202112082206796814.html"


def test_finews_html_post_paragraphs_are_lines(finews: dict[str, Post]) -> None:
    post = finews["2022-05-27-NW202205272394760297.md"]
    lines = post.text.split("\n")
    assert lines[1:3] == ["详细报道", "工信部：全力以赴提振工业经济 组织新一轮新能源汽车下乡活动"]
    assert lines[-1] == "（文章来源：财联社）"
    assert post.url == "/cailianshe/2022/05/27/NW202205272394760297.html"
    assert post.source_url == (
        "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202205272394760297"
    )
    assert post.date == datetime(2022, 5, 27, 17, 34, 38, tzinfo=timezone(PLUS8))


def test_finews_site_post_without_source(finews: dict[str, Post]) -> None:
    post = finews["2021-12-01-init.md"]
    assert (post.title, post.text, post.source_url) == ("开站大吉", "祝贺开站", None)
    assert post.url == "/sitenews/2021/12/01/init.html"
    assert post.tags == ("站长消息",)


def test_finews_dates_with_offset_keep_wall_time(finews: dict[str, Post]) -> None:
    post = finews["2022-05-27-NW202205272394760297.md"]  # date: 2022-05-27 17:34:38 +0800
    assert post.date is not None
    assert (post.date.hour, post.date.minute, post.date.utcoffset()) == (17, 34, PLUS8)
    naive = finews["2021-12-01-init.md"]  # date: 2021-12-01 13:33:50
    assert naive.date is not None and naive.date.utcoffset() == PLUS8
    assert naive.date.astimezone(UTC) == datetime(2021, 12, 1, 5, 33, 50, tzinfo=UTC)


def rendered_bodies(folder: Path) -> list[tuple[str, str]]:
    """(name, body) of each post, as the reader hands the body to the renderer."""
    out = []
    for path in sorted(folder.iterdir()):
        text = corpus._decode(path.read_bytes(), [])
        _, rest, _ = corpus._split_front_matter(text)
        out.append((path.name, corpus._extract_links(corpus._strip_liquid(rest))[0]))
    return out


def test_fast_paths_give_the_same_text_on_finews(finews_dir: Path) -> None:
    bodies = rendered_bodies(finews_dir)
    fast = [n for n, b in bodies if corpus._MD_CHARS.search(b) is None or b.startswith("<")]
    assert len(fast) > 100  # the fast paths are really taken
    for name, text in bodies:
        assert corpus._render_text(text, []) == corpus._render_text(text, [], fast=False), name


# --------------------------------------------------------------------------------------------------
# Front matter


def test_bom_crlf_and_blank_lines_before_front_matter() -> None:
    text = "\n  \n---\ntitle: 标题\ndate: 2021-12-08 10:46:18\n---\n第一行\n第二行\n"
    expected = parse(text)
    assert expected.title == "标题" and expected.text == "第一行\n第二行"
    for variant in (
        b"\xef\xbb\xbf" + text.encode(),
        text.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
    ):
        assert parse_post(variant, NAME) == expected
    assert expected.warnings == () and expected.recovered is False


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("title: 2022", "2022"),
        ("title: 1.10", "1.10"),
        ("title: yes", "yes"),
        ("title: 2021-12-08", "2021-12-08"),
        ('title: "  多个   空格  "', "多个 空格"),
        ('title: "A&amp;B &lt;C&gt; &#20013;"', "A&B <C> 中"),
        ('title: "JSON \\"引号\\" 与 \\\\ 反斜杠"', 'JSON "引号" 与 \\ 反斜杠'),
        ("title: '单引号 ''内'' '", "单引号 '内'"),
    ],
)
def test_title_scalars(line: str, title: str) -> None:
    post = front(line)
    assert post.title == title
    assert post.recovered is False


@pytest.mark.parametrize("line", ["title: null", "title: ~", "title:", 'title: ""', "layout: post"])
def test_empty_title_is_derived_from_text(line: str) -> None:
    post = front(line, text="第一句话。第二句话。\n第二行")
    assert post.title == "第一句话。"
    assert any("title is empty" in w for w in post.warnings)


def test_derived_title_is_cut_to_sixty_characters() -> None:
    post = front("title:", text="很" * 100)
    assert post.title == "很" * 59 + "…"
    assert len(post.title) == corpus.TITLE_LENGTH


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ('title: "他说"好"的"', '他说"好"的'),
        ('title: "路径\\d在此"', "路径\\d在此"),
        ('title: "以反斜杠结尾\\"', "以反斜杠结尾\\"),
        ('title: "前"后" \\ 混"合"', '前"后" \\ 混"合'),
    ],
)
def test_invalid_yaml_is_recovered_line_by_line(line: str, title: str) -> None:
    post = front(
        f"layout: post\n{line}\ndate: 2021-12-08 15:46:00 +0800\n"
        "categories: 21shijijingjibaodao 21caijingAPP\ntags: [东财滚动新闻, 快讯]\n"
        'slug: "abc"\nkeywords:\n  - 甲\n  - 乙'
    )
    assert post.recovered is True
    assert post.title == title
    assert any("not valid YAML" in w and "recovered" in w for w in post.warnings)
    assert post.date == datetime(2021, 12, 8, 15, 46, tzinfo=timezone(PLUS8))
    assert post.categories == ("21shijijingjibaodao", "21caijingAPP")
    assert post.tags == ("东财滚动新闻", "快讯")
    assert post.url == "/21shijijingjibaodao/21caijingapp/2021/12/08/abc.html"


def test_recovered_block_list_and_comment() -> None:
    post = front('title: "坏"标题"\ncategories:\n  - 甲\n  - 乙\ntags: 一 #注释')
    assert post.recovered and post.categories == ("甲", "乙") and post.tags == ("一",)


def test_front_matter_that_is_not_a_mapping_is_recovered() -> None:
    post = front("- 只是\n- 列表", text="正文")
    assert post.recovered is True and post.title == "正文"


def test_file_without_front_matter_is_a_post_without_metadata() -> None:
    post = parse("第一行就是标题\n\n正文第二段。", name="2021-12-08-plain.md")
    assert post.title == "第一行就是标题"
    assert post.text == "第一行就是标题\n正文第二段。"
    assert post.date == datetime(2021, 12, 8, tzinfo=SHANGHAI)
    assert post.categories == () and post.url == "/2021/12/08/plain.html"
    assert any("no front matter" in w for w in post.warnings)
    assert post.recovered is False


def test_unclosed_front_matter_is_recovered_from_its_key_lines() -> None:
    post = parse("---\ntitle: 没有闭合\ndate: 2021-12-09 08:00:00\ncategories: news\n\n正文。")
    assert post.recovered is True
    assert (post.title, post.text, post.categories) == ("没有闭合", "正文。", ("news",))
    assert post.date == datetime(2021, 12, 9, 8, tzinfo=SHANGHAI)
    assert any("not closed" in w for w in post.warnings)


def test_opening_rule_without_keys_is_no_front_matter() -> None:
    post = parse("---\n这是正文，不是元数据。\n第二行")
    assert post.title == "这是正文，不是元数据。" and post.text == "这是正文，不是元数据。\n第二行"
    assert any("no front matter" in w for w in post.warnings)


def test_yaml_aliases_and_deep_nesting_are_harmless() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ntags: [*c, *c, 标签]\ntitle: t"
    post = front(bomb)
    assert (post.title, post.tags) == ("t", ("标签",))
    deep = front("title: " + "[" * 5000)
    assert deep.recovered is True


@given(
    st.text(
        st.characters(
            exclude_categories=("Cc", "Cs", "Zl", "Zp", "Cn"), exclude_characters="&\ufeff"
        ),
        max_size=80,
    )
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_json_quoted_titles_round_trip(title: str) -> None:
    post = front("title: " + json.dumps(title, ensure_ascii=False), text="正文")
    assert post.title == (" ".join(title.split()) or "正文")
    assert post.recovered is False


# --------------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-12-08 10:46:18", datetime(2021, 12, 8, 10, 46, 18, tzinfo=SHANGHAI)),
        ("2021-12-08 15:46:00 +0800", datetime(2021, 12, 8, 15, 46, tzinfo=timezone(PLUS8))),
        ("2021-12-08 15:46:00 +08:00", datetime(2021, 12, 8, 15, 46, tzinfo=timezone(PLUS8))),
        (
            "2021-12-08 15:46:00 -0500",
            datetime(2021, 12, 8, 15, 46, tzinfo=timezone(-timedelta(hours=5))),
        ),
        ("2021-12-08T07:46:00Z", datetime(2021, 12, 8, 7, 46, tzinfo=UTC)),
        (
            "2021-12-08T15:46:00+05:30",
            datetime(2021, 12, 8, 15, 46, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("2021-12-08", datetime(2021, 12, 8, tzinfo=SHANGHAI)),
        ("2021-12-08 15:46", datetime(2021, 12, 8, 15, 46, tzinfo=SHANGHAI)),
        (
            "2021-12-08 15:46:00.25 +0800",
            datetime(2021, 12, 8, 15, 46, 0, 250000, tzinfo=timezone(PLUS8)),
        ),
        ("2021-12-08T15:46:00.1234567Z", datetime(2021, 12, 8, 15, 46, 0, 123456, tzinfo=UTC)),
        ('"2021-12-08 10:46:18"', datetime(2021, 12, 8, 10, 46, 18, tzinfo=SHANGHAI)),
    ],
)
def test_date_forms(value: str, expected: datetime) -> None:
    post = front(f"title: t\ndate: {value}", name="2020-01-01-x.md")
    assert post.date == expected  # the same instant, given in the site's zone
    local = expected.astimezone(SHANGHAI)
    assert post.date is not None and post.date.utcoffset() == PLUS8
    assert post.date.replace(tzinfo=None) == local.replace(tzinfo=None)
    assert post.warnings == ()


def test_naive_dates_take_the_site_zone() -> None:
    winter = parse("---\ntitle: t\ndate: 2021-12-08 10:00:00\n---\nx", timezone="Europe/Berlin")
    summer = parse("---\ntitle: t\ndate: 2021-07-08 10:00:00\n---\nx", timezone="Europe/Berlin")
    assert winter.date is not None and winter.date.utcoffset() == timedelta(hours=1)
    assert summer.date is not None and summer.date.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("date:  +0800", "date is empty"),
        ("date:", "date is empty"),
        ('date: ""', "date is empty"),
        ("layout: post", "no date"),
        ("date: 2021-13-01 10:00:00", "'2021-13-01 10:00:00' is not a valid date"),
        ("date: 2021-02-30", "is not a valid date"),
        ("date: 2021-12-08 25:00:00", "is not a valid date"),
        ("date: 2021-12-08 10:00:00 +2500", "is not a valid date"),
        ("date: 9999-12-31 23:00:00 Z", "is out of range in time zone Asia/Shanghai"),
        ("date: 0001-01-01 00:00:00 +1400", "is out of range in time zone Asia/Shanghai"),
        ("date: yesterday", "'yesterday' is not a valid date"),
    ],
)
def test_missing_or_bad_date_falls_back_to_the_file_name(line: str, problem: str) -> None:
    dated = front(f"title: t\n{line}", name="2021-12-08-x.md")
    assert dated.date == datetime(2021, 12, 8, tzinfo=SHANGHAI)
    assert any(problem in w and "file name's date 2021-12-08" in w for w in dated.warnings)
    assert dated.url == "/2021/12/08/x.html"
    undated = front(f"title: t\n{line}", name="x.md")
    assert undated.date is None
    assert any(problem in w and "no date" in w for w in undated.warnings)
    assert undated.url == "/x.html"


def test_impossible_date_in_file_name_is_no_date() -> None:
    post = front("title: t", name="2021-13-45-x.md")
    assert post.date is None and post.url == "/2021-13-45-x.html"


def test_unknown_timezone_is_a_value_error_not_a_post_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse(HEADER, timezone="Mars/Olympus")


# --------------------------------------------------------------------------------------------------
# Categories, tags and permalinks


@pytest.mark.parametrize(
    ("lines", "categories", "tags"),
    [
        (
            "categories: 21shijijingjibaodao 21caijingAPP",
            ("21shijijingjibaodao", "21caijingAPP"),
            (),
        ),
        ("categories: anxinguojizhengquan(xianggang)", ("anxinguojizhengquan(xianggang)",), ()),
        ("categories: [a, b, a, '', c]", ("a", "b", "c"), ()),
        ("categories:\n  - 甲\n  - 乙\n  -\n  - 甲", ("甲", "乙"), ()),
        ("category: emnews", ("emnews",), ()),
        ("categories: 2022", ("2022",), ()),
        ("categories:", (), ()),
        ("tags: 新闻联播 央视快评", (), ("新闻联播", "央视快评")),
        ("tags: [新闻联播, 央视快评, 新闻联播]", (), ("新闻联播", "央视快评")),
        ("tag: 单个", (), ("单个",)),
        ("tags: [1, null, x]", (), ("1", "x")),
    ],
)
def test_categories_and_tags(
    lines: str, categories: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    post = front(f"title: t\n{lines}")
    assert (post.categories, post.tags) == (categories, tags)


@pytest.mark.parametrize(
    ("lines", "name", "url"),
    [
        (
            "categories: emnews",
            "2021-12-08-202112082206672930.md",
            "/emnews/2021/12/08/202112082206672930.html",
        ),
        (
            "categories: 21shijijingjibaodao 21caijingAPP",
            NAME,
            "/21shijijingjibaodao/21caijingapp/2021/12/08/post.html",
        ),
        ("categories: [News, news, 财经]", NAME, "/news/%E8%B4%A2%E7%BB%8F/2021/12/08/post.html"),
        (
            "categories: anxinguojizhengquan(xianggang)",
            NAME,
            "/anxinguojizhengquan(xianggang)/2021/12/08/post.html",
        ),
        (
            "categories: a",
            "2021-12-08-新闻 标题.md",
            "/a/2021/12/08/%E6%96%B0%E9%97%BB-%E6%A0%87%E9%A2%98.html",
        ),
        ("categories: a\nslug: my-slug", NAME, "/a/2021/12/08/my-slug.html"),
        ("categories: a", "sub/dir/2021-12-08-x.markdown", "/a/2021/12/08/x.html"),
        ("layout: post", NAME, "/2021/12/08/post.html"),
        ("categories: a\npermalink: /about/", NAME, "/about/"),
        ("categories: a\npermalink: /:categories/:year/:title/", NAME, "/a/2021/post/"),
        (
            "permalink: /:categories/:year/:month/:day/:title:output_ext",
            NAME,
            "/2021/12/08/post.html",
        ),
        ("permalink: /新闻/:i_month-:i_day/:slug", NAME, "/%E6%96%B0%E9%97%BB/12-8/post"),
    ],
)
def test_permalinks(lines: str, name: str, url: str) -> None:
    post = front(f"title: t\ndate: 2021-12-08 10:00:00\n{lines}", name=name)
    assert post.url == url


def test_permalink_date_parts_are_in_the_site_zone() -> None:
    post = front("title: t\ndate: 2021-12-08 23:30:00 -0500\ncategories: a", name="x.md")
    assert post.url == "/a/2021/12/09/x.html"  # 12:30 on the 9th in Shanghai


def test_undated_permalink() -> None:
    post = front("title: t\ncategories: emnews", name="-202205262391921712.md")
    assert post.url == "/emnews/202205262391921712.html"


# --------------------------------------------------------------------------------------------------
# Body to text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("新<span>能源</span>汽车", "新能源汽车"),
        ("<p>新<span>能源</span><a href='x'>汽车</a><strong>来了</strong></p>", "新能源汽车来了"),
        ("<p>一</p><p>二</p><div>三</div>", "一\n二\n三"),
        ("<p>甲<br>乙<br />丙</p>", "甲\n乙\n丙"),
        ("<p>新<div>能源</div>尾</p>", "新\n能源\n尾"),
        ("<P>大写<BR>标签</P>", "大写\n标签"),
        (
            "<ul><li>一</li><li>二</li></ul><h2>标题</h2><blockquote>引</blockquote>",
            "一\n二\n标题\n引",
        ),
        (
            "<table><tr><td>北京</td><td>上海</td></tr><tr><th>1</th><th>2</th></tr></table>",
            "北京 上海\n1 2",
        ),
        ("<center><img src='a.jpg' alt='图'></center><p>文</p>", "文"),
        ("<p>前<script>var x = '<p>脚本</p>';</script>后</p>", "前后"),
        ("<style>p { color: red }</style><p>正文</p>", "正文"),
        ("<noscript>无脚本</noscript><template><p>模板</p></template><p>正文</p>", "正文"),
        ("<p>前<!-- 注释 <p>不见</p> -->后</p>", "前后"),
        ("<p>&amp; &lt;tag&gt; &quot;引&quot; &#20013;&#x6587; &copy;</p>", '& <tag> "引" 中文 ©'),
        ("<p>&nbsp;&nbsp;缩进&nbsp;&nbsp;文字</p>", "缩进 文字"),
        ("<p>《&lt;蒙特利尔议定书&gt;基加利修正案》</p>", "《<蒙特利尔议定书>基加利修正案》"),
        ("<p>精度满足<1%，</p>", "精度满足<1%，"),
        ("<ruby>汉<rt>hàn</rt></ruby>字", "汉字"),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert body(markup).text == text


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("精度满足<1%，视场角", "精度满足<1%，视场角"),
        (
            "[链接文字](http://example.com/x) 与 ![图片](a.png) 与 <http://auto.link/x>",
            "链接文字 与 与 http://auto.link/x",
        ),
        ("# 一级标题\n\n**加粗**与*强调*和`代码`", "一级标题\n加粗与强调和代码"),
        ("- 甲\n- 乙\n\n1. 一\n2. 二", "甲\n乙\n一\n二"),
        ("> 摘要第一行\n> 摘要第二行\n\n<p>正文</p>", "摘要第一行\n摘要第二行\n正文"),
        ("> > 嵌套引用", "嵌套引用"),
        ("第一行  \n第二行\\\n第三行", "第一行\n第二行\n第三行"),
        ("　　2017年的段落缩进。\n　　第二段。", "2017年的段落缩进。\n第二段。"),
        ("\u00a0\u00a0不间断空格开头\n\t制表符开头", "不间断空格开头\n制表符开头"),
        ("多个\n\n\n\n空行", "多个\n空行"),
        ("A &amp; B &copy; 1 < 2", "A & B © 1 < 2"),
        ("    缩进代码块\n\n正文", "缩进代码块\n正文"),
        ("```\n代码 <b>不是标签</b>\n```", "代码 <b>不是标签</b>"),
        ("[^1]: 脚注 \\* 星号", "[^1]: 脚注 * 星号"),
    ],
)
def test_markdown_to_text(markdown: str, text: str) -> None:
    assert body(markdown).text == text


@pytest.mark.parametrize(
    ("liquid", "text"),
    [
        ("前{% if page.x %}中{% endif %}后{{ site.title }}尾", "前中后尾"),
        ("[站内]({{ site.baseurl }}/x) {%- include foo.html -%}", "站内"),
        ("{% raw %}原样 {{ 保留 }}{% endraw %}", "原样 {{ 保留 }}"),
        ("前{% comment %}注释{{ x }}{% endcomment %}后", "前后"),
        ("前{% comment %}没有闭合的注释{{ x }}", "前没有闭合的注释"),
        ("未闭合 {% 标签 和 {{ 输出", "未闭合 {% 标签 和 {{ 输出"),
    ],
)
def test_liquid_is_removed_first(liquid: str, text: str) -> None:
    assert body(liquid).text == text


@pytest.mark.parametrize(
    ("tail", "source"),
    [
        (
            "\n\n<http://finance.eastmoney.com/news/1354,202112082206796814.html>",
            "http://finance.eastmoney.com/news/1354,202112082206796814.html",
        ),
        ("\n\n<>", None),
        (
            "\n\n<http://x.cn/a.html>\n\n[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页](//finews.withounder.com/)",
            "http://x.cn/a.html",
        ),
        (
            "\n\n<http://x.cn/a.html>\n\n[返回东财滚动新闻](../emnews/)\n[返回首页](../)\n",
            "http://x.cn/a.html",
        ),
        (
            "\n\n<http://x.cn/a.html>\n[返回财联社新闻](/c.html) | [返回首页](/)  \n\n",
            "http://x.cn/a.html",
        ),
        (
            "\n\n[查看原文](https://tv.cctv.com/2023/05/30/VIDEMbxSte8mZvxIhs41FJx4230530.shtml)",
            "https://tv.cctv.com/2023/05/30/VIDEMbxSte8mZvxIhs41FJx4230530.shtml",
        ),
        ("\n\n[阅读原文](http://a.cn/x)", "http://a.cn/x"),
        ("\n\n[原文链接](<http://a.cn/y>)", "http://a.cn/y"),
        ('\n\n[来源](http://a.cn/z "标题")', "http://a.cn/z"),
        ("\n\n[原文]()", None),
    ],
)
def test_source_link_and_navigation_are_not_text(tail: str, source: str | None) -> None:
    post = body("正文第一段。\n\n正文第二段。" + tail)
    assert post.text == "正文第一段。\n正文第二段。"
    assert post.source_url == source


def test_navigation_lines_anywhere_are_removed_but_other_links_stay() -> None:
    post = body(
        "[返回首页](../)\n\n正文。\n\n[返回东财滚动新闻](../emnews/)\n\n结尾[更多](http://m.cn)"
    )
    assert post.text == "正文。\n结尾更多"
    assert post.source_url is None


def test_a_source_link_that_is_not_last_stays_in_the_text() -> None:
    post = body("<http://a.cn/x>\n\n正文。")
    assert post.text == "http://a.cn/x\n正文。" and post.source_url is None


def test_no_text_but_a_title_is_a_post() -> None:
    post = body("\n\n<http://a.cn/x>\n\n[返回首页](../)")
    assert (post.title, post.text, post.source_url) == ("标题", "", "http://a.cn/x")


# --------------------------------------------------------------------------------------------------
# Encodings, binary, empty


def test_gb18030_is_decoded_with_a_warning() -> None:
    text = "---\ntitle: 国标编码\ncategories: 新闻\n---\n中文正文，𠀀扩展字。"
    post = parse_post(text.encode("gb18030"), NAME)
    assert (post.title, post.text, post.categories) == (
        "国标编码",
        "中文正文，𠀀扩展字。",
        ("新闻",),
    )
    assert any("GB18030" in w for w in post.warnings)


def test_utf16_with_bom_is_decoded() -> None:
    post = parse_post((HEADER + "正文").encode("utf-16"), NAME)
    assert (post.title, post.text) == ("标题", "正文")
    assert any("UTF-16" in w for w in post.warnings)


def test_damaged_utf8_stays_utf8() -> None:
    data = (HEADER + "中文正文" * 50).encode() + "尾".encode()[:2]  # cut inside the last character
    post = parse_post(data, NAME)
    assert post.title == "标题" and post.text == "中文正文" * 50 + "\ufffd"
    assert any("invalid UTF-8" in w for w in post.warnings)


def test_neither_utf8_nor_gb18030() -> None:
    with pytest.raises(PostError, match="not valid UTF-8 or GB18030 text") as info:
        parse_post(HEADER.encode() + b"\x80\xff" * 50, NAME)
    assert info.value.reason == "not valid UTF-8 or GB18030 text"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00",
        HEADER.encode() + b"\x00" * 100,
        bytes(range(1, 9)) * 200,
        b"\x7fELF\x02\x01\x01" + bytes(range(0, 32)) * 10,
    ],
)
def test_binary_files_are_refused(data: bytes) -> None:
    with pytest.raises(PostError, match=r"^binary file \("):
        parse_post(data, NAME)


def test_stray_nul_and_control_characters_are_removed() -> None:
    post = parse_post((HEADER + "正\x00文\x1b[0m\x07。\x0c下一行").encode(), NAME)
    assert post.text == "正文[0m。\n下一行"
    assert "removed 3 control characters" in post.warnings


def test_a_few_stray_nuls_are_text_more_are_binary() -> None:
    text = HEADER + "正文。" * 400
    four = parse_post(text.encode().replace("。".encode(), "。\x00".encode(), 4), NAME)
    assert four.text == "正文。" * 400 and "removed 4 control characters" in four.warnings
    with pytest.raises(PostError, match=r"^binary file \(5 NUL bytes in the first 3"):
        parse_post(text.encode().replace("。".encode(), "。\x00".encode(), 5), NAME)


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_files_are_refused(data: bytes) -> None:
    with pytest.raises(PostError, match="^empty file$"):
        parse_post(data, NAME)


@pytest.mark.parametrize(
    "text",
    ["---\ntitle:\n---\n", "---\ntitle: ''\n---\n\n<>\n\n[返回首页](../)", "<!-- 只有注释 -->"],
)
def test_no_title_and_no_text_is_refused(text: str) -> None:
    with pytest.raises(PostError, match="no title and no text"):
        parse(text)


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_post_or_a_post_error(data: bytes) -> None:
    try:
        post = parse_post(data, NAME)
    except PostError as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert post.title
        assert_clean_text(post.text)


MARKDOWNISH = st.text(
    st.sampled_from(list("中文ab <>&;#*_[]()!`\\-+=>~|{}%\n\t 　1.")), max_size=300
)


@given(MARKDOWNISH)
@settings(max_examples=300, deadline=None)
def test_any_markdown_gives_clean_text(text: str) -> None:
    post = body(text)
    assert_clean_text(post.text)
    assert post.title == "标题"


MARKUP_TOKENS = [
    "<p>", "</p>", "<div>", "</div>", "<span>", "</span>", "<br>", "<P>", "<pre>", "</pre>",
    "<!--", "-->", "<script>", "</script>", "<table>", "<td>", "<a href='x'>", "</a>", "<1%",
    "<http://a.b>",
    "\n", "\n\n", "\n   \n", "*", "**", "_", "`", "```", "~~~", "\\", "#", "# ", "=", "---", "***",
    "[a](b)", "![i](j)", "[", "]", "(", ")", "> ", ">", "- ", "+ ", "1. ", "2) ", "    ", "\t", "|",
    "&amp;", "&nbsp;", "&", " ", "　", "中文", "新闻。", "x", "1", ".",
]  # fmt: skip


@given(st.lists(st.sampled_from(MARKUP_TOKENS), max_size=40).map("".join))
@settings(max_examples=500, deadline=None)
def test_fast_paths_equal_full_rendering(text: str) -> None:
    # The law behind the two fast paths: skipping Markdown never changes the text.
    fast = corpus._render_text(text, [])
    assert fast == corpus._render_text(text, [], fast=False)
    assert_clean_text(fast)


# --------------------------------------------------------------------------------------------------
# Robustness: big and pathological input, none of it slow. Each is timed against a peer parsed
# in the same test, a megabyte of ordinary Markdown (the best of three), so that the bound is a
# ratio whatever the machine's speed: at most as long as PEERS such posts, where the worst input
# below the Markdown limit takes 20 to 40 of them and the others fewer than 10. The seconds of
# each are printed by tests/bench/pathological.py.

PEERS = 100
_PLAIN_LINE = "新闻联播的文字稿。\n"
_MARKDOWN_PARAGRAPH = (
    "超低GWP制冷剂的**新能源**汽车来了！[链接](http://x) `代码` &amp; <span>新</span>能源\n\n"
)
_PEER = (HEADER + _MARKDOWN_PARAGRAPH * 10_000).encode()


def parse_cost(data: bytes) -> tuple[Post, float]:
    """The post of ``data`` and the time it takes to parse, in parses of the peer post."""
    start = time.perf_counter()
    post = parse_post(data, NAME)
    seconds = time.perf_counter() - start
    peer_seconds = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        parse_post(_PEER, NAME)
        peer_seconds = min(peer_seconds, time.perf_counter() - start)
    return post, seconds / peer_seconds


def test_five_megabyte_plain_body() -> None:
    post, cost = parse_cost((HEADER + _PLAIN_LINE * 180_000).encode())
    assert len(post.text) == 180_000 * 10 - 1 and cost < PEERS, cost


def test_five_megabyte_markdown_body() -> None:
    post, cost = parse_cost((HEADER + _MARKDOWN_PARAGRAPH * 40_000).encode())
    assert cost < PEERS, cost
    assert post.text.count("新能源") == 80_000
    assert any("read as HTML without Markdown" in w for w in post.warnings)


def test_two_megabyte_single_line() -> None:
    post, cost = parse_cost((HEADER + "一行" * 350_000).encode())
    assert post.text == "一行" * 350_000 and cost < PEERS, cost
    post, cost = parse_cost((HEADER + "*强*_调_" * 250_000).encode())
    assert post.text == "*强*_调_" * 250_000 and cost < PEERS, cost  # too long for Markdown


def test_worst_inline_markdown_below_the_limit() -> None:
    post, cost = parse_cost((HEADER + "![a" * (corpus.MARKDOWN_LIMIT // 3)).encode())
    assert post.text.startswith("![a![a") and cost < PEERS, cost


@pytest.mark.parametrize(
    "markup",
    [
        "<div>" * 10_000 + "深处" + "</div>" * 10_000,
        "<div>" * 10_000 + "深处",
        "<p><span>" * 10_000 + "深处",
        "<blockquote>" * 10_000 + "深处",
        "<table><tr><td>" * 3_000 + "深处",
    ],
)
def test_deeply_nested_html(markup: str) -> None:
    post, cost = parse_cost((HEADER + markup).encode())
    assert post.text == "深处" and cost < PEERS, cost


@pytest.mark.parametrize(
    "markdown",
    [
        "> " * 10_000 + "深处",
        ">" * 10_000 + "深处",
        "\n".join(">" * depth + " 深处" for depth in range(1, 200)),
        "- " * 10_000 + "深处",
        "1. " * 10_000 + "深处",
    ],
)
def test_deeply_nested_markdown_loses_no_text(markdown: str) -> None:
    post, cost = parse_cost((HEADER + markdown).encode())
    assert cost < PEERS, cost
    assert set(post.text.split("\n")) == {"深处"}
    assert any("nested too deeply" in w for w in post.warnings)


def test_many_unclosed_liquid_and_html_openers() -> None:
    for tail in (
        "{%" * 500_000,
        "{{" * 500_000,
        "<" * 500_000,
        "[" * 60_000,
        "{% raw %}" * 100_000,
    ):
        post, cost = parse_cost((HEADER + "正文" + tail).encode())
        assert post.text.startswith("正文") and cost < PEERS, (tail[:10], cost)


def test_huge_front_matter_is_read_line_by_line() -> None:
    lines = "title: 大\n" + "key: value\n" * 200_000
    post, cost = parse_cost(f"---\n{lines}---\n正文".encode())
    assert (post.title, post.text, post.recovered) == ("大", "正文", True) and cost < PEERS, cost


# --------------------------------------------------------------------------------------------------
# Discovery and reading a folder


def write(path: Path, text: str = HEADER + "正文") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "b.md")
    write(root / "a.MD")
    write(root / "c.markdown")
    write(root / "d.Html")
    write(root / "sub" / "2021-12-08-e.md")
    write(root / "sub" / "deeper" / "f.md")
    write(root / "-dash.md")
    write(root / ".hidden" / "g.md")
    write(root / ".hidden.md")
    write(root / "_site" / "h.md")
    write(root / "index" / "i.md")
    write(root / "notes.txt")
    write(root / "picture.png")
    write(root / "b.md.bak")
    (root / "folder.md").mkdir()
    write(root / "folder.md" / "j.md")
    (root / "link.md").symlink_to(root / "sub" / "2021-12-08-e.md")
    (root / "broken.md").symlink_to(root / "nowhere.md")
    (root / "loop.md").symlink_to(root / "loop.md")
    (root / "broken.txt").symlink_to(root / "nowhere.txt")  # not a post name: ignored
    (root / "dirlink").symlink_to(root / "sub", target_is_directory=True)
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "fifo.md")
    return root


DISCOVERED = [
    "-dash.md",
    "a.MD",
    "b.md",
    "c.markdown",
    "d.Html",
    "folder.md/j.md",
    "link.md",
    "sub/2021-12-08-e.md",
    "sub/deeper/f.md",
]
DISCOVERY_PROBLEMS = {
    ("broken.md", "broken symbolic link"),
    ("dirlink", "symbolic link to a folder: not followed"),
    ("fifo.md", "not a regular file"),
    ("loop.md", "symbolic link loop"),
    ("sub/up", "symbolic link to a folder: not followed"),
}


def test_discover_order_skips_and_problems(tree: Path) -> None:
    files, problems = discover(tree, exclude=[tree / "index", tree / "not-yet-created"])
    assert [f.path for f in files] == DISCOVERED
    assert {(p.path, p.reason) for p in problems} == DISCOVERY_PROBLEMS
    assert [p.path for p in problems] == sorted(p.path for p in problems)
    without_exclude, _ = discover(tree)
    assert "index/i.md" in [f.path for f in without_exclude]


def test_post_file_records(tree: Path) -> None:
    files, _ = discover(str(tree))
    by_path = {f.path: f for f in files}
    e = by_path["sub/2021-12-08-e.md"]
    st_e = os.stat(tree / "sub" / "2021-12-08-e.md")
    assert e == PostFile(
        "sub/2021-12-08-e.md", str(tree / "sub" / "2021-12-08-e.md"), st_e.st_size, st_e.st_mtime_ns
    )
    link = by_path["link.md"]  # a symlinked file is read through its link
    assert link.abspath == str(tree / "link.md") and link.size == st_e.st_size


def test_discover_refuses_a_missing_or_non_folder_root(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        discover(tmp_path / "missing")
    with pytest.raises(CorpusError, match="not a folder"):
        discover(write(tmp_path / "file.md"))


def test_undecodable_file_name_is_a_problem(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    try:
        with open(os.path.join(folder, b"bad-\xff.md"), "wb") as fh:
            fh.write((HEADER + "x").encode())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    write(tmp_path / "good.md")
    files, problems = discover(tmp_path)
    assert [f.path for f in files] == ["good.md"]
    assert problems == [Problem("bad-\ufffd.md", "file name is not valid UTF-8")]


def test_unreadable_folder_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "locked" / "x.md")
    write(tmp_path / "ok.md")
    if os.geteuid() != 0:
        (tmp_path / "locked").chmod(0)
    else:
        # Root reads any folder, so the refusal the file system would give is simulated.
        real_scandir = os.scandir

        def scandir(path: str) -> object:
            if os.path.basename(path) == "locked":
                raise PermissionError(13, "Permission denied", path)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        files, problems = discover(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert [f.path for f in files] == ["ok.md"]
    assert [p.path for p in problems] == ["locked"]
    assert "cannot list folder" in problems[0].reason


def test_read_corpus_reads_good_files_and_reports_bad_ones(tree: Path) -> None:
    (tree / "b.md").write_bytes(b"\x00\x01\x02\x03\x04\x05" * 100)
    (tree / "c.markdown").write_bytes(b"")
    result = read_corpus(tree, exclude=[tree / "index"])
    assert [p.path for p in result.posts] == [
        p for p in DISCOVERED if p not in ("b.md", "c.markdown")
    ]
    reasons = {p.path: p.reason for p in result.problems}
    assert reasons["c.markdown"] == "empty file"
    assert reasons["b.md"].startswith("binary file")
    assert {
        (p, r) for p, r in reasons.items() if p not in ("b.md", "c.markdown")
    } == DISCOVERY_PROBLEMS
    assert all(post.title == "标题" and post.text == "正文" for post in result.posts)


def test_read_corpus_keeps_unexpected_errors_as_problems(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = corpus.parse_post

    def failing(data: bytes, path: str, **kwargs: Any) -> Post:
        if path == "a.MD":
            raise RuntimeError("boom")
        return real(data, path, **kwargs)

    monkeypatch.setattr(corpus, "parse_post", failing)
    result = read_corpus(tree)
    assert Problem("a.MD", "unexpected RuntimeError: boom") in result.problems
    assert "b.md" in [p.path for p in result.posts]


def test_read_post(tree: Path) -> None:
    post = read_post(tree, "sub/2021-12-08-e.md", timezone="UTC")
    assert post.path == "sub/2021-12-08-e.md"
    assert post.date == datetime(2021, 12, 8, 10, 46, 18, tzinfo=ZoneInfo("UTC"))
    with pytest.raises(PostError, match="cannot read file"):
        read_post(tree, "missing.md")
    with pytest.raises(PostError, match="not a regular file"):
        read_post(tree, "fifo.md")
    with pytest.raises(ValueError, match="relative"):
        read_post(tree, "../site/b.md")
    with pytest.raises(ValueError, match="unknown time zone"):
        read_corpus(tree, timezone="Nowhere/Land")


def test_too_large_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "MAX_POST_BYTES", 1000)
    write(tmp_path / "big.md", HEADER + "字" * 1000)
    result = read_corpus(tmp_path)
    assert result.posts == () and result.problems[0].reason.startswith("file too large")


def test_site_timezone(tmp_path: Path) -> None:
    assert site_timezone(tmp_path) is None
    write(tmp_path / "_config.yml", "title: 站点\ntimezone: Europe/Berlin\n")
    assert site_timezone(tmp_path) == "Europe/Berlin"
    posts = write(tmp_path / "_posts" / "2021-12-08-x.md").parent
    assert site_timezone(posts) == "Europe/Berlin"
    post = read_corpus(posts, timezone=site_timezone(posts) or DEFAULT_TIMEZONE).posts[0]
    assert post.date is not None and post.date.utcoffset() == timedelta(hours=1)
    write(tmp_path / "_config.yml", 'title: "坏"引号"\ntimezone: "America/New_York"\n')
    assert site_timezone(tmp_path) == "America/New_York"
    write(tmp_path / "_config.yml", "timezone: Nowhere/Land\n")
    assert site_timezone(tmp_path) is None
    write(tmp_path / "_config.yml", "title: 无时区\n")
    assert site_timezone(tmp_path) is None


@pytest.mark.integration
def test_corpus_module_keeps_to_its_room() -> None:
    # What reading posts loads by itself: corpus.py with a bare package, so that nothing the
    # package's __init__ might load is counted.
    code = (
        "import sys, types; package = types.ModuleType('newsearch');"
        f" package.__path__ = [{str(Path(corpus.__file__).parent)!r}];"
        " sys.modules['newsearch'] = package; import newsearch.corpus;"
        " print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('whoosh', 'jieba', 'rjieba', 'click', 'rich', 'newsearch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(
        [
            "newsearch",
            "newsearch.arguments",
            "newsearch.corpus",
            "newsearch.dates",
            "newsearch.errors",
            "newsearch.models",
        ]
    )


def test_posts_and_errors_pickle() -> None:
    post = body("正文")
    assert pickle.loads(pickle.dumps(post)) == post
    error = pickle.loads(pickle.dumps(PostError("empty file")))
    assert error.reason == "empty file" and str(error) == "empty file"


# --------------------------------------------------------------------------------------------------
# Scale: all 36,066 新闻联播 posts


@pytest.mark.slow
def test_all_xinwenlianbo_posts(xwlb_dir: Path) -> None:
    start = time.perf_counter()
    result = read_corpus(xwlb_dir)
    seconds = time.perf_counter() - start
    assert result.problems == ()
    assert len(result.posts) == 36_066
    posts = {post.path: post for post in result.posts}
    for post in result.posts:
        assert post.date is not None and (post.date.hour, post.date.minute) == (19, 0)
        assert post.date.utcoffset() == PLUS8
        assert post.categories == ("xinwenlianbo",)
        assert post.tags[0] == "新闻联播"
        assert post.title and post.text
        assert "<p>" not in post.text and "[查看原文]" not in post.text and "</" not in post.text
        assert post.warnings == ()
    with_source = [p for p in result.posts if p.source_url]
    assert len(with_source) == 36_066 - 15  # 15 posts of 2022-09-24 have no source link
    assert all(
        p.source_url.startswith(("http://tv.cctv.com/", "https://tv.cctv.com/"))
        for p in with_source
    )

    first = posts["2016-12-31-xwlb-001.md"]
    assert first.title == "国家主席习近平发表二〇一七年新年贺词"
    assert first.date == datetime(2016, 12, 31, 19, 0, tzinfo=timezone(PLUS8))
    assert first.source_url == "http://tv.cctv.com/2016/12/31/VIDE90OjnF2piz5TQEo97RrD161231.shtml"
    assert first.text.startswith("央视网消息（新闻联播）：新年前夕，国家主席习近平")
    assert first.text.endswith("让我们满怀信心和期待，一起迎接新年的钟声！\n谢谢大家。")
    assert first.url == "/xinwenlianbo/2016/12/31/xwlb-001.html"

    review = posts["2020-01-01-xwlb-007.md"]
    assert review.title == "【央视快评】万众一心加油干"
    assert review.tags == ("新闻联播", "央视快评")
    assert review.text == "央视网消息（新闻联播）：本台刊播央视快评《万众一心加油干》。"
    assert review.source_url == "http://tv.cctv.com/2020/01/01/VIDE5FZanfevAxMEWZNROvAg200101.shtml"

    html = posts["2023-05-30-xwlb-006.md"]
    lines = html.text.split("\n")
    assert lines[0].startswith("央视网消息（新闻联播）：今天（5月30日）上午9时31分")
    assert lines[1:4] == [
        "6时42分，神舟十六号载人飞行任务航天员乘组出征仪式在酒泉卫星发射中心问天阁圆梦园广场举行。",
        "6时44分，景海鹏、朱杨柱、桂海潮三名航天员出征。",
        "9时31分，火箭点火起飞。",
    ]
    assert html.source_url == "https://tv.cctv.com/2023/05/30/VIDEMbxSte8mZvxIhs41FJx4230530.shtml"
    assert posts["2022-09-24-xwlb-001.md"].source_url is None

    megabytes = sum(f.stat().st_size for f in xwlb_dir.iterdir()) / 1e6
    print(f"read {len(result.posts)} posts, {megabytes:.1f} MB in {seconds:.1f} s")


@pytest.mark.slow
def test_fast_paths_give_the_same_text_on_all_xinwenlianbo_posts(xwlb_dir: Path) -> None:
    for name, text in rendered_bodies(xwlb_dir):
        assert corpus._render_text(text, []) == corpus._render_text(text, [], fast=False), name
