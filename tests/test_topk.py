"""Top-k pruning gives exactly the head of the exhaustive order: the same posts, in the same
order, with the same scores (compared bit for bit), on the benchmark's queries and on random
ones; totals stay exact.

The bundled corpus is small: most keywords have fewer literal posts than ``SEED_LIMIT``, so the
threshold algorithm would hardly run. Each comparison is also made with tiny limits and batches,
which makes it read the term lists a few posts at a time and stop early, as on a large index.
"""

from __future__ import annotations

import importlib
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import cold_search_imports, python_json

from newsearch import SearchIndex, open_index, ranking
from newsearch.engine import _bounded
from newsearch.query import parse_query
from newsearch.ranking import Ranked, Ranker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from benchmark import QUERIES  # noqa: E402

EXTRA = [
    "工业经济",
    "疫情防控 经济社会 发展",
    '"稳住经济大盘" 会议',
    "title:会议 部署",
    "习近平 经济",
    "经济 OR 疫情",
    "会议 -疫情",
]
#: (SEED_LIMIT, TA_BATCH, RESOLVE_BATCH, MAXSCORE_LIMIT, GIVE_UP_MIN, DENSE_MIN and
#: DENSE_MIN_LISTS, RAISE_EVERY, NumPy): as shipped, tiny ones, and ones that make the threshold
#: algorithm give up on most scopes (the fallback by bounds, in arrays or lists indexed by post,
#: and in dictionaries).
SETTINGS = [
    (
        ranking.SEED_LIMIT,
        ranking.TA_BATCH,
        ranking.RESOLVE_BATCH,
        ranking.MAXSCORE_LIMIT,
        ranking.GIVE_UP_MIN,
        ranking.DENSE_MIN,
        ranking.RAISE_EVERY,
        True,
    ),
    (3, 2, 1, 0, 10**9, 10**9, 4, True),
    (0, 1, 4, 50, 10**9, 0, 8, True),
    (3, 2, 1, 10**9, 0, 0, 8, True),
    (3, 2, 1, 10**9, 0, 0, 8, False),
    (3, 2, 1, 10**9, 0, 10**9, 10**9, True),
]


@pytest.fixture(scope="module")
def bundled(bundled_index: Path) -> Iterator[SearchIndex]:
    with open_index(bundled_index) as ix:
        yield ix


def _random_queries(ix: SearchIndex, n: int) -> list[str]:
    """Queries of one to four words of the index's own vocabulary (common and rare alike),
    some with OR, an exclusion or a quoted phrase."""
    rng = random.Random(15)
    words = sorted(w for w in ix._snap.terms("text") if len(w) >= 2 and not w.isascii())
    out = []
    for _ in range(n):
        picked = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        roll = rng.random()
        if roll < 0.15 and len(picked) >= 2:
            picked.insert(1, "OR")
        elif roll < 0.25 and len(picked) >= 2:
            picked[-1] = "-" + picked[-1]
        elif roll < 0.35:
            picked[0] = f'"{picked[0]}"'
        elif roll < 0.5:
            picked = ["".join(picked)]  # a run of words: a literal piece, near pairs
        out.append(" ".join(picked))
    return out


def _key(ranked: list[Ranked]) -> list[tuple[int, float, float]]:
    return [(r.docnum, r.score, r.coordination) for r in ranked]


def _compare(ix: SearchIndex, query: str, categories: list[str] | None = None) -> int:
    matcher = ix._matcher
    sel = matcher.select(_bounded(parse_query(query)), categories or [], [])

    def ranker() -> Ranker:
        return Ranker(matcher, sel.docs, sel.soft, sel.scored, sel.required)

    whole = ranker().rank_exhaustive(None)
    assert len(whole) == len(sel.docs)
    for wanted in (1, 3, 10, 25):
        pruned = ranker().rank(wanted)
        # Floats compared exactly: the pruned run adds the same parts in the same order.
        assert _key(pruned) == _key(whole[:wanted]), (query, wanted)
    return len(whole)


