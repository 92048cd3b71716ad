"""The segmenter of searches (``analysis.QuerySegmenter``): rjieba given only the dictionary words
it meets, from jieba's dictionary as a table on disk (``wordtable``). It must cut exactly as rjieba
with the whole dictionary, hand over to it past its budget, and fall back to it when its table can
be neither read nor made; a cold search must not build the whole dictionary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsearch.analysis import (
    Analyzer,
    QuerySegmenter,
    RJiebaSegmenter,
    _jieba_dict_path,
    current_settings,
    make_segmenter,
)
from newsearch.corpus import read_post
from newsearch.wordtable import WordTable, table_for

pytest.importorskip("rjieba")

_HAN = re.compile("[\u4e00-\u9fd5]+")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder of this module's own, with the table made once."""
    folder = tmp_path_factory.mktemp("cache")
    table_for(_jieba_dict_path(), str(folder / "newsearch")).close()
    return folder


@pytest.fixture
def in_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def real_runs(xwlb_dir: Path, finews_dir: Path) -> list[str]:
    names = sorted(p.name for p in xwlb_dir.iterdir())[::60]
    posts = [read_post(xwlb_dir, n) for n in names]
    posts += [read_post(finews_dir, p.name) for p in sorted(finews_dir.iterdir()) if p.is_file()]
    return [run for p in posts for text in (p.title, p.text) for run in _HAN.findall(text)]


def test_cuts_as_the_whole_dictionary_on_real_texts(
    in_cache: Path, xwlb_dir: Path, finews_dir: Path
) -> None:
    runs = real_runs(xwlb_dir, finews_dir)
    assert len(runs) >= 20_000
    lazy = QuerySegmenter()
    lazy._left = 1 << 40  # one segmenter learning every text: the total must stay the same
    whole = RJiebaSegmenter()
    for k in range(0, len(runs), 5):
        batch = runs[k : k + 5]
        assert lazy.cut_many(batch) == whole.cut_many(batch), batch
    assert lazy._whole is None  # every text was cut from the learnt words
    assert len(lazy._known) >= 10_000
    for run in runs[::40]:
        assert lazy.cut(run) == whole.cut(run)
        for size in (1, 2, 3, 4):
            for i in range(0, max(1, len(run) - size + 1), 2):
                gram = run[i : i + size]
                assert lazy.is_word(gram) == whole.is_word(gram), gram


def test_the_kept_total_is_what_makes_the_cuts_the_same(
    in_cache: Path, xwlb_dir: Path, finews_dir: Path
) -> None:
    # Without the word that keeps the rest of the total, jieba-rs would score ways by the total
    # of the words learnt so far: other cuts. (Shows that the test above can fail.)
    class WithoutTheRest(QuerySegmenter):
        def _learn(self, text: str) -> bool:
            self._table.total = self._sum + 1
            return super()._learn(text)

    runs = real_runs(xwlb_dir, finews_dir)[:5000]
    lazy = WithoutTheRest()
    whole = RJiebaSegmenter()
    differ = sum(1 for r in runs if lazy.cut(r) != whole.cut(r))
    assert differ >= 50


def test_hands_over_to_the_whole_dictionary_past_its_budget(in_cache: Path) -> None:
    lazy = QuerySegmenter()
    whole = RJiebaSegmenter()
    text = "工信部召开提振工业经济电视电话会议" * 1000
    first = "新冠肺炎疫情防控期间如何保障医护人员安全"
    assert lazy.cut(first) == whole.cut(first)
    assert lazy._whole is None
    assert lazy.cut_many([text, first]) == whole.cut_many([text, first])
    assert lazy._whole is not None
    assert lazy.cut("国务院常务会议") == whole.cut("国务院常务会议")


def test_falls_back_when_the_table_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with pytest.raises(OSError):
        QuerySegmenter()
    make_segmenter.cache_clear()
    try:
        analyzer = Analyzer(current_settings(), queries=True)
        assert isinstance(analyzer.segmenter, RJiebaSegmenter)
        assert analyzer.query_words("提振工业经济") == ["提振", "工业", "经济"]
    finally:
        make_segmenter.cache_clear()


def test_a_damaged_table_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "newsearch"
    table = table_for(_jieba_dict_path(), str(folder))
    words, total = table.count, table.total
    assert table.freq("工业") and table.freq("工业") == table.freq("工业")
    assert table.freq("中华人民共和") == 0  # a prefix of 中华人民共和国, no word itself
    assert table.freq("工业经济学院系") is None
    table.close()
    (path,) = folder.iterdir()
    path.write_bytes(b"damaged")
    with pytest.raises(ValueError):
        WordTable(str(path))
    again = table_for(_jieba_dict_path(), str(folder))
    assert (again.count, again.total) == (words, total)
    again.close()


def test_a_cold_search_does_not_build_the_whole_dictionary(
    bundled_index: Path, in_cache: Path
) -> None:
    code = (
        "import sys, newsearch\n"
        f"ix = newsearch.open_index({str(bundled_index)!r})\n"
        "res = ix.search('工信部为什么召开电视电话会议？')\n"
        "print(res.total, 'rjieba' in sys.modules, 'rjieba.rjieba' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(in_cache)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert int(out[0]) > 0
    assert out[1:] == ["False", "True"]


def test_short_words_from_the_cache_are_the_dictionary_s(tmp_path: Path) -> None:
    from newsearch.wordtable import short_words_for

    with open(_jieba_dict_path(), encoding="utf-8") as fh:
        want = frozenset(w for w in (ln.split(" ", 1)[0] for ln in fh) if 2 <= len(w) <= 3)
    folder = str(tmp_path / "newsearch")
    made = short_words_for(_jieba_dict_path(), folder)  # made and kept
    (kept,) = (tmp_path / "newsearch").iterdir()
    read = short_words_for(_jieba_dict_path(), folder)  # read from the cache
    assert made == read == want
    assert len(want) > 200_000
    kept.write_bytes(kept.read_bytes()[:1000])  # cut short: computed again, not trusted
    assert short_words_for(_jieba_dict_path(), folder) == want
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert short_words_for(_jieba_dict_path(), str(blocked / "newsearch")) == want


def test_old_tables_of_another_dictionary_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "newsearch"
    folder.mkdir()
    stale = [folder / "jieba-words-1-0000abcd.bin", folder / "jieba-short-1-0000abcd.bin"]
    month_ago = time.time() - 31 * 24 * 3600
    for f in stale:
        f.write_bytes(b"made for another dict.txt a month ago")
        os.utime(f, (month_ago, month_ago))
    recent = folder / "jieba-words-2-0000abce.bin"  # another installation's, in use
    recent.write_bytes(b"made for another dict.txt today")
    unrelated = folder / "jieba-notes.txt"
    unrelated.write_text("kept")
    table_for(_jieba_dict_path(), str(folder)).close()
    from newsearch.wordtable import short_words_for

    short_words_for(_jieba_dict_path(), str(folder))
    names = sorted(p.name for p in folder.iterdir())
    assert not any(f.exists() for f in stale)
    assert unrelated.exists() and recent.exists() and len(names) == 4
    assert {n.split("-")[1] for n in names if n.endswith(".bin")} == {"words", "short"}
