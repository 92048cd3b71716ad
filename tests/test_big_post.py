"""One long post: analysed in pieces with the same terms as the whole text, positions exact and
ordinal across pieces, and the memory of its analysis bounded (real 新闻联播 text)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from helpers import analyzer, build

from newsearch import open_index, read_post
from newsearch.analysis import _CUT_RE, _UNIT_RE, PIECE_CHARS, Analyzer, TermCounts


@pytest.fixture(scope="module")
def real_text(xwlb_dir: Path) -> str:
    names = sorted(p.name for p in xwlb_dir.iterdir())[::24][:1500]
    return "\n".join(read_post(xwlb_dir, name).text for name in names)


def same(a: TermCounts, b: TermCounts) -> None:
    assert a.length == b.length
    assert a.words.keys() == b.words.keys()
    assert all(a.words[w] == b.words[w] for w in a.words)
    assert a.subs == b.subs
    assert a.joins == b.joins


@pytest.mark.parametrize("piece", [7, 500, 4096])
def test_pieces_give_the_terms_of_the_whole_text(real_text: str, piece: int) -> None:
    a = analyzer()
    text = real_text[:200_000]
    whole = a.terms(text, piece=len(text) + 1)
    same(a.terms(text, piece=piece), whole)
    # Without line breaks the cuts fall after spaces or punctuation; without those either, a
    # piece grows until it finds one.
    flat = text.replace("\n", "")
    same(a.terms(flat, piece=piece), a.terms(flat, piece=len(flat) + 1))
    bare = _CUT_RE.sub("", text[:50_000])
    same(a.terms(bare, piece=piece), a.terms(bare, piece=len(bare) + 1))


def test_pieces_agree_with_the_tokens(real_text: str) -> None:
    a = analyzer()
    text = real_text[:60_000]
    counts = a.terms(text, piece=1000)
    precise = [t for t in a.tokens(text) if not t.sub]
    assert counts.length == len(precise)
    positions: dict[str, list[int]] = {}
    for t in precise:
        positions.setdefault(t.text, []).append(t.pos)
    assert {w: p.tolist() for w, p in counts.words.items()} == positions


def test_no_token_runs_across_a_cut() -> None:
    a = analyzer()
    for ch in " \t\n\u3000。，、；：！？,;:!?\uff0c\uff01\uff1f\uff1b\uff1a":
        if not _CUT_RE.fullmatch(ch):
            continue
        norm = a.normalize(ch)
        assert _UNIT_RE.search(norm) is None and norm != ".", repr(ch)
        # Around digits too: "3。5" is two tokens, never "3.5".
        assert [t.text for t in a.tokens(f"3{ch}5")] == ["3", "5"], repr(ch)


def _peak(a: Analyzer, text: str, piece: int) -> tuple[TermCounts, int]:
    tracemalloc.start()
    try:
        counts = a.terms(text, piece=piece)
        return counts, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_memory_of_analysing_a_long_text_is_bounded(real_text: str) -> None:
    a = analyzer()
    text = real_text[:200_000]
    a.terms("预热")
    counts, peak = _peak(a, text, PIECE_CHARS)
    _, whole_peak = _peak(a, text, len(text) + 1)
    assert len(text) == 200_000 and counts.length > 80_000
    # The peer is the same text as one piece, as it was analysed before: lists of every word,
    # boundary and gram. One piece at a time and 4 bytes a position take a seventh of it here,
    # a twelfth for 500,000 characters (tests/bench/big_post.py prints the bytes a character).
    assert all(p.typecode == "I" for p in counts.words.values())
    assert peak * 4 < whole_peak, (peak / len(text), whole_peak / len(text))


def test_a_post_of_many_pieces_is_found_across_them(real_text: str, tmp_path: Path) -> None:
    lines = real_text.split("\n")
    body = "\n\n".join(lines[:2500])
    assert len(body) > 3 * PIECE_CHARS
    # A phrase across the line break nearest the end of the first piece.
    cut = body.rfind("\n", 0, PIECE_CHARS + 2000)
    before, after = body[:cut].rstrip()[-4:], body[cut:].lstrip()[:4]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "2022-05-01-long.md").write_text(
        f'---\ntitle: "合集"\ndate: 2022-05-01\n---\n{body}\n', encoding="utf-8"
    )
    (corpus / "2022-05-02-short.md").write_text(
        '---\ntitle: "短"\ndate: 2022-05-02\n---\n经济。\n', encoding="utf-8"
    )
    assert build(corpus, tmp_path / "index").added == 2
    last = lines[2499][-6:]
    with open_index(tmp_path / "index") as ix:
        for phrase in (before + after, last, lines[0][:6]):
            hits = ix.search(f'"{phrase}"').hits
            assert [h.path for h in hits] == ["2022-05-01-long.md"], phrase
            assert hits[0].match == "literal"


def test_a_long_html_body_gives_the_text_of_the_whole_tree(finews_dir: Path) -> None:
    from selectolax.lexbor import LexborHTMLParser

    from newsearch import corpus

    bodies = []
    for path in sorted(finews_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        bodies.append(text.split("\n---\n", 1)[-1])
    markup = "\n\n".join(bodies * 30)
    assert len(markup) > corpus._NORMALISE_PIECE and "<p>" in markup and "<!--" in markup
    prepared = corpus._BLOCK_TAG.sub("\n<", markup)
    tree = LexborHTMLParser(prepared)
    tree.strip_tags(corpus._DROP_TAGS, recursive=True)
    assert tree.body is not None
    assert corpus._html_to_text(markup) == corpus._normalise(tree.body.text())
