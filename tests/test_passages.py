"""Snippets of long posts, read from word positions and one piece of the text: a generated post of
real 新闻联播 text (about 3 MB) with the query's words at known places. The snippet holds them,
its highlights are exact, literal pieces across words and across punctuation are highlighted
where they are; the post is stored in pieces, checked by ``newsearch check``, carried by merges,
and a damaged piece is an IndexDamagedError, never another text."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import analyzer, build, write_post
from hypothesis import given, settings
from hypothesis import strategies as st
from snippets_before import find_spans as find_spans_before
from snippets_before import make_snippet as make_snippet_before
from test_highlight import check_literal_highlights, is_separator

from newsearch import SearchIndex, check_index, open_index, read_post
from newsearch.analysis import LONG_TEXT, may_hold, pair_filter, pair_probe
from newsearch.engine import _bounded
from newsearch.errors import IndexDamagedError
from newsearch.query import parse_query

#: Words that the 新闻联播 text does not hold, each one word for jieba (the fixture keeps those
#: that are so).
RARE = (
    "珊瑚礁 萤火虫 石墨烯 恐龙蛋 琥珀 陨石 仙人掌 蝴蝶兰 猕猴桃 潜水艇 火山岩 孔雀 松鼠 青蛙 "
    "蜻蜓 蘑菇 葡萄酒 巧克力 钢琴家 小提琴 芭蕾舞 长颈鹿 向日葵 橄榄油 蒲公英 啄木鸟 "
    "水獭 骆驼 企鹅 海螺"
).split()


@dataclass
class LongPost:
    index: Path
    corpus: Path
    path: str
    text: str
    #: The rare words, by role.
    a: str
    b: str
    c: str
    d: str
    e: str
    f: str
    g: str


def real_text(xwlb_dir: Path, count: int, start: int = 0) -> str:
    names = sorted(os.listdir(xwlb_dir))[start::7][:count]
    return "\n".join(read_post(xwlb_dir, n).text for n in names)


@pytest.fixture(scope="module")
def long_post(xwlb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LongPost:
    """One post of about a million characters (3 MB) and 20 ordinary posts. Sentences with
    rare words stand at known places: A alone at 10%, B alone at 30%, A and B together at 50%,
    E F G in a row at 70%, C、D at 90% (CD never as typed)."""
    a = analyzer()
    base = real_text(xwlb_dir, 2100)
    flat = a.token_string(base)
    rare = [w for w in RARE if w not in flat and a.query_words(w) == [w]]
    assert len(rare) >= 7, rare
    A, B, C, D, E, F, G = rare[:7]
    lines = base.split("\n")
    n = len(lines)
    inserts = {
        n // 10: f"专家介绍，{A}的研究有了新进展。",
        3 * n // 10: f"据了解，{B}的数量逐年增加。",
        n // 2: f"会议指出，{A}和{B}的保护工作要常抓不懈。",
        7 * n // 10: f"今年要大力提高{E}{F}{G}的种植水平。",
        9 * n // 10: f"展览介绍了{C}、{D}等多种展品。",
    }
    for at in sorted(inserts, reverse=True):
        lines.insert(at, inserts[at])
    root = tmp_path_factory.mktemp("long")
    corpus = root / "corpus"
    write_post(corpus, "2022-05-01-long.md", f"{A}合集", "\n".join(lines))
    for name in sorted(os.listdir(xwlb_dir))[1::400][:20]:
        shutil.copyfile(xwlb_dir / name, corpus / name)
    text = read_post(corpus, "2022-05-01-long.md").text
    assert len(text) > 900_000 and len(text.encode()) > 2_500_000
    words = [t.text for t in a.tokens(inserts[7 * n // 10], subwords=False)]
    assert [E, F, G] == words[words.index(E) : words.index(E) + 3], words
    assert a.token_string(text).count(E[-1] + F[0]) == 1
    build(corpus, root / "index")
    return LongPost(root / "index", corpus, "2022-05-01-long.md", text, A, B, C, D, E, F, G)


@pytest.fixture(scope="module")
def ix(long_post: LongPost) -> Iterator[SearchIndex]:
    with open_index(long_post.index) as index:
        yield index


def long_hit(ix: SearchIndex, query: str, path: str = "2022-05-01-long.md"):  # type: ignore[no-untyped-def]
    res = ix.search(query, limit=None)
    return next(h for h in res.hits if h.path == path)


def shown(hit) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.snippet[s:e] for s, e in hit.highlights]


def highlight_query(ix: SearchIndex, query: str):  # type: ignore[no-untyped-def]
    return ix._highlight_query(_bounded(parse_query(query)))


ALPHABET = list("经济社会发展工业5gG3.5 ,、。\n-_ab12😀經濟")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=80), st.data())
def test_what_a_text_holds_passes_its_pair_filter(text: str, data: st.DataObject) -> None:
    """The filter never turns a piece of text away from a text that holds it (a Bloom filter
    may let others through), and a word's start is where the tokens say."""
    a = analyzer()
    flat = a.token_string(text)
    f = pair_filter(flat)
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    piece = a.token_string(text[i:j])
    assert piece in flat
    assert may_hold(f, pair_probe(piece))
    starts = a.word_starts(a.normalize(text))
    assert list(starts) == [t.start for t in a.tokens(text, subwords=False)]


