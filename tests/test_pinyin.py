"""Pinyin search: reading a Latin keyword as pinyin, readings computed at index time and stored
per segment, pinyin matches ranked and highlighted, and never a homophone of a Chinese keyword."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import build, cold_search_imports, python_json, write_post

from newsearch import open_index
from newsearch.lexicon import Lexicon
from newsearch.pinyin import prefix_of, read_keyword, split_syllables, word_readings
from newsearch.store import Snapshot
from newsearch.store.check import check_index

FIRST = "finews/2022-05-27-NW202205272394760297.md"


@pytest.mark.parametrize(
    ("text", "letters", "full", "initials"),
    [
        ("gongxinbu", "gongxinbu", True, False),
        ("GongXinBu", "gongxinbu", True, False),
        ("gōngxìnbù", "gongxinbu", True, False),
        ("gong1xin4bu4", "gongxinbu", True, False),
        ("xi'an", "xian", True, False),
        ("lü", "lv", True, False),
        ("nǚ'ér", "nver", True, False),
        ("gxb", "gxb", False, True),
        ("GDP", "gdp", False, True),
        ("bj", "bj", False, True),
    ],
)
def test_a_latin_keyword_reads_as_pinyin(
    text: str, letters: str, full: bool, initials: bool
) -> None:
    got = read_keyword(text)
    assert got is not None
    assert (got.letters, got.full, got.initials) == (letters, full, initials)


@pytest.mark.parametrize("text", ["mp3", "5g", "iphone", "cctv", "hello", "x", "工信部", "g-x", ""])
def test_what_is_not_pinyin(text: str) -> None:
    assert read_keyword(text) is None


def test_syllables_and_prefixes() -> None:
    assert split_syllables("zhongguo") == ("zhong", "guo")
    assert split_syllables("xian") == ("xian",)  # the fewest syllables
    assert split_syllables("gongxb") is None
    assert prefix_of("gongx") == ("gongx", True)  # gong + the start of xin
    assert prefix_of("zh") == ("zh", True)
    assert prefix_of("gongxinbu") == ("gongxinbu", False)  # three vowels: not initials
    assert prefix_of("iphone") is None


def test_readings_are_pypinyins_in_context(bundled_index: Path) -> None:
    from pypinyin import lazy_pinyin

    got = word_readings(["银行", "会计", "重庆", "绿色", "工信部", "行长", "a1"])
    assert got["银行"] == ("yinhang", "yh")
    assert got["会计"] == ("kuaiji", "kj")
    assert got["重庆"] == ("chongqing", "cq")
    assert got["绿色"] == ("lvse", "ls")
    assert got["工信部"] == ("gongxinbu", "gxb")
    assert got["行长"] == ("hangzhang", "hz")
    assert "a1" not in got  # not a word of Chinese characters
    # The readings stored in the index are lazy_pinyin's own, on real words.
    stored = _lexicon(bundled_index)[1]
    words = sorted(stored)[::5]
    assert len(words) > 2000
    for w in words:
        assert stored[w][0] == "".join(lazy_pinyin(w)), w


def _lexicon(
    path: Path,
) -> tuple[dict[str, int], dict[str, tuple[str, str]], dict[str, tuple[str, ...]], int]:
    """The counts, readings and character readings of an index, and its number of segments."""
    snap = Snapshot(str(path))
    try:
        lex = Lexicon.of(snap)
        return dict(lex.counts()), dict(lex.readings()), dict(lex.chars()), len(snap.segments)
    finally:
        snap.close()


def test_gongxinbu_finds_the_post_with_its_characters_highlighted(bundled_index: Path) -> None:
    with open_index(bundled_index) as ix:
        for query in ("gongxinbu", "gong xin bu", "gōng xìn bù", "gong1xin4bu4", "GongXinBu"):
            res = ix.search(query, limit=10)
            assert FIRST in [h.path for h in res.hits], query
            for hit in res.hits:
                assert hit.match == "pinyin", (query, hit.match)
                marked = {hit.snippet[s:e] for s, e in hit.highlights}
                marked |= {hit.title[s:e] for s, e in hit.title_highlights}
                assert "工信部" in marked, (query, hit.path, marked)
        assert ix.search("gongxinbu", pinyin=False).total == 0


def test_initials_find_the_word(bundled_index: Path) -> None:
    with open_index(bundled_index) as ix:
        res = ix.search("gxb", limit=20)
        assert FIRST in [h.path for h in res.hits]
        hit = next(h for h in res.hits if h.path == FIRST)
        assert hit.match == "pinyin"
        assert "工信部" in {hit.title[s:e] for s, e in hit.title_highlights}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pinyin")
    corpus = work / "corpus"
    write_post(corpus, "a-latin.md", "GDS公司发布财报", "GDS公司的数据中心业务增长。")
    write_post(corpus, "b-province.md", "广东省经济运行", "广东省经济运行总体平稳，工业增长。")
    write_post(corpus, "c-classic.md", "经典名著", "经典名著的阅读推广活动。")
    write_post(corpus, "d-bank.md", "银行业", "银行业金融机构加大支持力度。")
    write_post(corpus, "e-accounting.md", "会计", "会计师事务所的审计工作。")
    write_post(corpus, "f-gds.md", "广东省与广东省", "广东省 gds 广东省。")
    index = work / "index"
    build(corpus, index)
    return index


def test_latin_letters_rank_before_their_pinyin_reading(small: Path) -> None:
    with open_index(small) as ix:
        res = ix.search("gds")
        got = [(h.path, h.match) for h in res.hits]
    # The posts with the letters themselves first, however well a reading matches the others.
    assert got[0][0] in ("a-latin.md", "f-gds.md") and got[1][0] in ("a-latin.md", "f-gds.md")
    assert got[2:] == [("b-province.md", "pinyin")]


def test_polyphonic_characters_read_in_context(small: Path) -> None:
    with open_index(small) as ix:
        assert [h.path for h in ix.search("yinhangye").hits] == ["d-bank.md"]
        assert [h.path for h in ix.search("kuaijishi").hits] == ["e-accounting.md"]
        assert ix.search("yinxingye").total == 0  # 行 read as xing does not fit here
        assert ix.search("huijishi").total == 0


def test_a_chinese_keyword_never_finds_its_homophones(small: Path) -> None:
    # 景点 (jingdian) and 经典 (jingdian) read the same: only a Latin keyword reads as pinyin.
    with open_index(small) as ix:
        assert ix.search("景点").total == 0
        assert [h.path for h in ix.search("jingdian").hits] == ["c-classic.md"]


def test_explain_names_the_pinyin_reading(small: Path) -> None:
    with open_index(small) as ix:
        (hit,) = ix.search("jingdian", explain=True).hits
    assert hit.explain is not None
    assert any("pinyin reading 经典" in d.description for d in hit.explain.details)
    assert abs(sum(d.value for d in hit.explain.details) - hit.score) < 1e-6


def test_readings_are_carried_by_merges_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    for i, (title, body) in enumerate(
        [("工信部", "工信部召开会议。"), ("银行业", "银行业稳健。"), ("会计", "会计师审计。")]
    ):
        write_post(corpus, f"{i}.md", title, body)
        build(corpus, tmp_path / "index")  # one segment per post
    (corpus / "1.md").unlink()

    def computed(*_: object) -> None:
        raise AssertionError("a merge computes no reading: it carries them")

    with monkeypatch.context() as m:
        m.setattr("newsearch.pinyin.word_readings", computed)
        m.setattr("newsearch.pinyin.char_readings", computed)
        build(corpus, tmp_path / "index", optimize=True)
    build(corpus, tmp_path / "fresh")
    assert check_index(tmp_path / "index").sound

    merged, fresh = _lexicon(tmp_path / "index"), _lexicon(tmp_path / "fresh")
    assert merged[3] == 1
    assert merged[:3] == fresh[:3]
    assert merged[1]["工信部"] == ("gongxinbu", "gxb") and "银行业" not in merged[0]


def test_a_search_never_imports_pypinyin(bundled_index: Path) -> None:
    code = (
        "import sys, json, newsearch\n"
        f"ix = newsearch.open_index({str(bundled_index)!r})\n"
        "r = [ix.search(q).total for q in ('gongxinbu', 'gxb', '工信不', '工业经济')]\n"
        "s = [x.text for x in ix.suggest('gongx')]\n"
        "print(json.dumps([r, s, 'pypinyin' in sys.modules, 'jieba' in sys.modules]))\n"
    )
    totals, suggestions, pypinyin, jieba = python_json(code)
    assert totals[0] > 0 and totals[1] > 0 and "工信部" in suggestions
    assert pypinyin is False and jieba is False


def test_the_command_line_turns_pinyin_off(bundled_index: Path) -> None:
    def search(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "newsearch", "search", *args, "--index", str(bundled_index)]
            + ["--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        got: dict[str, Any] = json.loads(done.stdout)
        return got

    on = search("gongxinbu")
    assert on["total"] and {h["match"] for h in on["hits"]} == {"pinyin"}
    assert search("gongxinbu", "--no-pinyin")["total"] == 0


def test_a_cold_command_line_search_never_imports_pypinyin(bundled_index: Path) -> None:
    result, imported = cold_search_imports(bundled_index, "gongxinbu")
    assert isinstance(result["total"], int) and result["total"] > 0
    assert not {m for m in imported if m.split(".")[0] == "pypinyin"}


@pytest.fixture(scope="module")
def homophones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """书籍 in the titles of a few posts (rare: a high idf), 书记 once in the text of many."""
    work = tmp_path_factory.mktemp("homophones")
    corpus = work / "corpus"
    for i in range(12):
        write_post(corpus, f"book-{i:02}.md", f"书籍出版第{i}期", f"新出版的书籍{i}种。")
    for i in range(40):
        body = "地方党委工作会议召开，" * (1 + i % 3) + "会上书记讲话，部署下一阶段工作。"
        write_post(corpus, f"secretary-{i:02}.md", f"地方工作会议第{i}次", body)
    index = work / "index"
    build(corpus, index)
    return index


def test_an_ambiguous_reading_shows_each_common_word_on_the_first_page(homophones: Path) -> None:
    with open_index(homophones) as ix:
        res = ix.search("shuji", limit=10)
        everything = ix.search("shuji", limit=None)
        pages = [ix.search("shuji", limit=4, page=p).hits for p in (1, 2, 3)]
        plain = ix.search("书籍 OR 书记", limit=10)
    first = [h.path for h in res.hits]
    # Ranked by score alone, the rare word's posts fill the page (as the plain query shows) ...
    assert all(p.startswith("book-") for p in (h.path for h in plain.hits))
    # ... the spread gives the other reading the page's last place, with its best post.
    assert [p for p in first if p.startswith("book-")] == first[:9]
    assert first[9].startswith("secretary-") and res.hits[9].match == "pinyin"
    assert {res.hits[9].title[s:e] for s, e in res.hits[9].title_highlights} | {
        res.hits[9].snippet[s:e] for s, e in res.hits[9].highlights
    } == {"书记"}
    best = max(
        (h for h in everything.hits if h.path.startswith("secretary-")), key=lambda h: h.score
    )
    assert res.hits[9].path == best.path
    # The order is one order, whatever the page: pages agree with each other and with the whole.
    assert [h.path for page in pages for h in page] == [h.path for h in everything.hits][:12]
    assert [h.path for h in everything.hits][:10] == first
    assert sorted(h.path for h in everything.hits) == sorted(
        [f"book-{i:02}.md" for i in range(12)] + [f"secretary-{i:02}.md" for i in range(40)]
    )
    assert everything.total == res.total == 52


def test_the_lexicon_keeps_nothing_the_garbage_collector_walks_item_by_item(
    bundled_index: Path,
) -> None:
    # A snapshot keeps its lexicon for its life, and every full collection walks every item of
    # a list it can reach: what the lexicon builds for completion, homophones and pinyin is
    # kept in tuples, which the collector stops walking once it has seen them.
    import gc

    snap = Snapshot(str(bundled_index))
    try:
        lex = Lexicon.of(snap)
        assert lex.complete_words("经", 5) and lex.complete_pinyin("jing", 5, initials=True)
        assert lex.complete_titles("习近平", 5, lambda t: t)
        lex.homophones("经济"), lex.one_apart("经济"), lex.by_initials("jj")
        lex._sorted_words()._buckets()
        gc.collect()
        seen: set[int] = set()
        todo: list[Any] = [v for k, v in vars(lex).items() if k not in ("snap", "_lock")]
        walked = 0
        while todo:
            o = todo.pop()
            if id(o) in seen or not gc.is_tracked(o):
                continue
            seen.add(id(o))
            if isinstance(o, list):
                assert len(o) < 100, f"a list of {len(o)} items kept by the lexicon: {o[:3]}"
            data = (dict, list, tuple, set, frozenset)
            if isinstance(o, data) or type(o).__module__.startswith("newsearch"):
                walked += 1
                todo.extend(gc.get_referents(o))
        assert walked >= 3
    finally:
        snap.close()
