"""Tests of the ranking model (``newsearch/ranking.py``): one small fixed corpus per rule, written
so that the rule decides the order, and the explanations of scores.

Each corpus has filler posts that make the common words common, so that rarity means what it
means in a real archive.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import build, paths, write_post

from newsearch import Explanation, SearchIndex, open_index
from newsearch.ranking import FUNCTION_WORDS

ROOT = Path(__file__).resolve().parents[1]

#: Posts that make the words of everyday news common.
FILLER = [
    "国务院召开常务会议，研究部署当前经济工作。",
    "会议强调，要做好疫情防控和经济社会发展工作。",
    "各地召开会议，研究部署安全生产工作。",
    "专家表示，科技创新是发展的关键，要加强研究。",
    "今年以来，我国经济稳定增长，就业形势总体稳定。",
    "会议指出，要加快发展现代产业体系，推动经济高质量发展。",
    "记者从有关部门了解到，今年粮食生产形势良好。",
    "教育部召开会议，研究部署高校毕业生就业工作。",
    "今天北京天气晴朗，气温回升，市民外出踏青。",
    "中国女排在比赛中战胜对手，获得冠军。",
    "铁路部门增开列车，方便旅客出行。",
    "博物馆推出新展览，吸引众多游客参观。",
    "农民抢抓农时，春耕生产有序进行。",
    "消防员及时赶到现场，扑灭大火。",
]


def corpus(folder: Path, posts: dict[str, tuple[str, str]], filler: bool = True) -> Path:
    """Write ``posts`` (name -> (title, text)) and the filler posts, dated in name order."""
    names = sorted(posts)
    for i, name in enumerate(names):
        title, text = posts[name]
        write_post(folder, name, title, text, date=f"2022-05-{i + 1:02d} 10:00:00 +0800")
    if filler:
        for i, text in enumerate(FILLER):
            write_post(folder, f"filler-{i}.md", f"要闻{i}", text, date="2022-04-01 10:00:00 +0800")
    return folder


@pytest.fixture()
def make_index(tmp_path: Path) -> Iterator[object]:
    opened: list[SearchIndex] = []

    def make(posts: dict[str, tuple[str, str]], filler: bool = True) -> SearchIndex:
        root = tmp_path / f"c{len(opened)}"
        corpus(root / "corpus", posts, filler)
        build(root / "corpus", root / "index")
        ix = open_index(root / "index")
        opened.append(ix)
        return ix

    yield make
    for ix in opened:
        ix.close()


def score_of(ix: SearchIndex, query: str, path: str) -> float:
    return next(h.score for h in ix.search(query, limit=None).hits if h.path == path)


# --------------------------------------------------------------------------------------------------
# Questions and long queries


def test_a_rare_word_post_beats_a_common_words_post_for_a_question(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "rare.md": ("梵语", "陆特和汉斯开创了梵语的学术研究。"),
            "common.md": ("会议", "为什么召开会议？会议研究了什么工作，在哪里召开。"),
        }
    )
    res = ix.search("陆特为什么召开会议研究梵语？")
    # The common-words post has more of the question's words (为什么, 召开, 会议, 研究, 什么);
    # the rare-word post has its telling ones (陆特, 梵语).
    assert paths(res)[0] == "rare.md"
    assert "common.md" in paths(res)


def test_function_words_never_decide(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "content.md": ("梵语", "梵语历史悠久，影响深远。"),
            "particles.md": ("什么", "什么？哪里？为什么？吗？呢？的的的。梵语。"),
            "only.md": ("问", "这是什么？在哪里？为什么呢？"),
        }
    )
    # Function words typed as keywords of their own add nothing to a query that has others:
    # the same posts, the same scores.
    plain = [(h.path, h.score) for h in ix.search("梵语", limit=None).hits]
    noisy = [
        (h.path, h.score) for h in ix.search("梵语 什么 哪里 为什么 吗 呢 的", limit=None).hits
    ]
    assert noisy == plain
    assert "only.md" not in {p for p, _ in plain}
    # In a question, the post full of question words does not win by them.
    res = ix.search("梵语的历史是什么？为什么在哪里？")
    assert paths(res)[0] == "content.md"
    assert "only.md" not in paths(res)
    for hit in ix.search("梵语的历史是什么？", limit=None, explain=True).hits:
        assert hit.explain is not None
        for part in hit.explain.details:
            assert not any(f"word {w}:" in part.description for w in FUNCTION_WORDS), part


def test_words_near_each_other_count_more_than_scattered_ones(make_index) -> None:  # type: ignore[no-untyped-def]
    # The same words, so the same frequencies and lengths: only their places differ. The
    # scattered post is newer, which would win a tie.
    ix = make_index(
        {
            "a-near.md": ("新闻", "我国首先发射量子卫星，举世瞩目。其他国家随后跟进研究。"),
            "b-far.md": (
                "新闻",
                "量子研究起步很早。其他国家随后跟进，我国首先发射卫星，举世瞩目。",
            ),
        }
    )
    res = ix.search("哪国首先发射了量子卫星？", limit=None, explain=True)
    assert paths(res)[:2] == ["a-near.md", "b-far.md"]
    near, far = res.hits[0], res.hits[1]
    assert near.score > far.score
    assert near.explain is not None
    assert any("near words" in p.description for p in near.explain.details)


def test_a_longer_literal_piece_of_the_query_counts_more(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "a-short.md": ("观察", "青藏高原冰川惊人，融化速度令科学家忧虑。"),
            "b-long.md": ("观察", "青藏高原冰川融化速度惊人，令科学家忧虑。"),
        }
    )
    res = ix.search("青藏高原冰川融化速度有多快？", limit=None)
    assert paths(res)[:2] == ["b-long.md", "a-short.md"]
    assert res.hits[0].score > res.hits[1].score


def test_missing_a_common_word_costs_little(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            # Has the rare words, lacks the common one (会议).
            "rare.md": ("报道", "陆特和汉斯讨论梵语。"),
            # Has the common word and one rare word.
            "common.md": ("报道", "陆特出席会议。"),
        }
    )
    res = ix.search("陆特和汉斯在会议上讨论梵语吗？", limit=None)
    assert paths(res)[0] == "rare.md"


# --------------------------------------------------------------------------------------------------
# Keywords


def test_posts_with_a_short_keyword_literally_fill_the_top(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "lit-1.md": ("观察", "今年以来工业经济稳定增长。"),
            "lit-2.md": ("观察", "提振工业，经济大盘稳住了。"),
            # The words many times, never together.
            "words.md": ("工业", "工业发展，工业增长，工业繁荣。经济稳定，经济和谐，经济进步。"),
        }
    )
    res = ix.search("工业经济", limit=None)
    literal = {"lit-1.md", "lit-2.md"}
    top = paths(res)[: len(literal)]
    assert set(top) == literal
    assert {h.match for h in res.hits[: len(literal)]} == {"literal"}
    assert paths(res).index("words.md") >= len(literal)
    assert res.hits[len(literal)].match in ("all words", "some words")


def test_all_keywords_rank_above_one_each_weighted_by_rarity(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "both.md": ("科技", "华为发布新款芯片。"),
            # The rarer keyword once.
            "huawei.md": ("科技", "华为公司举行发布会。"),
            # The commoner keyword many times.
            "chip-1.md": ("科技", "芯片，芯片，芯片产业发展迅速，芯片需求旺盛。"),
            "chip-2.md": ("科技", "芯片供应紧张。"),
            "chip-3.md": ("科技", "芯片设计人才短缺。"),
        }
    )
    res = ix.search("华为 芯片", limit=None)
    assert paths(res)[0] == "both.md"
    assert res.hits[0].match == "literal"  # each keyword is there literally
    assert paths(res)[1] == "huawei.md"
    assert set(paths(res)[2:]) == {"chip-1.md", "chip-2.md", "chip-3.md"}
    assert {h.match for h in res.hits[1:]} == {"some words"}


def test_a_title_typed_whole_or_nearly_whole_finds_its_post_first(make_index) -> None:  # type: ignore[no-untyped-def]
    title = "国务院常务会议部署稳经济一揽子措施"
    ix = make_index(
        {
            "known.md": (title, "会议听取了有关汇报。"),
            "long.md": (
                "经济观察",
                "国务院召开常务会议，会议部署了稳经济措施。一揽子措施包括稳经济、稳就业。"
                "会议要求，各地要抓紧落实国务院常务会议部署的一揽子措施。",
            ),
        }
    )
    for query in (title, title[:-2], title[2:]):
        assert paths(ix.search(query))[0] == "known.md", query


# --------------------------------------------------------------------------------------------------
# Scripts


def test_traditional_and_simplified_queries_rank_alike(make_index) -> None:  # type: ignore[no-untyped-def]
    ix = make_index(
        {
            "simplified.md": ("马祖列岛", "马祖列岛隶属中华民国，距中国大陆最近点约九公里。"),
            "traditional.md": ("關島", "關島為馬利安納群島最大且最南方的島嶼，最高點為閃電山。"),
        }
    )
    for trad, simp in [
        ("馬祖列島距離中國大陸最近有多遠？", "马祖列岛距离中国大陆最近有多远？"),
        ("閃電山是哪一座島嶼的最高處？", "闪电山是哪一座岛屿的最高处？"),
        ("經濟社會", "经济社会"),
    ]:
        a = [(h.path, h.score) for h in ix.search(trad, limit=None).hits]
        b = [(h.path, h.score) for h in ix.search(simp, limit=None).hits]
        assert a == b
        assert a
    assert paths(ix.search("馬祖列島距離中國大陸最近有多遠？"))[0] == "simplified.md"
    assert paths(ix.search("闪电山是哪一座岛屿的最高处？"))[0] == "traditional.md"


# --------------------------------------------------------------------------------------------------
# Lazy parts of the score


QUERIES = [
    "工业经济",
    "经济",
    "工信部为什么召开电视电话会议？",
    "习近平 经济",
    "疫情防控 经济社会 发展",
    '"稳住经济大盘" 会议',
    "今年粮食产量是多少？",
    "title:会议 部署",
    "国务院常务会议部署稳经济一揽子措施",
]


@pytest.fixture(scope="module")
def bundled(bundled_index: Path) -> Iterator[SearchIndex]:
    with open_index(bundled_index) as ix:
        yield ix


@pytest.mark.parametrize("query", QUERIES)
def test_a_page_is_the_head_of_the_whole_ranking(bundled: SearchIndex, query: str) -> None:
    # The first page computes literal checks and proximity only where they can still matter;
    # it must be exactly the head of the fully computed order.
    whole = bundled.search(query, limit=None)
    assert whole.total > 0
    for limit in (1, 3, 10):
        page = bundled.search(query, limit=limit)
        assert [(h.path, h.score) for h in page.hits] == [
            (h.path, h.score) for h in whole.hits[:limit]
        ]
    second = bundled.search(query, limit=5, page=2)
    assert paths(second) == paths(whole)[5:10]
    scores = [h.score for h in whole.hits]
    # Within one coordination level scores never increase (one keyword: one level).
    if len(query.split()) == 1:
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("kept", [1 << 19, 7])
def test_near_pairs_kept_from_earlier_queries_score_as_computed_afresh(
    bundled_index: Path, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    # A pair's nearness in a post, once computed, is kept (ranking.NEARNESS_KEPT values in all,
    # then started afresh): queries sharing pairs, run again or in another order, get the same
    # scores and pages as each run on an index opened for it alone.
    from newsearch import ranking

    monkeypatch.setattr(ranking, "NEARNESS_KEPT", kept)
    queries = [*QUERIES, "工业和信息化部召开会议", "召开电视电话会议 部署", "习近平 经济 发展"]

    def run(ix: SearchIndex, query: str) -> list[tuple[str, float]]:
        return [(h.path, h.score) for h in ix.search(query, limit=20).hits]

    fresh = {}
    for query in queries:
        with open_index(bundled_index) as ix:
            fresh[query] = run(ix, query)
    with open_index(bundled_index) as ix:
        for query in [*queries, *reversed(queries), *queries]:
            assert run(ix, query) == fresh[query], query
        memo = ranking.Statistics.of(ix._snap)._nearness
        assert sum(map(len, memo.values())) > (0 if kept < 100 else 100)


# --------------------------------------------------------------------------------------------------
# Explanations


def check_sums(e: Explanation) -> None:
    assert isinstance(e, Explanation)
    if e.description.startswith("sum of"):
        assert e.value == pytest.approx(sum(d.value for d in e.details), abs=1e-9)
    for d in e.details:
        check_sums(d)


@pytest.mark.parametrize("query", QUERIES)
def test_explanations_add_up_to_the_score(bundled: SearchIndex, query: str) -> None:
    res = bundled.search(query, limit=10, explain=True)
    assert res.hits
    for hit in res.hits:
        assert hit.explain is not None
        assert hit.explain.value == pytest.approx(hit.score, abs=1e-9)
        assert hit.explain.description.startswith("sum of")
        assert hit.explain.details
        check_sums(hit.explain)
    # Without explain=True, hits carry none.
    assert all(h.explain is None for h in bundled.search(query).hits)


def test_an_explanation_names_terms_fields_and_boosts(bundled: SearchIndex) -> None:
    hit = bundled.search("工业经济", explain=True).hits[0]
    assert hit.explain is not None
    text = json.dumps(_tree(hit.explain), ensure_ascii=False)
    for part in ("word 工业", "word 经济", "literal keyword", "title:", "text:", "idf"):
        assert part in text, part
    with pytest.raises(AttributeError):
        hit.explain.value = 0.0  # type: ignore[misc]


def _tree(e: Explanation) -> dict[str, object]:
    return {"v": e.value, "d": e.description, "c": [_tree(c) for c in e.details]}


def test_cli_explain_and_json(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")

    def newsearch(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "newsearch", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    newsearch("index", "--quiet")
    out = newsearch("search", "工业经济", "-n", "2", "--explain")
    assert out.count("   score ") == 2, out
    assert "word 工业" in out and "literal keyword" in out
    data = json.loads(newsearch("search", "工业经济", "-n", "2", "--explain", "--json"))
    for hit in data["hits"]:
        assert round(hit["explain"]["value"], 4) == hit["score"]
        # JSON rounds every value to 4 decimals.
        assert sum(d["value"] for d in hit["explain"]["details"]) == pytest.approx(
            hit["explain"]["value"], abs=1e-3
        )
    plain = json.loads(newsearch("search", "工业经济", "-n", "1", "--json"))
    assert "explain" not in plain["hits"][0]


# --------------------------------------------------------------------------------------------------
# Borders


def test_ranking_is_one_module_that_the_engine_calls() -> None:
    pkg = ROOT / "newsearch"
    ranking = ast.parse((pkg / "ranking.py").read_text(encoding="utf-8"))
    imported = {(n.module or "") for n in ast.walk(ranking) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(ranking) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any("engine" in m for m in imported), imported
    engine = (pkg / "engine.py").read_text(encoding="utf-8")
    # The scoring model's constants and formulas live in ranking.py only.
    for name in ("K1", "FIELD_WEIGHTS", "FIELD_B", "idf(", "saturate", "COMMON_SHARE"):
        assert name not in engine, name
    matching = (pkg / "matching.py").read_text(encoding="utf-8")
    for name in ("K1 =", "FIELD_WEIGHTS =", "FIELD_B =", "def idf"):
        assert name not in matching, name
