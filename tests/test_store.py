"""The narrow layer over Whoosh: segments newsearch writes are Whoosh segments Whoosh itself reads,
its bulk decoding agrees with Whoosh's matchers, and merging segments changes no result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import copy_posts
from whoosh import index as whoosh_index
from whoosh.query import Phrase, Term

from newsearch import build_index, open_index, store
from newsearch.schema import decode_positions

TERMS = ["经济", "习近平", "发展", "的", "新华社", "2017", "央视网", "召开", "一带一路", "xyz"]


@pytest.fixture(scope="module")
def two_segments(tmp_path_factory: pytest.TempPathFactory, xwlb_dir: Path) -> Path:
    """An index of 400 real posts written as several segments, with deleted documents."""
    import newsearch.indexer as indexer

    tmp = tmp_path_factory.mktemp("store")
    corpus = tmp / "corpus"
    copy_posts(xwlb_dir, corpus / "xwlb", first=400)
    folder = tmp / "index"
    old = indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES
    indexer.MIN_BATCH_BYTES = indexer.MAX_BATCH_BYTES = 200_000
    try:
        build_index(corpus, folder, jobs=1)
        for f in sorted((corpus / "xwlb").iterdir())[::7]:
            f.write_text(f.read_text(encoding="utf-8") + "\n补充一句。\n", encoding="utf-8")
        build_index(corpus, folder, jobs=1)
    finally:
        indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES = old
    return folder


def test_the_index_has_several_segments_and_deletions(two_segments: Path) -> None:
    snap = store.Snapshot(str(two_segments))
    try:
        assert len(snap.segments) >= 3
        assert any(v.deleted for v in snap.segments)
    finally:
        snap.close()


def test_bulk_postings_agree_with_whoosh_matchers(two_segments: Path) -> None:
    snap = store.Snapshot(str(two_segments))
    ix = whoosh_index.open_dir(str(two_segments))
    try:
        with ix.searcher() as searcher:
            reader = searcher.reader()
            checked = 0
            for field in ("text", "title", "text_sub", "text_join"):
                for term in TERMS:
                    positional = field in ("text", "title")
                    mine = snap.postings(field, term, values=positional)
                    if not reader.__contains__((field, term)):
                        assert list(mine.docs) == []
                        continue
                    m = reader.postings(field, term)
                    ids, weights, positions = [], [], []
                    while m.is_active():
                        ids.append(m.id())
                        weights.append(m.weight())
                        if positional:
                            positions.append(m.value_as("positions"))
                        m.next()
                    assert list(mine.docs) == ids, (field, term)
                    assert list(mine.weights) == pytest.approx(weights), (field, term)
                    if positional:
                        assert [decode_positions(v) for v in mine.values or []] == positions
                    checked += 1
            assert checked >= 12
    finally:
        snap.close()
        ix.close()


def test_whoosh_searches_the_segments_newsearch_wrote(two_segments: Path) -> None:
    from newsearch.analysis import Analyzer

    ix = whoosh_index.open_dir(str(two_segments))
    analyzer = Analyzer(ix.schema.settings().analysis)
    with ix.searcher() as searcher:
        doc = searcher.document(path=sorted(searcher.lexicon("path"))[0].decode())
        words = [t.text for t in analyzer.tokens(doc["text"], subwords=False)]
        pair = next(
            (a, b) for a, b in zip(words, words[1:], strict=False) if len(a) > 1 and len(b) > 1
        )
        term_hits = searcher.search(Term("text", pair[0]), limit=None)
        phrase_hits = searcher.search(Phrase("text", list(pair)), limit=None)
        assert doc["path"] in {hit["path"] for hit in phrase_hits}
        assert len(phrase_hits) <= len(term_hits)
        for hit in phrase_hits:
            assert pair[0] + pair[1] in analyzer.token_string(hit["text"])
    ix.close()


def test_merging_segments_changes_no_result(two_segments: Path, tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    shutil.copytree(two_segments, merged)
    report = build_index(two_segments.parent / "corpus", merged, optimize=True, jobs=1)
    assert report.added == report.updated == report.removed == 0
    queries = ["经济", "习近平 会见", '"一带一路"', "发展 -经济", "新冠", "业经", "2017年"]
    with open_index(two_segments) as a, open_index(merged) as b:
        assert b.info().segments == 1 < a.info().segments
        assert a.paths() == b.paths()
        for q in queries:
            ra, rb = a.search(q, limit=20, facets=True), b.search(q, limit=20, facets=True)
            assert ra.total == rb.total, q
            assert [(h.path, h.score, h.snippet) for h in ra] == [
                (h.path, h.score, h.snippet) for h in rb
            ], q
            assert ra.facets == rb.facets, q


def test_refresh_sees_a_folder_deleted_and_built_again(tmp_path: Path, finews_dir: Path) -> None:
    # Generation 0 twice: the commits differ by their index's id, not by their generation.
    corpus_a, corpus_b, index = tmp_path / "a", tmp_path / "b", tmp_path / "index"
    names = sorted(p.name for p in finews_dir.iterdir())
    copy_posts(finews_dir, corpus_a, first=10)
    copy_posts(finews_dir, corpus_b, first=25)
    for name in names[:10:2]:
        (corpus_b / name).unlink()
    build_index(corpus_a, index, jobs=1)
    with open_index(index) as ix:
        assert ix.refresh() is False
        first = ix.paths()
        shutil.rmtree(index)
        build_index(corpus_b, index, jobs=1)
        assert [p.name for p in index.glob("_MAIN_*.toc")] == ["_MAIN_0.toc"]
        assert ix.refresh() is True
        assert ix.paths() == sorted(p.name for p in corpus_b.iterdir()) != first
        assert ix.refresh() is False
        build_index(corpus_b, index, jobs=1, rebuild=True)  # the same posts, another index
        assert ix.refresh() is True
        (corpus_b / names[1]).unlink()
        build_index(corpus_b, index, jobs=1)  # a new commit of the same index
        assert ix.refresh() is True and names[1] not in ix.paths()


def test_postings_with_values_of_a_field_without_positions_leave_deleted_posts_out(
    two_segments: Path,
) -> None:
    snap = store.Snapshot(str(two_segments))
    try:
        checked = 0
        for field in ("text_sub", "text_join", "categories"):
            for term in [*TERMS, "xinwenlianbo"]:
                plain = snap.postings(field, term)
                with_values = snap.postings(field, term, values=True)
                assert list(with_values.docs) == list(plain.docs), (field, term)
                assert list(with_values.weights) == list(plain.weights), (field, term)
                checked += bool(plain.docs)
        assert checked >= 3
        # Every post is in this category, the deleted ones too: their postings were left out.
        assert len(snap.postings("categories", "xinwenlianbo", values=True).docs) == 400
    finally:
        snap.close()


def _merged_parts(
    folder: Path, one_pass: bool, tail: bool, monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """The parts of the segment a merge of every segment of ``folder`` writes, by name (the
    segment's id taken out), written in one pass or two, with or without a tail written the way
    a second process writes it."""
    from newsearch.store import merge, writer
    from newsearch.store.compound import directory_of

    real = writer.SegmentWriter.write_postings

    def chosen(
        self: writer.SegmentWriter, source: object, tail_: object = None, **_: object
    ) -> None:
        real(self, source, tail_, one_pass)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.SegmentWriter, "write_postings", chosen)
    toc = store.read_commit(str(folder))
    storage = store.storage_for(str(folder))
    segments = list(toc.segments)
    helper = None
    if tail:
        monkeypatch.setattr(merge, "MIN_SPLIT_POSTS", 1)

        def helper(field: str, split: bytes, path: str) -> object:
            done = merge.write_tail(
                storage, toc.schema, segments, toc.generation, field, split, path
            )
            return lambda: done

    seg = merge.merge_segments(storage, toc.schema, segments, toc.generation, "t", helper=helper)  # type: ignore[arg-type]
    monkeypatch.setattr(writer.SegmentWriter, "write_postings", real)
    data = (folder / seg.make_filename(".seg")).read_bytes()
    (folder / seg.make_filename(".seg")).unlink()
    return {
        name.replace(seg.segid, "ID"): data[start : start + length]
        for name, (start, length) in directory_of(memoryview(data)).items()
    }


@pytest.mark.parametrize("tail", [False, True])
def test_a_merge_written_in_one_pass_is_the_same_segment_byte_for_byte(
    two_segments: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bool
) -> None:
    folder = tmp_path / "index"
    shutil.copytree(two_segments, folder)
    one = _merged_parts(folder, True, tail, monkeypatch)
    two = _merged_parts(folder, False, tail, monkeypatch)
    assert sorted(one) == sorted(two) and any(name.endswith(".trm") for name in one)
    assert [name for name in one if one[name] != two[name]] == []
    # Nothing of the one-pass table is left beside the segment.
    assert not list(folder.glob("*.trmside"))
