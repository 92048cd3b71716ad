"""User words without a rebuild: another user dictionary re-analyses only the posts that hold
its added, removed or changed words, and leaves an index equal to a full rebuild with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import build, copy_posts

from newsearch import open_index
from newsearch.lexicon import Lexicon
from newsearch.schema import JOIN_FIELDS, SUB_FIELDS, WORD_FIELDS
from newsearch.store import Snapshot

FIELDS = (*WORD_FIELDS, *SUB_FIELDS.values(), *JOIN_FIELDS.values(), "categories", "tags")


def content(index: Path, lexicon: bool = True) -> dict[str, Any]:
    """Everything a search reads of an index, by post path rather than by document number
    (which depends on the segments): every term's weights (and positions, where kept), the
    field lengths, the stored fields, and the words, post counts and pinyin readings of its
    lexicon (whose counts include replaced posts until a merge: compared after one)."""
    snap = Snapshot(str(index))
    try:
        path_of = {d: p for d, p, _ in snap.states()}
        postings: dict[str, dict[str, dict[str, tuple[float, bytes]]]] = {}
        for field in FIELDS:
            by_term: dict[str, dict[str, tuple[float, bytes]]] = {}
            for term in snap.terms(field):
                got = snap.postings(field, term, values=field in WORD_FIELDS)
                values = got.values or [b""] * len(got.docs)
                live = {
                    path_of[d]: (w, v)
                    for d, w, v in zip(got.docs, got.weights, values, strict=True)
                    if d in path_of
                }
                if live:
                    by_term[term] = live
            postings[field] = by_term
        lengths = {
            f: {path_of[d]: n for d, n in enumerate(snap.field_lengths(f)) if d in path_of}
            for f in WORD_FIELDS
        }
        stored = {p: snap.stored(d) for d, p in path_of.items()}
        out: dict[str, Any] = {"postings": postings, "lengths": lengths, "stored": stored}
        if lexicon:
            lex = Lexicon.of(snap)
            out["lexicon"] = (dict(lex.counts()), dict(lex.readings()), dict(lex.chars()))
        return out
    finally:
        snap.close()


def test_only_the_posts_with_changed_words_are_redone_and_the_index_equals_a_rebuild(
    tmp_path: Path, finews_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    copy_posts(finews_dir, corpus)
    index = tmp_path / "index"
    build(corpus, index)
    before = content(index, lexicon=False)

    def holding(word: str) -> set[str]:
        return {p for p, s in before["stored"].items() if word in s["title"] + s["text"]}

    # Words the dictionary does not know as one word: a few posts hold each.
    added = ["电视电话会议", "稳住经济大盘", "中小微企业", "新能源汽车"]
    want = set().union(*(holding(w) for w in added))
    assert 4 < len(want) < 30, len(want)
    ud = tmp_path / "words.txt"
    ud.write_text("".join(f"{w} 100000 n\n" for w in added), encoding="utf-8")
    report = build(corpus, index, user_dict=ud)
    assert not report.rebuilt and report.added == report.updated == 0
    assert set(report.user_dict_words or ()) == set(added)
    assert report.reanalysed == len(want)
    fresh = tmp_path / "fresh"
    build(corpus, fresh, user_dict=ud)
    after = content(index, lexicon=False)
    assert after == content(fresh, lexicon=False)
    # The words are whole terms now, in the posts that hold them: something did change.
    assert all(after["postings"]["text"].get(w) or after["postings"]["title"].get(w) for w in added)
    assert after != before
    changed = {
        p
        for f in FIELDS
        for t in set(before["postings"][f]) | set(after["postings"][f])
        for p in set(before["postings"][f].get(t, {})) ^ set(after["postings"][f].get(t, {}))
    }
    assert changed and changed <= want

    # Another dictionary: one word removed, one with another frequency (0: never one word),
    # one added; again only the posts that hold them, again the same as a rebuild.
    ud.write_text(
        "电视电话会议 100000 n\n稳住经济大盘 0\n产业链供应链 100000 n\n", encoding="utf-8"
    )
    again = build(corpus, index, user_dict=ud)
    redo = {"中小微企业", "新能源汽车", "稳住经济大盘", "产业链供应链"}
    assert set(again.user_dict_words or ()) == redo
    assert again.reanalysed == len(set().union(*(holding(w) for w in redo)))
    build(corpus, fresh, user_dict=ud, rebuild=True)
    assert content(index, lexicon=False) == content(fresh, lexicon=False)
    # Merged into one segment, as the rebuild is: the lexicons are equal too.
    build(corpus, index, optimize=True)
    assert content(index) == content(fresh)
    with open_index(index) as ix:
        assert ix.info().analysis["user_dict_words"] == 3


@pytest.mark.integration
def test_the_command_line_says_how_many_posts_it_redid(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    index = tmp_path / "index"
    run = [sys.executable, "-m", "newsearch", "index", str(corpus), "--index", str(index)]
    assert subprocess.run(run, capture_output=True, text=True, timeout=300).returncode == 0
    with open_index(index) as ix:
        held = ix.search('"电视电话会议"', limit=None).total
    assert held > 0
    words = tmp_path / "words.txt"
    words.write_text("电视电话会议 100000 n\n", encoding="utf-8")
    done = subprocess.run(
        [*run, "--user-dict", str(words)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "user dictionary: 1 word added, removed or changed (电视电话会议)" in done.stdout
    assert f"re-analysed {held} post" in done.stdout
    info = subprocess.run(
        [sys.executable, "-m", "newsearch", "info", "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(info.stdout)["analysis"]["user_dict_words"] == 1
