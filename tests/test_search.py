"""Tests of searching: ranking, operators, filters, dates, sorting, paging, facets, highlights and
snippets, robustness against any query string, and the library API, on small fixed corpora whose
expected order is known."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import analyzer, build, paths, write_post
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsearch import SearchIndex, open_index, read_post
from newsearch.analysis import BOUNDARY
from newsearch.errors import (
    IndexNotFoundError,
    NotAnIndexError,
    PostNotFoundError,
    QueryError,
)
from newsearch.models import Hit, SearchResults
from newsearch.query import parse_query

# --------------------------------------------------------------------------------------------------
# The fixed corpus: thirteen posts, each written for one question

LIT = "2022-05-01-lit.md"
SCAT = "2022-05-02-scat.md"
BOTH = "2022-05-03-both.md"
ONE = "2022-05-04-one.md"
TITLED = "2022-05-05-titled.md"
UNTITLED = "2022-05-06-untitled.md"
MIIT = "2022-05-07-miit.md"
STATE = "2022-05-08-state.md"
SEP = "2022-05-09-sep.md"
CHIP = "2022-06-10-chip.md"
CHIP2 = "2022-06-11-chip2.md"
ENGLISH = "2022-06-12-english.md"
UNDATED = "undated.md"
ALL = [LIT, SCAT, BOTH, ONE, TITLED, UNTITLED, MIIT, STATE, SEP, CHIP, CHIP2, ENGLISH, UNDATED]


def write_news(folder: Path) -> None:
    def w(name: str, title: str, body: str, day: str | None, cat: str, tags: list[str]) -> None:
        date = f"2022-{day} 09:00:00 +0800" if day else None
        write_post(folder, name, title, body, date=date, categories=cat, tags=tags)

    w(LIT, "新闻甲", "今年以来工业经济稳定增长，形势良好。", "05-01", "economy", ["经济"])
    w(SCAT, "新闻乙", "工业方面进展顺利。另外，整体经济形势良好。", "05-02", "economy", ["经济"])
    w(BOTH, "水果丙", "苹果和香蕉都很好吃。", "05-03", "food", ["水果"])
    w(ONE, "水果丁", "苹果很好吃。", "05-04", "food", ["水果"])
    w(TITLED, "光伏产业观察", "记者今天采访了多家企业，讨论光伏发展前景。", "05-05", "energy", [])
    w(UNTITLED, "今日要闻摘要", "记者今天采访了多家企业，讨论光伏发展前景。", "05-06", "energy", [])
    w(
        MIIT,
        "工信部召开电视电话会议",
        "工业和信息化部召开电视电话会议，部署稳增长工作。",
        "05-07",
        "politics",
        ["会议"],
    )
    w(
        STATE,
        "国务院常务会议",
        "国务院召开常务会议，研究部署工作。",
        "05-08",
        "politics",
        ["会议", "国务院"],
    )
    w(SEP, "分隔符", "提振 工业，经济大盘。", "05-09", "economy", [])
    w(
        CHIP,
        "芯片产业",
        "本文属于科技类新闻，讨论芯片与半导体。",
        "06-10",
        "tech",
        ["芯片", "半导体"],
    )
    w(CHIP2, "芯片价格", "本文属于财经类新闻，讨论芯片价格。", "06-11", "finance", ["芯片"])
    w(
        ENGLISH,
        "English title",
        "This is a title: test of the OR operator and brackets [x] (y). "
        "Running fast with the iPhone 13.",
        "06-12",
        "misc",
        [],
    )
    w(UNDATED, "无日期", "一篇没有日期的文章，谈到经济。", None, "misc", [])


@pytest.fixture(scope="module")
def news_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("news")
    write_news(root / "corpus")
    report = build(root / "corpus", root / "index")
    assert report.total == len(ALL)
    assert report.problems == ()
    return root / "index"


@pytest.fixture(scope="module")
def ix(news_index: Path) -> Iterator[SearchIndex]:
    with open_index(news_index) as index:
        yield index


def all_paths(ix: SearchIndex, query: str, **kwargs: object) -> set[str]:
    res = ix.search(query, limit=None, **kwargs)  # type: ignore[arg-type]
    assert res.total == len(res.hits)
    return set(paths(res))


def rank_of(res: SearchResults, path: str) -> int:
    return paths(res).index(path)


# --------------------------------------------------------------------------------------------------
# Ranking


def test_literal_ranks_above_scattered_words(ix: SearchIndex) -> None:
    res = ix.search("工业经济", limit=None)
    assert rank_of(res, LIT) < rank_of(res, SCAT)
    assert rank_of(res, SEP) < rank_of(res, SCAT)
    assert set(paths(res)[:2]) == {LIT, SEP}
    by_path = {h.path: h for h in res.hits}
    assert by_path[LIT].match == "literal"
    assert by_path[SCAT].match == "all words"
    assert [h.rank for h in res.hits] == list(range(1, len(res.hits) + 1))


def test_all_words_rank_above_some_words(ix: SearchIndex) -> None:
    res = ix.search("苹果 香蕉")
    assert paths(res) == [BOTH, ONE]
    assert res.hits[0].score > res.hits[1].score
    assert res.hits[1].match == "some words"


def test_title_boost(ix: SearchIndex) -> None:
    res = ix.search("光伏")
    assert paths(res) == [TITLED, UNTITLED]
    assert res.hits[0].score > res.hits[1].score
    assert res.hits[0].title_highlights == ((0, 2),)
    assert res.hits[1].title_highlights == ()


def test_a_natural_language_question(ix: SearchIndex) -> None:
    res = ix.search("工信部为什么召开电视电话会议？")
    assert res.total >= 1
    assert paths(res)[0] == MIIT


def test_a_question_whose_matching_words_are_common(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_post(
        corpus, "a.md", "工信部召开电视电话会议", "工业和信息化部召开电视电话会议，部署工作。"
    )
    write_post(corpus, "b.md", "国务院召开电视电话会议", "国务院召开电视电话会议，研究部署工作。")
    write_post(corpus, "c.md", "天气", "今天天气晴朗。")
    build(corpus, tmp_path / "index")
    with open_index(tmp_path / "index") as small:
        assert set(paths(small.search("召开"))) == {"a.md", "b.md"}
        # The same words, asked as a question: the posts that have them must still be found.
        res = small.search("为什么召开电视电话会议？")
        assert set(paths(res)) == {"a.md", "b.md"}


def test_scores_decrease_within_a_match_kind(ix: SearchIndex) -> None:
    res = ix.search("经济", limit=None)
    assert res.total >= 4
    kinds = [h.match for h in res.hits]
    for kind in set(kinds):
        scores = [h.score for h in res.hits if h.match == kind]
        assert scores == sorted(scores, reverse=True)


def test_queries_are_normalised_like_the_posts(ix: SearchIndex) -> None:
    assert all_paths(ix, "經濟") == all_paths(ix, "经济") == {LIT, SCAT, SEP, UNDATED}
    assert all_paths(ix, "ＲＵＮＮＩＮＧ") == all_paths(ix, "running") == {ENGLISH}
    assert all_paths(ix, '"IPHONE 13"') == {ENGLISH}
    assert all_paths(ix, "Title:光伏") == {TITLED}


# --------------------------------------------------------------------------------------------------
# Operators


def test_exact_phrase(ix: SearchIndex) -> None:
    assert all_paths(ix, '"工业经济"') == {LIT, SEP}
    # Separators between characters are ignored, in the query and in the text.
    assert all_paths(ix, '"工业 经济"') == {LIT, SEP}
    assert all_paths(ix, '"工业，经济"') == {LIT, SEP}
    assert all_paths(ix, '"提振工业经济大盘"') == {SEP}
    assert all_paths(ix, "“工业经济”") == {LIT, SEP}
    assert all_paths(ix, '"经济工业"') == set()
    # Only literal matches: no post with the words scattered.
    assert SCAT not in all_paths(ix, '"工业经济"')


def test_exact_phrase_across_words_and_inside_words(ix: SearchIndex) -> None:
    assert all_paths(ix, '"业经"') == {LIT, SEP}
    assert all_paths(ix, '"信息化部召"') == {MIIT}
    assert all_paths(ix, '"电话会"') == {MIIT}
    assert all_paths(ix, '"iphone 13"') == {ENGLISH}
    assert all_paths(ix, '"iphone13"') == set()


def test_exclusion(ix: SearchIndex) -> None:
    assert all_paths(ix, "芯片 -科技") == {CHIP2}
    assert all_paths(ix, "会议 -国务院") == {MIIT}
    # Excluded literally, across word boundaries too: 工业经济 holds 业经.
    assert all_paths(ix, "经济 -业经") == {SCAT, UNDATED}
    assert all_paths(ix, '经济 -"工业经济"') == {SCAT, UNDATED}
    # Field exclusions.
    assert all_paths(ix, "-category:tech 芯片") == {CHIP2}
    assert all_paths(ix, "-tag:芯片 讨论") == {TITLED, UNTITLED}
    assert all_paths(ix, "-title:光伏 光伏") == {UNTITLED}
    # An exclusion alone filters everything else.
    assert all_paths(ix, "-苹果") == set(ALL) - {BOTH, ONE}


def test_or(ix: SearchIndex) -> None:
    assert all_paths(ix, "苹果 OR 国务院") == {BOTH, ONE, STATE}
    assert all_paths(ix, "香蕉 OR 芯片 OR 光伏") == {BOTH, CHIP, CHIP2, TITLED, UNTITLED}
    assert all_paths(ix, "title:光伏 OR title:工信部") == {TITLED, MIIT}
    assert all_paths(ix, "category:tech OR category:food") == {CHIP, BOTH, ONE}
    # Groups are ANDed when they are filters: food posts with 苹果, or 香蕉.
    assert all_paths(ix, "category:food 香蕉 OR 苹果") == {BOTH, ONE}


def test_space_separated_keywords(ix: SearchIndex) -> None:
    res = ix.search("苹果 国务院", limit=None)
    assert set(paths(res)) == {BOTH, ONE, STATE}
    res = ix.search("香蕉 苹果", limit=None)
    assert paths(res)[0] == BOTH
    assert set(paths(res)) == {BOTH, ONE}


def test_title_field(ix: SearchIndex) -> None:
    assert all_paths(ix, "title:工信部") == {MIIT}
    assert all_paths(ix, "title:会议") == {MIIT, STATE}
    assert all_paths(ix, "title:光伏") == {TITLED}
    assert all_paths(ix, "标题:光伏") == {TITLED}
    assert all_paths(ix, 'title:"电视电话"') == {MIIT}
    # The word is in the text of these posts, not in their titles.
    assert all_paths(ix, "title:采访") == set()


def test_category_and_tag_fields(ix: SearchIndex) -> None:
    assert all_paths(ix, "category:tech") == {CHIP}
    assert all_paths(ix, "category:economy") == {LIT, SCAT, SEP}
    assert all_paths(ix, "tag:半导体") == {CHIP}
    assert all_paths(ix, "tag:芯片") == {CHIP, CHIP2}
    assert all_paths(ix, "category:economy 工业") == {LIT, SCAT, SEP}
    assert all_paths(ix, "category:food 苹果 -香蕉") == {ONE}
    assert all_paths(ix, "category:nothing") == set()
    res = ix.search("tag:芯片")
    assert {h.match for h in res.hits} == {"filter"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"', set()),
        ('"工业', {LIT, SCAT, SEP, MIIT}),
        ("title:", {ENGLISH}),
        ("OR", {ENGLISH}),
        ("OR OR", {ENGLISH}),
        ("-", set()),
        ("[]()", set()),
        ("(工业经济)", {LIT, SEP, SCAT, MIIT}),
        ('""', set()),
        ('title:""', {ENGLISH}),
        ("category:", set()),
        ("苹果 OR", {BOTH, ONE}),
        ("：：", set()),
        ("\x00\x01", set()),
        ("   ", set()),
    ],
)
def test_junk_syntax_is_searched_as_text(ix: SearchIndex, query: str, expected: set[str]) -> None:
    got = all_paths(ix, query)
    if expected:
        assert expected <= got
    else:
        assert got == set()


@pytest.mark.parametrize("query", ["--", "-。", "-()"])
def test_an_exclusion_of_nothing_finds_nothing(ix: SearchIndex, query: str) -> None:
    assert all_paths(ix, query) == set()


@pytest.mark.parametrize(
    "query", ['经济 "。"', '经济 "😀"', "经济 title:！", '经济 ""', "经济 -。", '经济 "。" OR "！"']
)
def test_a_required_clause_with_nothing_searchable_is_ignored(ix: SearchIndex, query: str) -> None:
    # Like an empty exclusion: the clause is as if it had not been typed.
    want = ix.search("经济", limit=None)
    got = ix.search(query, limit=None)
    assert got.total == want.total == 4
    assert [(h.path, h.score) for h in got.hits] == [(h.path, h.score) for h in want.hits]
    # Alone, it finds nothing (it is no filter).
    alone = query.replace("经济 ", "", 1)
    assert all_paths(ix, alone) == set()


def test_a_phrase_past_word_position_2_24_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Posts of more than 16.7M words: their positions are shifted past 2**24 at analysis (a
    # real post that long takes gigabytes to index). More than 48 candidates make the phrase
    # check read positions from the index instead of the stored text.
    from newsearch.analysis import Analyzer, TermCounts

    real = Analyzer.terms
    shift = 2**24 + 5

    def long_terms(self: Analyzer, text: str) -> TermCounts:
        counts = real(self, text)
        if "长文" not in text:
            return counts
        words = {w: [p + shift for p in ps] for w, ps in counts.words.items()}
        return TermCounts(counts.length + shift, words, counts.subs, counts.joins)

    monkeypatch.setattr(Analyzer, "terms", long_terms)
    corpus = tmp_path / "corpus"
    names = [f"{i:03d}.md" for i in range(60)]
    for name in names:
        write_post(corpus, name, "题目", "长文：提振工业经济，稳住大盘。")
    write_post(corpus, "short.md", "题目", "提振工业经济。")
    write_post(corpus, "apart.md", "题目", "长文：工业和经济。")
    build(corpus, tmp_path / "index")
    monkeypatch.undo()
    with open_index(tmp_path / "index") as long_ix:
        assert all_paths(long_ix, '"工业经济"') == set(names) | {"short.md"}
        assert all_paths(long_ix, '"提振工业经济稳住"') == set(names)


# --------------------------------------------------------------------------------------------------
# Filters


def test_category_and_tag_filters(ix: SearchIndex) -> None:
    assert all_paths(ix, "芯片", categories=["tech"]) == {CHIP}
    # OR within one option ...
    assert all_paths(ix, "芯片", categories=["tech", "finance"]) == {CHIP, CHIP2}
    assert all_paths(ix, "", tags=["芯片", "水果"]) == {CHIP, CHIP2, BOTH, ONE}
    # ... AND across options.
    assert all_paths(ix, "", categories=["tech", "food"], tags=["芯片"]) == {CHIP}
    assert all_paths(ix, "", categories=["economy"], tags=["经济"]) == {LIT, SCAT}
    assert all_paths(ix, "", categories=["food"], tags=["芯片"]) == set()
    # Filters alone list posts; the hits say they matched by filter.
    res = ix.search("", categories=["politics"], limit=None)
    assert set(paths(res)) == {MIIT, STATE}
    assert {h.match for h in res.hits} == {"filter"}
    # Normalised like the index: case and full width do not matter.
    assert all_paths(ix, "", categories=["TECH"]) == {CHIP}
    assert all_paths(ix, "", categories=["ｔｅｃｈ"]) == {CHIP}


def test_an_empty_query_without_filters_finds_nothing(ix: SearchIndex) -> None:
    res = ix.search("")
    assert res.total == 0
    assert res.hits == ()


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dated")
    corpus = root / "corpus"
    for name, date in [
        ("may-end.md", "2022-05-31 23:59:59 +0800"),
        ("june-start.md", "2022-06-01 00:00:00 +0800"),
        ("utc-june.md", "2022-05-31 16:30:00 +0000"),
        ("may-start.md", "2022-05-01 00:00:00 +0800"),
        ("april-end.md", "2022-04-30 23:59:59 +0800"),
        ("last-year.md", "2021-12-31 23:59:59 +0800"),
        ("utc-may.md", "2022-05-27 15:59:59 +0000"),
        ("undated.md", None),
    ]:
        cat = "undated" if date is None else "dated"
        write_post(corpus, name, name, "经济数据发布。", date=date, categories=cat)
    build(corpus, root / "index")
    return root / "index"


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, "2022-05", {"may-end", "may-start", "april-end", "last-year", "utc-may"}),
        ("2022-05", None, {"may-end", "june-start", "utc-june", "may-start", "utc-may"}),
        ("2022-05", "2022-05", {"may-end", "may-start", "utc-may"}),
        ("2022", None, {"may-end", "june-start", "utc-june", "may-start", "april-end", "utc-may"}),
        (None, "2021", {"last-year"}),
        ("2021", "2021", {"last-year"}),
        ("2022-05-31", "2022-05-31", {"may-end"}),
        ("2022-05-27", "2022-05-27", {"utc-may"}),
        ("2022-06-01", None, {"june-start", "utc-june"}),
        ("2022-6-1", "2022-6-1", {"june-start", "utc-june"}),
        ("2022/05/01", "2022.05.01", {"may-start"}),
        ("2023", None, set()),
    ],
)
def test_date_filters(
    dated_index: Path, since: str | None, until: str | None, expected: set[str]
) -> None:
    with open_index(dated_index) as ix:
        got = all_paths(ix, "经济", since=since, until=until)
        assert got == {f"{name}.md" for name in expected}
        # The same bounds filter a query without text.
        assert all_paths(ix, "", since=since, until=until) == got


def test_date_filters_with_date_objects(dated_index: Path) -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    with open_index(dated_index) as ix:
        assert all_paths(ix, "经济", since=date(2022, 5, 31), until=date(2022, 5, 31)) == {
            "may-end.md"
        }
        shanghai = ZoneInfo("Asia/Shanghai")
        assert all_paths(ix, "经济", since=datetime(2022, 6, 1, 0, 30, tzinfo=shanghai)) == {
            "utc-june.md"
        }


@pytest.mark.parametrize(
    "bad",
    ["2022-13", "abc", "2022-02-30", "22", "2022-05-27T10:00", "2022-00", "yesterday", "2022-5-"],
)
def test_bad_dates_raise_query_error(ix: SearchIndex, bad: str) -> None:
    with pytest.raises(QueryError):
        ix.search("经济", since=bad)
    with pytest.raises(QueryError):
        ix.search("经济", until=bad)


def test_bad_options_raise_query_error(ix: SearchIndex) -> None:
    with pytest.raises(QueryError):
        ix.search("经济", sort="bogus")
    with pytest.raises(QueryError):
        ix.search("经济", limit=0)
    with pytest.raises(QueryError):
        ix.search("经济", page=0)
    with pytest.raises(QueryError):
        ix.search("经济", since="2022-06", until="2022-05")


def test_sort_newest_and_oldest(dated_index: Path) -> None:
    with open_index(dated_index) as ix:
        newest = paths(ix.search("经济", sort="newest", limit=None))
        oldest = paths(ix.search("经济", sort="oldest", limit=None))
    dated = ["last-year", "april-end", "may-start", "utc-may", "may-end", "june-start", "utc-june"]
    assert newest == [f"{n}.md" for n in reversed(dated)] + ["undated.md"]
    assert oldest == [f"{n}.md" for n in dated] + ["undated.md"]


def test_sort_newest_within_matches(ix: SearchIndex) -> None:
    res = ix.search("经济", sort="newest", limit=None)
    dates = [h.date for h in res.hits if h.date is not None]
    assert dates == sorted(dates, reverse=True)
    assert res.hits[-1].path == UNDATED


def test_paging(dated_index: Path) -> None:
    with open_index(dated_index) as ix:
        everything = paths(ix.search("经济", limit=None))
        assert len(everything) == 8
        pages = [ix.search("经济", limit=3, page=p) for p in range(1, 5)]
    assert [p.total for p in pages] == [8, 8, 8, 8]
    assert [len(p.hits) for p in pages] == [3, 3, 2, 0]
    assert all(p.pages == 3 for p in pages)
    seen = [path for p in pages for path in paths(p)]
    assert len(seen) == len(set(seen)) == 8
    assert seen == everything
    assert [h.rank for p in pages for h in p.hits] == list(range(1, 9))


def test_paging_with_a_sort_order(ix: SearchIndex) -> None:
    whole = paths(ix.search("经济 OR 芯片 OR 苹果", sort="oldest", limit=None))
    pieces = [
        paths(ix.search("经济 OR 芯片 OR 苹果", sort="oldest", limit=2, page=p))
        for p in range(1, 6)
    ]
    assert [p for page in pieces for p in page] == whole


def test_facets(ix: SearchIndex) -> None:
    res = ix.search("经济 OR 芯片 OR 苹果 OR 会议", facets=True, limit=2)
    assert res.facets is not None
    assert len(res.hits) == 2
    assert res.total == len(all_paths(ix, "经济 OR 芯片 OR 苹果 OR 会议")) == 10
    # Every post of this corpus has one category, so both facets sum to the total.
    assert sum(res.facets["category"].values()) == res.total
    assert sum(res.facets["month"].values()) == res.total
    assert res.facets["category"] == {
        "economy": 3,
        "food": 2,
        "politics": 2,
        "finance": 1,
        "misc": 1,
        "tech": 1,
    }
    assert res.facets["month"] == {"2022-05": 7, "2022-06": 2, "undated": 1}
    # Facets count every match, whatever the page.
    assert ix.search("经济 OR 芯片 OR 苹果 OR 会议", facets=True, limit=2, page=3).facets == (
        res.facets
    )
    assert ix.search("经济").facets is None


def test_facets_of_the_dated_corpus(dated_index: Path) -> None:
    with open_index(dated_index) as ix:
        res = ix.search("经济", facets=True)
    assert res.facets == {
        "category": {"dated": 7, "undated": 1},
        # Months in the corpus time zone: 2022-05-31 16:30 UTC is June in Shanghai.
        "month": {"2021-12": 1, "2022-04": 1, "2022-05": 3, "2022-06": 2, "undated": 1},
    }


# --------------------------------------------------------------------------------------------------
# Highlights and snippets


def query_items(query: str) -> set[str]:
    """What a highlight may show, normalised: each query word and each literal piece."""
    a = analyzer()
    items: set[str] = set()
    for clause in parse_query(query).clauses:
        if clause.kind in ("category", "tag"):
            continue
        items.update(a.query_words(clause.text))
        piece = a.token_string(clause.text)
        if piece:
            items.add(piece)
    return items


def check_spans(
    text: str, spans: tuple[tuple[int, int], ...], items: set[str], strict: bool
) -> None:
    """Spans are sorted, do not overlap, and show query items (one each when ``strict``)."""
    a = analyzer()
    last_end = -1
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert start >= last_end, spans
        last_end = end
        shown = a.token_string(text[start:end])
        assert shown, (text, start, end)
        if strict:
            assert shown in items or a.normalize(text[start:end]) in items, (shown, items)
        else:
            assert covered_by(shown.replace(BOUNDARY, ""), {i.replace(BOUNDARY, "") for i in items})


def covered_by(shown: str, items: set[str]) -> bool:
    """Whether ``shown`` is a run of query items (adjacent highlights may be merged)."""
    ok = [True] + [False] * len(shown)
    for i in range(len(shown)):
        if ok[i]:
            for item in items:
                if item and shown.startswith(item, i):
                    ok[i + len(item)] = True
    return ok[-1]


HIGHLIGHT_QUERIES = [
    "工业经济",
    "苹果 香蕉",
    "光伏",
    "会议",
    "电话",
    '"工业 经济"',
    "title:会议",
    "经济 工业",
    "工信部为什么召开电视电话会议？",
    "芯片 -科技",
    "running",
    "OR",
]


@pytest.mark.parametrize("query", HIGHLIGHT_QUERIES)
def test_highlights_show_query_items(ix: SearchIndex, query: str) -> None:
    res = ix.search(query, limit=None)
    assert res.hits
    items = query_items(query)
    for hit in res.hits:
        check_spans(hit.snippet, hit.highlights, items, strict=False)
        check_spans(hit.title, hit.title_highlights, items, strict=False)
    assert any(hit.highlights or hit.title_highlights for hit in res.hits)


@pytest.mark.parametrize("query", ["工信部为什么召开电视电话会议？", "经济 工业"])
def test_each_highlight_is_one_query_item(ix: SearchIndex, query: str) -> None:
    items = query_items(query)
    for hit in ix.search(query, limit=None).hits:
        check_spans(hit.snippet, hit.highlights, items, strict=True)
        check_spans(hit.title, hit.title_highlights, items, strict=True)


def test_exact_highlights_on_a_fixed_post(ix: SearchIndex) -> None:
    hit = ix.search("工业经济").hits[0]
    assert hit.path in (LIT, SEP)
    lit = next(h for h in ix.search("工业经济", limit=None).hits if h.path == LIT)
    assert lit.snippet == "今年以来工业经济稳定增长，形势良好。"
    assert lit.highlights == ((4, 8),)
    sep = next(h for h in ix.search('"工业经济"', limit=None).hits if h.path == SEP)
    assert sep.snippet == "提振 工业，经济大盘。"
    assert [sep.snippet[s:e] for s, e in sep.highlights] == ["工业，经济"]
    miit = ix.search("电话").hits[0]
    assert miit.path == MIIT
    # A sub-word is highlighted where it is, not the whole word around it.
    assert [miit.title[s:e] for s, e in miit.title_highlights] == ["电话"]
    assert [miit.snippet[s:e] for s, e in miit.highlights] == ["电话"]


@pytest.mark.parametrize("query", ['"iPhone 13"', '"operator and"'])
def test_a_phrase_of_latin_words_is_highlighted(ix: SearchIndex, query: str) -> None:
    res = ix.search(query)
    assert paths(res) == [ENGLISH]
    hit = res.hits[0]
    shown = [analyzer().normalize(hit.snippet[s:e]) for s, e in hit.highlights]
    assert shown == [query.strip('"').lower()]


@pytest.fixture(scope="module")
def long_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long")
    corpus = root / "corpus"
    sentence = "今天天气晴朗，人们在公园里散步聊天，孩子们在草地上放风筝。"
    paragraphs = [sentence * 6 for _ in range(600)]
    body = "\n\n".join(paragraphs)
    assert len(body) > 100_000
    ending = "\n\n最后，量子计算机研制取得重大突破。全文完。"
    write_post(corpus, "2022-05-01-long.md", "长文", body + ending)
    write_post(
        corpus,
        "2022-05-02-short.md",
        "短文",
        "据新华社报道，我国科学家在量子通信领域取得新进展。"
        + sentence * 3
        + "专家表示，这项成果意义重大，将推动相关产业发展。"
        + sentence * 3,
    )
    build(corpus, root / "index")
    return root / "index"


def test_a_match_far_into_a_long_post_is_found_and_highlighted(long_index: Path) -> None:
    with open_index(long_index) as ix:
        res = ix.search("量子计算机")
        post = ix.get("2022-05-01-long.md")
    assert post.text.index("量子计算机") > 32_000
    assert paths(res) == ["2022-05-01-long.md"]
    hit = res.hits[0]
    assert "量子计算机" in hit.snippet
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["量子计算机"]
    assert len(hit.snippet) <= 162
    assert hit.snippet.rstrip("…").endswith("。")
    # A piece inside the word, across the words of the analysis, is found there too.
    with open_index(long_index) as ix:
        res = ix.search('"子计算"')
    assert paths(res) == ["2022-05-01-long.md"]
    hit = res.hits[0]
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["子计算"]


def test_snippet_length_and_sentence_boundaries(long_index: Path) -> None:
    with open_index(long_index) as ix:
        for query in ["量子", "公园", "风筝", "专家"]:
            for hit in ix.search(query, limit=None).hits:
                body = hit.snippet.strip("…")
                assert 100 <= len(body) <= 160, (query, hit.snippet)
                assert hit.highlights
                # Whole sentences where possible: this text has short sentences everywhere.
                assert body.endswith(("。", "，", "！", "？")), hit.snippet
                check_spans(hit.snippet, hit.highlights, query_items(query), strict=True)


def test_short_texts_are_shown_whole(ix: SearchIndex) -> None:
    hit = ix.search("苹果 香蕉").hits[0]
    assert hit.snippet == "苹果和香蕉都很好吃。"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["苹果", "香蕉"]


# --------------------------------------------------------------------------------------------------
# Any query string


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.text(max_size=10_000),
        st.text(
            alphabet=st.sampled_from(list('"“”「」-:：OR()[]{}*?~^ 工业经济芯片title苹果\x00\n😀')),
            max_size=60,
        ),
    )
)
@example('"')
@example("title:")
@example("OR")
@example("-")
@example("()[]{}")
@example("😀")
@example("\x00\x1f\x7f")
@example("-" * 10_000)
@example("工业经济" * 2_500)
@example('"' + "工业经济" * 100 + '"')
@example("OR " * 1000)
def test_any_query_string_gives_results_or_a_query_error(news_index: Path, query: str) -> None:
    with open_index(news_index) as ix:
        try:
            res = ix.search(query, limit=5, facets=True)
        except QueryError:
            return
        assert res.total >= len(res.hits)
        assert len(res.hits) <= 5
        for hit in res.hits:
            assert isinstance(hit, Hit)
            for s, e in hit.highlights:
                assert 0 <= s < e <= len(hit.snippet)


# --------------------------------------------------------------------------------------------------
# The library API


def test_open_index_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        open_index(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError):
        open_index(tmp_path / "empty")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(NotAnIndexError):
        open_index(foreign)
    assert (foreign / "data.csv").read_text(encoding="utf-8") == "a,b\n"


def test_get_returns_the_post(ix: SearchIndex, news_index: Path) -> None:
    corpus = news_index.parent / "corpus"
    for path in ALL:
        got = ix.get(path)
        want = read_post(corpus, path)
        assert got.path == want.path == path
        assert got.title == want.title
        assert got.text == want.text
        assert got.date == want.date
        assert got.categories == want.categories
        assert got.tags == want.tags
        assert got.url == want.url
        assert got.source_url == want.source_url
    with pytest.raises(PostNotFoundError):
        ix.get("nope")
    assert ix.paths() == sorted(ALL)


def test_hits_carry_the_post_metadata(ix: SearchIndex) -> None:
    hit = ix.search("半导体").hits[0]
    post = ix.get(CHIP)
    assert (hit.path, hit.title, hit.date, hit.categories, hit.tags, hit.url, hit.source_url) == (
        post.path,
        post.title,
        post.date,
        post.categories,
        post.tags,
        post.url,
        post.source_url,
    )
    assert hit.categories == ("tech",)
    assert hit.tags == ("芯片", "半导体")


def test_info(ix: SearchIndex) -> None:
    info = ix.info()
    assert info.posts == len(ALL) == len(ix)
    assert info.segments >= 1
    assert info.size_bytes > 0
    assert info.timezone == "Asia/Shanghai"
    assert info.first_date is not None and info.last_date is not None
    assert (info.first_date.year, info.first_date.month, info.first_date.day) == (2022, 5, 1)
    assert (info.last_date.year, info.last_date.month, info.last_date.day) == (2022, 6, 12)
    assert info.categories == {
        "economy": 3,
        "energy": 2,
        "food": 2,
        "misc": 2,
        "politics": 2,
        "finance": 1,
        "tech": 1,
    }
    assert info.tags["芯片"] == 2
    assert info.tags["会议"] == 2
    assert sum(info.categories.values()) == len(ALL)


def test_similar(ix: SearchIndex) -> None:
    res = ix.similar(CHIP)
    assert CHIP not in paths(res)
    assert paths(res)[0] == CHIP2
    res = ix.similar(TITLED)
    assert paths(res)[0] == UNTITLED
    assert TITLED not in paths(res)
    with pytest.raises(PostNotFoundError):
        ix.similar("nope")


def test_a_closed_index_can_be_reopened(news_index: Path) -> None:
    index = open_index(news_index)
    assert index.search("苹果").total == 2
    index.close()
    with open_index(news_index) as again:
        assert again.search("苹果").total == 2


# --------------------------------------------------------------------------------------------------
# The bundled corpus


def test_bundled_corpus_industrial_economy(bundled_index: Path) -> None:
    with open_index(bundled_index) as ix:
        res = ix.search("工业经济")
        assert "finews/2022-05-27-NW202205272394760297.md" in paths(res)[:3]
        assert res.total > 3


def test_bundled_corpus_question_and_filters(bundled_index: Path) -> None:
    with open_index(bundled_index) as ix:
        res = ix.search("工信部为什么召开电视电话会议？")
        assert paths(res)[0] == "finews/2022-05-27-NW202205272394760297.md"
        res = ix.search(
            "习近平",
            categories=["xinwenlianbo"],
            since="2022-05-20",
            until="2022-05-31",
            facets=True,
        )
        assert res.total > 0
        assert res.facets is not None
        assert res.facets["category"] == {"xinwenlianbo": res.total}
        assert res.facets["month"] == {"2022-05": res.total}
        for hit in res.hits:
            assert hit.date is not None and (hit.date.month, hit.date.year) == (5, 2022)
            assert hit.date.day >= 20


def test_filters_leave_the_clause_s_own_posts_as_they_were(bundled_index: Path) -> None:
    # A query of one clause shares the clause's set of posts with the selection; a filter or an
    # exclusion must change a copy, never what the ranking reads as the clause's posts.
    with open_index(bundled_index) as ix:
        matcher = ix._matcher
        whole = matcher.select(parse_query("经济"), [], []).docs
        for query, categories in [
            ("经济 -会议", []),
            ("经济", ["finews"]),
            ("经济 -会议", ["finews"]),
        ]:
            sel = matcher.select(parse_query(query), categories, [])
            (clause,) = [e for g in sel.soft for e in g]
            assert clause.docs == whole
            assert sel.docs < whole and sel.docs is not clause.docs
            assert ix.search(query, categories=categories).total == len(sel.docs)
        assert len(whole) > 100


def test_date_orders_picked_in_arrays_are_the_sorted_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many posts of one query are sorted by date in NumPy arrays (from a process's second
    # search on, above ranking.DENSE_MIN posts: forced here for a small corpus): every page
    # must be the slice of the whole order that Python's sort gives, with posts of the same
    # date in path order and undated posts last, both ways. ``经济 -会议`` without other words
    # ranks by date too: its posts all score alike.
    import importlib

    from newsearch import ranking

    importlib.import_module("numpy")
    assert ranking._numpy() is not None
    corpus = tmp_path / "corpus"
    days = ["2021-03-01", "2022-05-27", "2022-05-27", "2020-01-09", "2022-05-27", None]
    for i in range(30):
        day = days[(i * 7) % len(days)]
        date = f"{day} 10:00:00 +0800" if day else None
        write_post(corpus, f"p{(i * 11) % 30:02d}.md", f"第{i}篇", "经济运行总体平稳。", date=date)
    build(corpus, tmp_path / "index")
    picked: list[int] = []
    real = ranking._date_keys

    def spy(*args: object) -> object:
        picked.append(1)
        return real(*args)  # type: ignore[arg-type]

    with open_index(tmp_path / "index") as ix:
        whole = {s: paths(ix.search("经济", sort=s, limit=None)) for s in ("newest", "oldest")}
        ranked = paths(ix.search("经济", limit=None))
        monkeypatch.setattr(ranking, "DENSE_MIN", 0)
        monkeypatch.setattr(ranking, "_date_keys", spy)
        for sort, order in whole.items():
            assert len(order) == 30
            for limit in (1, 4, 7):
                pages = [ix.search("经济", sort=sort, limit=limit, page=p) for p in range(1, 32)]
                assert [p for page in pages for p in paths(page)] == order, (sort, limit)
        singles = [ix.search("经济", limit=1, page=k) for k in range(1, 31)]
        assert [p for page in singles for p in paths(page)] == ranked
    assert picked
    assert whole["newest"][-5:] == sorted(whole["newest"][-5:])  # the undated, by path
    assert whole["oldest"][-5:] == whole["newest"][-5:]
