"""Tests of snippets and highlights for literal matches that span punctuation or spaces: every
literal match is highlighted where it is, exactly, and the snippet is chosen around it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import analyzer, build, paths, write_post
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsearch import SearchIndex, open_index
from newsearch.analysis import BOUNDARY
from newsearch.highlight import HighlightQuery, literal_spans, make_snippet

QUOTES = set('"“”「」『』＂')


def is_separator(ch: str) -> bool:
    """A character literal matching skips (punctuation, spaces)."""
    return analyzer().token_string(ch) == ""


def check_literal_highlights(text: str, spans: tuple[tuple[int, int], ...], piece: str) -> None:
    """Each span is one whole occurrence of ``piece``, tight: no separator at either end."""
    a = analyzer()
    for s, e in spans:
        assert 0 <= s < e <= len(text), (text, spans)
        shown = text[s:e]
        assert a.token_string(shown) == piece, (text, shown, piece)
        assert not is_separator(shown[0]) and not is_separator(shown[-1]), (text, shown)


@pytest.fixture(scope="module")
def bundled(bundled_index: Path) -> Iterator[SearchIndex]:
    with open_index(bundled_index) as ix:
        yield ix


# --------------------------------------------------------------------------------------------------
# Where a piece occurs in a text


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("经济社会发展5gG3.5 ,、。.-_\x00\nab12")), max_size=40),
    st.data(),
)
@example("经济、社会", None)
@example("5 g 5g", None)
@example("3 .5 3.5", None)
def test_literal_spans_find_what_literal_matching_finds(text: str, data: st.DataObject) -> None:
    """A piece (the token string of a query) is found in a text exactly where the text's token
    string holds it, and every span found reads as the piece."""
    a = analyzer()
    if data is None:
        pieces = [a.token_string(text[i:j]) for i in range(len(text)) for j in range(i, len(text))]
    else:
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, len(text)))
        other = data.draw(st.text(alphabet=st.sampled_from(list("经济社会5g. 、")), max_size=5))
        pieces = [a.token_string(text[i:j]), a.token_string(other)]
    norm = a.normalize(text)
    for piece in pieces:
        if not piece:
            continue
        spans = literal_spans(norm, piece)
        assert bool(spans) == (piece in a.token_string(text)), (text, piece)
        for s, e in spans:
            assert a.token_string(text[s:e]) == piece, (text, piece, (s, e))


def test_a_piece_across_punctuation_is_found_where_it_is() -> None:
    a = analyzer()
    text = "经济社会发展。推动经济、社会和5G 网络"
    norm = a.normalize(text)
    assert [text[s:e] for s, e in literal_spans(norm, a.token_string("经济社会"))] == [
        "经济社会",
        "经济、社会",
    ]
    # Letters and digits are one token: "5G" does not match "5 G", and "5 G" needs the space.
    assert literal_spans(a.normalize("5 G"), a.token_string("5G")) == []
    assert BOUNDARY in a.token_string("5 G")
    assert [(0, 3)] == literal_spans(a.normalize("5 G"), a.token_string("5 G"))
    assert literal_spans(a.normalize("5G"), a.token_string("5 G")) == []


# --------------------------------------------------------------------------------------------------
# Snippets around a piece across punctuation


def test_a_snippet_holds_a_piece_that_runs_past_a_sentence_end() -> None:
    a = analyzer()
    # The sentence of the match fills the window; the next one does not fit beside it.
    before = "今天天气晴朗，人们在公园里散步聊天。" * 4
    mine = "孩子们在草地上放风筝，" * 11 + "会议强调要统筹疫情防控和经济。"
    after = "社会发展取得新成效，" + "老人们在树荫下下棋，" * 8 + "。"
    text = before + mine + after
    piece = a.token_string("经济。社会")
    snippet = make_snippet(text, a, HighlightQuery(frozenset(), (piece,)))
    assert [snippet.text[s:e] for s, e in snippet.highlights] == ["经济。社会"]
    check_literal_highlights(snippet.text, snippet.highlights, piece)
    assert len(snippet.text) <= 162


def test_a_snippet_holds_a_piece_across_a_comma_in_a_long_sentence() -> None:
    a = analyzer()
    # One long sentence: the window starts at a word of the query and is cut at the last comma
    # before 160 characters, which is the comma inside the phrase.
    text = (
        "，".join(["人们在公园里散步聊天"] * 20)
        + "，孩子们放风筝"
        + "草地上有很多人" * 20
        + "和经济，社会发展"
        + "草地上有很多人" * 20
        + "。"
    )
    piece = a.token_string("和经济，社会发展")
    snippet = make_snippet(text, a, HighlightQuery(frozenset({"放风筝"}), (piece,)))
    shown = [snippet.text[s:e] for s, e in snippet.highlights]
    assert shown == ["放风筝", "和经济，社会发展"]
    assert len(snippet.text) <= 162


def test_an_occurrence_as_typed_is_shown_after_many_across_punctuation() -> None:
    a = analyzer()
    # More occurrences across a comma than a window is chosen from, then one as typed.
    text = "他说的，是真的。" * 300 + "最后的是这样。" + "他说的，是真的。" * 5
    snippet = make_snippet(text, a, HighlightQuery(frozenset(), (a.token_string("的是"),)))
    assert "最后的是这样。" in snippet.text
    assert "的是" in [snippet.text[s:e] for s, e in snippet.highlights]


def test_literal_match_across_punctuation_on_the_bundled_corpus(bundled: SearchIndex) -> None:
    """The README's own example: 经济社会 finds 经济、社会, and shows it."""
    res = bundled.search("经济社会", limit=50)
    hit = next(h for h in res.hits if h.path == "xinwenlianbo/2022-05-20-xwlb-009.md")
    assert hit.match == "literal"
    assert "经济、社会" in [hit.snippet[s:e] for s, e in hit.highlights]
    check_literal_highlights(
        hit.snippet,
        tuple(h for h in hit.highlights if "经" in hit.snippet[h[0] : h[1]]),
        "经济社会",
    )
    # Every post that holds it literally in its text shows a literal occurrence in its snippet.
    for hit in bundled.search("经济社会", limit=None).hits:
        if "经济社会" in analyzer().token_string(bundled.get(hit.path).text):
            shown = [analyzer().token_string(hit.snippet[s:e]) for s, e in hit.highlights]
            assert "经济社会" in shown, hit