def test_a_filter_turns_away_what_a_text_does_not_hold() -> None:
    a = analyzer()
    f = pair_filter(a.token_string("推动经济社会高质量发展。"))
    assert may_hold(f, pair_probe(a.token_string("经济、社会")))
    assert not may_hold(f, pair_probe(a.token_string("量子引力")))
    assert not may_hold(f, pair_probe(a.token_string("社会经济")))


def test_texts_below_the_limit_are_stored_whole(tmp_path: Path) -> None:
    line = "今天召开会议，研究部署经济社会发展工作。\n"
    body = (line * (LONG_TEXT // len(line) + 2))[: LONG_TEXT + 10]
    corpus = tmp_path / "corpus"
    write_post(corpus, "2022-05-01-short.md", "短", body[: LONG_TEXT - 200])
    write_post(corpus, "2022-05-01-long.md", "长", body)
    build(corpus, tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        sizes = {}
        for d in ix._snap.live_docs():
            text = ix._snap.long_text(d)
            path = ix._snap.stored(d, text=False)["path"]
            sizes[path] = None if text is None else text.chars
            assert len(ix.get(path).text) == len(read_post(corpus, path).text)
        assert sizes["2022-05-01-short.md"] is None
        assert sizes["2022-05-01-long.md"] == len(read_post(corpus, "2022-05-01-long.md").text)
        hit = long_hit(ix, '"经济社会"', "2022-05-01-long.md")
        assert set(shown(hit)) == {"经济社会"} and hit.snippet.startswith("今天召开会议")


def test_a_long_post_is_stored_in_pieces_and_read_whole(ix: SearchIndex, long_post: LongPost):
    (doc,) = ix._snap.postings("path", long_post.path).docs
    text = ix._snap.long_text(doc)
    assert text is not None and text.chars == len(long_post.text) >= LONG_TEXT
    assert text.count > 200
    # The pieces are the text, cut where the analysis cut it.
    assert "".join(text.piece(i) for i in range(text.count)) == long_post.text
    assert ix._snap.stored(doc, text=False)["text"] == ""
    assert ix.get(long_post.path).text == long_post.text
    others = [d for d in ix._snap.live_docs() if d != doc]
    assert len(others) == 20 and all(ix._snap.long_text(d) is None for d in others)
    report = check_index(long_post.index)
    assert report.sound, report.problems


def test_the_snippet_holds_the_words_where_they_stand_together(
    ix: SearchIndex, long_post: LongPost
) -> None:
    A, B = long_post.a, long_post.b
    hit = long_hit(ix, f"{A} {B}")
    assert f"会议指出，{A}和{B}的保护工作要常抓不懈。" in hit.snippet
    assert sorted(shown(hit)) == sorted([A, B])
    # Where the best window is plain, it is the one the whole text gave before, to the
    # character; the title's highlights are the same as ever.
    hq = highlight_query(ix, f"{A} {B}")
    old = make_snippet_before(long_post.text, analyzer(), hq)
    assert (hit.snippet, hit.highlights) == (old.text, old.highlights)
    title = ix.get(long_post.path).title
    assert hit.title_highlights == tuple(
        find_spans_before(title, analyzer().normalize(title), analyzer(), hq)
    )
    assert [hit.title[s:e] for s, e in hit.title_highlights] == [A]


def test_a_word_alone_is_shown_where_it_is(ix: SearchIndex, long_post: LongPost) -> None:
    hit = long_hit(ix, long_post.b)
    assert f"据了解，{long_post.b}的数量逐年增加。" in hit.snippet
    assert shown(hit) == [long_post.b]


def test_a_piece_across_punctuation_is_highlighted_deep_in_the_post(
    ix: SearchIndex, long_post: LongPost
) -> None:
    C, D = long_post.c, long_post.d
    assert C + D not in long_post.text and f"{C}、{D}" in long_post.text
    for query in (C + D, f'"{C}{D}"'):
        hit = long_hit(ix, query)
        assert hit.match == "literal"
        assert f"{C}、{D}" in shown(hit), (query, hit.snippet)
        assert f"展览介绍了{C}、{D}等多种展品。" in hit.snippet


def test_pieces_across_words_are_highlighted_where_they_are(
    ix: SearchIndex, long_post: LongPost
) -> None:
    E, F, G = long_post.e, long_post.f, long_post.g
    a = analyzer()
    # The end of one word, a word, the start of the next (振工业经 in 提振|工业|经济); the end
    # of a word and the start of the next, two characters (业经 in 工业|经济).
    for piece in (E[-1] + F + G[0], E[-1] + F[0]):
        hit = long_hit(ix, f'"{piece}"')
        assert hit.match == "literal"
        assert shown(hit) == [piece], (piece, hit.snippet)
        assert f"{E}{F}{G}" in hit.snippet
        check_literal_highlights(hit.snippet, hit.highlights, a.token_string(piece))


def test_random_phrases_of_the_long_post_are_highlighted(
    ix: SearchIndex, long_post: LongPost
) -> None:
    """Phrases with punctuation cut from anywhere in the post, as a user might paste them: a
    highlight is always one whole occurrence of the phrase, and the snippet shows one."""
    a = analyzer()
    rnd = random.Random(2026_12)
    text = long_post.text
    missed = []
    tried = 0
    while tried < 40:
        i = rnd.randrange(0, len(text) - 20)
        cut = text[i : i + rnd.randint(5, 14)]
        keep = [k for k, ch in enumerate(cut) if not is_separator(ch)]
        if len(keep) < 4 or set('"“”「」『』＂\n').intersection(cut):
            continue
        core = cut[keep[0] : keep[-1] + 1]
        if not any(is_separator(ch) for ch in core):
            continue
        tried += 1
        piece = a.token_string(core)
        hit = long_hit(ix, f'"{core}"')
        check_literal_highlights(hit.snippet, hit.highlights, piece)
        if not hit.highlights:
            missed.append(core)
    # The text checks of a snippet are bounded (passages._TEXT_CHECKS): a phrase whose every
    # pair of characters is common may be looked for in too many pieces of text.
    assert len(missed) <= 1, missed


def test_a_damaged_piece_is_found_and_never_read_as_text(
    long_post: LongPost, tmp_path: Path
) -> None:
    from whoosh.filedb.compound import CompoundStorage
    from whoosh.filedb.structfile import BufferFile

    from newsearch.store.checksums import TAIL

    index = tmp_path / "index"
    shutil.copytree(long_post.index, index)
    (seg,) = index.glob("*.seg")
    data = seg.read_bytes()
    length = TAIL.unpack_from(data, len(data) - TAIL.size)[0]
    directory = CompoundStorage(BufferFile(memoryview(data)[:length]), use_mmap=False)
    (name,) = [n for n in directory.list() if n.endswith(".texts")]
    start, size = directory.range(name)
    rnd = random.Random(12)
    queries = [f"{long_post.a} {long_post.b}", long_post.c + long_post.d]
    with open_index(long_post.index) as good:
        reference = [(h.path, h.snippet) for q in queries for h in good.search(q).hits]
    for _ in range(12):
        pos = start + rnd.randrange(size)
        with open(seg, "r+b") as fh:
            original = os.pread(fh.fileno(), 1, pos)
            os.pwrite(fh.fileno(), bytes([original[0] ^ 0x5A]), pos)
        try:
            report = check_index(index)
            assert not report.sound
            # (A checksum covers 16 KB: the damaged chunk may hold the start of the next part.)
            assert (seg.name, "long texts") in {(p.file, p.part) for p in report.problems}
            assert {p.file for p in report.problems} == {seg.name}
            with open_index(index) as ix:
                try:
                    got = [(h.path, h.snippet) for q in queries for h in ix.search(q).hits]
                    assert got == reference
                    # Reading the whole text and the filters reads every byte of the part.
                    ix.get(long_post.path)
                    (doc,) = ix._snap.postings("path", long_post.path).docs
                    text = ix._snap.long_text(doc)
                    assert text is not None
                    text.filters()
                except IndexDamagedError as exc:
                    assert "newsearch check" in str(exc) and "--rebuild" in str(exc)
                else:
                    raise AssertionError(f"byte {pos}: damage that no read met")
        finally:
            with open(seg, "r+b") as fh:
                os.pwrite(fh.fileno(), original, pos)
    assert check_index(index).sound


def test_merges_carry_long_texts(xwlb_dir: Path, tmp_path: Path) -> None:
    """Two builds (two segments, a long post in each, one of them then changed: deleted from
    its segment), then one merge: the texts, their snippets and the check are as before."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    first, second = real_text(xwlb_dir, 100, 1), real_text(xwlb_dir, 100, 3)
    assert len(first) > LONG_TEXT and len(second) > LONG_TEXT
    write_post(corpus, "2022-05-01-one.md", "一", first)
    write_post(corpus, "2022-05-01-gone.md", "旧", second + "\n旧的。")
    build(corpus, index)
    write_post(corpus, "2022-05-02-two.md", "二", second)
    write_post(corpus, "2022-05-01-gone.md", "旧", "短了。")
    build(corpus, index)
    queries = ["经济社会", "疫情 防控", "习近平"]

    def state() -> list[object]:
        with open_index(index) as ix:
            out: list[object] = [ix.info().segments]
            out += [ix.get(p).text for p in ix.paths()]
            out += [(h.path, h.snippet, h.highlights) for q in queries for h in ix.search(q)]
            longs = [d for d in ix._snap.live_docs() if ix._snap.long_text(d) is not None]
            out.append(len(longs))
        return out

    before = state()
    assert before[0] == 2 and before[-1] == 2
    assert check_index(index).sound
    report = build(corpus, index, optimize=True)
    assert report.unchanged == 3
    after = state()
    assert after[0] == 1
    assert after[1:] == before[1:]
    checked = check_index(index)
    assert checked.sound and checked.deleted == 0, checked.problems