@pytest.mark.parametrize(
    "setting",
    SETTINGS,
    ids=["shipped", "tiny", "no-seeds", "give-up", "give-up-python", "give-up-dicts"],
)
def test_pruned_pages_are_the_exhaustive_head(
    bundled: SearchIndex,
    setting: tuple[int, int, int, int, int, int, int, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed, batch, resolve, maxscore, give_up, dense, raise_every, numpy = setting
    # The fallback in lists indexed by post runs in NumPy arrays (NumPy imported: as in a process
    # that has searched before) or in Python lists (as in a process's first search).
    importlib.import_module("numpy")
    assert ranking._numpy() is not None
    if not numpy:
        monkeypatch.setattr(ranking, "_numpy", lambda: None)
    dense_np: list[int] = []
    dense_in_np = ranking.Ranker._dense_bounds_np

    def counted_np(self: Ranker, *args: object) -> object:
        dense_np.append(1)
        return dense_in_np(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ranking.Ranker, "_dense_bounds_np", counted_np)
    monkeypatch.setattr(ranking, "SEED_LIMIT", seed)
    monkeypatch.setattr(ranking, "TA_BATCH", batch)
    monkeypatch.setattr(ranking, "RESOLVE_BATCH", resolve)
    monkeypatch.setattr(ranking, "MAXSCORE_LIMIT", maxscore)
    monkeypatch.setattr(ranking, "GIVE_UP_MIN", give_up)
    monkeypatch.setattr(ranking, "DENSE_MIN", dense)
    monkeypatch.setattr(ranking, "DENSE_MIN_LISTS", dense)
    monkeypatch.setattr(ranking, "RAISE_EVERY", raise_every)
    # With the fallback by bounds on most scopes, the posts left out of a first page of the
    # page's size are computed two at a time, the page's last score raised after each pair:
    # counted as the pages made again (``in_order``) in one run of the fallback.
    if give_up == 0:
        monkeypatch.setattr(ranking, "_MORE_BATCH", 2)
        monkeypatch.setattr(ranking, "FIRST_TIMES", 1)
        monkeypatch.setattr(ranking, "FIRST_MORE", 0)
    orders: list[int] = []
    pages = [0]
    in_order = ranking.in_order
    top_by_bounds = ranking.Ranker._top_by_bounds

    def counted_in_order(*a: object, **k: object) -> object:
        pages[0] += 1
        return in_order(*a, **k)  # type: ignore[arg-type]

    def counted_fallback(self: Ranker, *a: object, **k: object) -> object:
        before = pages[0]
        got = top_by_bounds(self, *a, **k)  # type: ignore[arg-type]
        orders.append(pages[0] - before)
        return got

    monkeypatch.setattr(ranking, "in_order", counted_in_order)
    monkeypatch.setattr(ranking.Ranker, "_top_by_bounds", counted_fallback)
    dense_runs: list[bool] = []
    dense_bounds = ranking.Ranker._dense_bounds

    def counted_dense(self: Ranker, *args: object) -> object:
        dense_runs.append(args[-1] != -math.inf if len(args) > 2 else False)
        return dense_bounds(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ranking.Ranker, "_dense_bounds", counted_dense)
    runs: list[tuple[int, int]] = []
    gave_up: list[bool] = []
    run = ranking._TopK.run

    def counted(self: ranking._TopK) -> bool:
        done = run(self)
        runs.append((len(self.seen), len(self.scope)))
        gave_up.append(not done)
        return done

    monkeypatch.setattr(ranking._TopK, "run", counted)
    # Posts whose near pairs stopped below the page's last score so far (Ranker._resolve):
    # they must stay off the page, as the comparison below checks.
    stopped = [0]
    proximity = ranking.Ranker.proximity

    def counted_proximity(self: Ranker, *a: object, **k: object) -> object:
        out_of_page = k.get("out_of_page")
        before = len(out_of_page) if isinstance(out_of_page, set) else 0
        got = proximity(self, *a, **k)  # type: ignore[arg-type]
        stopped[0] += (len(out_of_page) if isinstance(out_of_page, set) else 0) - before
        return got

    monkeypatch.setattr(ranking.Ranker, "proximity", counted_proximity)
    queries = QUERIES + EXTRA + _random_queries(bundled, 60)
    matched = [_compare(bundled, q) for q in queries]
    assert stopped[0] > 0
    if seed < 10:
        # Small batches: the threshold stops many runs before they meet every post.
        assert sum(1 for met, scope in runs if met < scope) > len(runs) // 4
    if give_up == 0:
        assert sum(gave_up) > len(runs) // 4
        # Many batches of posts left out of the first page were computed.
        assert sum(1 for n in orders if n >= 3) >= 5
        if dense == 0:
            # The fallback in lists ran, with the threshold algorithm's floor and without.
            assert len(dense_runs) > len(runs) // 8
            assert any(dense_runs) and not all(dense_runs)
            assert len(dense_np) == (len(dense_runs) if numpy else 0)
        else:
            assert not dense_runs
    else:
        assert not any(gave_up)
    # The comparison means something: most queries match posts, some many.
    assert sum(1 for n in matched if n > 0) > len(queries) // 2
    assert max(matched) > 100


def test_totals_stay_exact(bundled: SearchIndex) -> None:
    for query in QUERIES[:12] + EXTRA:
        page = bundled.search(query, limit=10)
        whole = bundled.search(query, limit=None)
        assert page.total == whole.total == len(whole.hits)
        assert [(h.path, h.score) for h in page.hits] == [
            (h.path, h.score) for h in whole.hits[:10]
        ]


def test_numpy_is_imported_from_a_process_s_second_search_only(bundled_index: Path) -> None:
    # A one-search command (a cold ``newsearch search``) never pays NumPy's import; a process
    # that searches again uses it for the fallback's passes over large scopes.
    code = (
        "import sys, json, newsearch\n"
        "from newsearch import ranking\n"
        "ranking.GIVE_UP_MIN, ranking.DENSE_MIN, ranking.SEED_LIMIT = 0, 0, 3\n"
        "ranking.DENSE_MIN_LISTS = 0\n"
        "ranking.TA_BATCH, ranking.RESOLVE_BATCH, ranking.MAXSCORE_LIMIT = 2, 1, 10**9\n"
        f"ix = newsearch.open_index({str(bundled_index)!r})\n"
        "q = '疫情防控 经济社会 发展'\n"
        "first = ix.search(q, limit=5)\n"
        "before = 'numpy' in sys.modules\n"
        "second = ix.search(q, limit=5)\n"
        "page = lambda r: [(h.path, h.score) for h in r.hits]\n"
        "print(json.dumps([before, 'numpy' in sys.modules, first.total,\n"
        "    page(first) == page(second)]))\n"
    )
    before, after, total, same = python_json(code)
    assert (before, after) == (False, True)
    assert total > 5 and same


def test_a_cold_search_imports_neither_numpy_nor_urllib(bundled_index: Path) -> None:
    result, imported = cold_search_imports(
        bundled_index, "新冠肺炎疫情防控期间如何保障医护人员安全？"
    )
    assert isinstance(result["total"], int) and result["total"] > 0
    assert "newsearch.ranking" in imported and "whoosh.compat" in imported
    assert not {m for m in imported if m.split(".")[0] == "numpy"}
    assert "urllib.request" not in imported and "rjieba" not in imported


def test_a_clause_s_posts_in_an_array_are_its_set(bundled: SearchIndex) -> None:
    """The fallback in arrays reads a query of one clause's posts from the clause's parts (its
    literal posts, its words' posts, the posts checked): the same posts as the set, for every
    clause that keeps its parts (words, pieces, pinyin, function words)."""
    np = importlib.import_module("numpy")
    matcher = bundled._matcher
    size = bundled._snap.doc_count_all
    queries = [*QUERIES, *EXTRA, *_random_queries(bundled, 60), "jingji", "gongye jingji", "的经济"]
    kept = 0
    for query in queries:
        sel = matcher.select(_bounded(parse_query(query)), [], [])
        for e in [e for g in sel.soft + sel.required for e in g]:
            got = e.posts_array(np, size)
            if got is None:
                continue
            kept += 1
            assert got.tolist() == sorted(e.docs), query
            assert e.posts_array(np, size) is got  # made once
    assert kept >= 100


def test_pruned_pages_of_filtered_queries_are_the_exhaustive_head(bundled: SearchIndex) -> None:
    """With a filter, the matching posts are fewer than the clauses' own: each coordination
    level is made of the clauses' posts within them."""
    compared = 0
    for query in [
        "疫情防控 经济社会 发展",
        "习近平 经济",
        "会议 部署 工作",
        "经济 OR 疫情",
        "发展 -疫情",
    ]:
        for categories in (["xinwenlianbo"], ["emnews"]):
            compared += _compare(bundled, query, categories)
    assert compared > 100