def random_phrases(posts: list[tuple[str, str]], count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` pieces of real posts (path, text) that hold punctuation or a space between two
    searchable characters: (the piece as cut, its post)."""
    rnd = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < count:
        path, text = rnd.choice(posts)
        n = rnd.randint(4, 16)
        i = rnd.randrange(0, max(1, len(text) - n))
        cut = text[i : i + n]
        keep = [k for k, ch in enumerate(cut) if not is_separator(ch)]
        if len(keep) < 3 or QUOTES.intersection(cut):
            continue
        core = cut[keep[0] : keep[-1] + 1]
        if not any(is_separator(ch) for ch in core):
            continue
        out.append((core, path))
    return out


def test_random_phrases_with_punctuation_are_highlighted_in_every_hit(
    bundled: SearchIndex,
) -> None:
    posts = [(p, bundled.get(p).text) for p in bundled.paths()]
    phrases = random_phrases(posts, 400, seed=14_2)
    a = analyzer()
    missed = []
    for core, path in phrases:
        piece = a.token_string(core)
        res = bundled.search(f'"{core}"', limit=None)
        assert path in paths(res), core
        for hit in res.hits:
            assert hit.match == "literal"
            # A phrase highlights nothing but its own occurrences, each one whole.
            check_literal_highlights(hit.snippet, hit.highlights, piece)
            check_literal_highlights(hit.title, hit.title_highlights, piece)
            if not hit.highlights and not hit.title_highlights:
                missed.append((core, hit.path))
    assert missed == []


def test_a_title_across_punctuation_is_highlighted(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_post(corpus, "2022-05-01-a.md", "稳经济、保就业", "今天召开会议。")
    build(corpus, tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        (hit,) = ix.search('"经济保就"').hits
    assert [hit.title[s:e] for s, e in hit.title_highlights] == ["经济、保就"]


# --------------------------------------------------------------------------------------------------
# Posts stored whole get the snippets they always got


def real_queries(texts: list[str], count: int, seed: int) -> list[str]:
    """``count`` queries of the kinds people type, made of pieces of real posts: words, pieces
    that cut words, phrases with punctuation, two keywords, OR, exclusions, title:, questions."""
    a = analyzer()
    rnd = random.Random(seed)
    out = [
        "工业经济", "业经", "经济社会", "工信部为什么召开电视电话会议？", '"稳住经济大盘"',
        "疫情 OR 防控", "title:工信部", "华为 芯片", "5G", "新冠肺炎疫情防控", "的",
    ]  # fmt: skip
    while len(out) < count:
        text = rnd.choice(texts)
        if len(text) < 40:
            continue
        i = rnd.randrange(0, len(text) - 20)
        cut = text[i : i + rnd.randint(2, 12)]
        if QUOTES.intersection(cut) or not a.token_string(cut):
            continue
        words = [t.text for t in a.tokens(text[i : i + 60], subwords=False)]
        kind = rnd.randrange(7)
        if kind == 0:
            out.append(cut)
        elif kind == 1:
            out.append(f'"{cut.strip()}"')
        elif kind == 2 and len(words) > 6:
            out.append(f"{words[1]} {words[5]}")
        elif kind == 3 and len(words) > 4:
            out.append(f"{words[1]} OR {words[3]}")
        elif kind == 4 and len(words) > 4:
            out.append(f"{words[0]} -{words[4]}")
        elif kind == 5:
            out.append(f"title:{words[0]}" if words else cut)
        elif kind == 6 and len(words) > 3:
            out.append(f"{words[0]}{words[2]}是什么？")
    return out


def assert_snippets_as_before(ix: SearchIndex, queries: list[str], limit: int) -> int:
    """Every hit's snippet and highlights, and its title's, are exactly those of the code before
    long posts were read in pieces (tests/snippets_before.py) over the post's whole text."""
    from snippets_before import find_spans as find_spans_before
    from snippets_before import make_snippet as make_snippet_before

    from newsearch.engine import _bounded
    from newsearch.query import parse_query

    a = analyzer()
    checked = 0
    for q in queries:
        hq = ix._highlight_query(_bounded(parse_query(q)))
        for hit in ix.search(q, limit=limit).hits:
            post = ix.get(hit.path)
            old = make_snippet_before(post.text or post.title, a, hq)
            assert (hit.snippet, hit.highlights) == (old.text, old.highlights), (q, hit.path)
            title = tuple(find_spans_before(post.title, a.normalize(post.title), a, hq))
            assert hit.title_highlights == title, (q, hit.path)
            checked += 1
    return checked


def test_snippets_of_the_bundled_corpus_are_as_before(bundled: SearchIndex) -> None:
    texts = [bundled.get(p).text for p in bundled.paths()]
    queries = real_queries(texts, 160, seed=12)
    assert assert_snippets_as_before(bundled, queries, limit=12) > 1200


def test_snippets_of_xinwenlianbo_posts_are_as_before(xwlb_dir: Path, tmp_path: Path) -> None:
    """新闻联播 posts of every year, the longest of the archive among them (up to 21K
    characters: every post of the archive is stored whole)."""
    from newsearch import read_post
    from newsearch.analysis import LONG_TEXT

    files = sorted(xwlb_dir.iterdir())
    longest = sorted(files, key=lambda p: p.stat().st_size)[-40:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in {*files[::90], *longest}:
        (corpus / f.name).write_bytes(f.read_bytes())
    build(corpus, tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        texts = [ix.get(p).text for p in ix.paths()]
        assert max(map(len, texts)) > 20_000
        assert all(ix._snap.long_text(d) is None for d in ix._snap.live_docs())
        assert max(len(read_post(corpus, p).text) for p in ix.paths()) < LONG_TEXT
        queries = real_queries(texts, 120, seed=1214)
        assert assert_snippets_as_before(ix, queries, limit=10) > 800
