"""The merge policy: segments by tiers of size, the count logarithmic, small updates merging only
small segments, ``--optimize`` one segment; and merges that keep every post."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import build, copy_posts, write_post

from newsearch import check_index, indexer, open_index
from newsearch.indexer import MERGE_FACTOR, _merge_policy

ROOT = Path(__file__).resolve().parents[1]


class _Seg:
    """What the policy reads of a segment."""

    def __init__(self, posts: int, deleted: int = 0):
        self.posts, self.deleted = posts, deleted

    def doc_count(self) -> int:
        return self.posts - self.deleted

    def doc_count_all(self) -> int:
        return self.posts

    def deleted_count(self) -> int:
        return self.deleted

    def has_deletions(self) -> bool:
        return self.deleted > 0


def _apply(segments: list[_Seg], merges: list[list[_Seg]]) -> list[_Seg]:
    """The segments after the merges (each segment in at most one merge)."""
    seen: set[int] = set()
    out = list(segments)
    for group in merges:
        assert not seen & {id(s) for s in group}, "a segment merged twice"
        seen |= {id(s) for s in group}
        out = [s for s in out if s not in group]
        out.append(_Seg(sum(s.doc_count() for s in group)))
    return out


def test_the_segment_count_stays_logarithmic_and_small_updates_stay_small() -> None:
    segments = [_Seg(9000) for _ in range(16)]  # a fresh build of 16 batches
    segments = _apply(segments, _merge_policy(segments, False))
    assert len(segments) == 2 and sum(s.posts for s in segments) == 16 * 9000
    rewritten = 16 * 9000
    # Two thousand updates of 20 posts each: the count stays within MERGE_FACTOR - 1 per tier.
    for _ in range(2000):
        segments.append(_Seg(20))
        merges = _merge_policy(segments, False)
        rewritten += sum(s.doc_count() for m in merges for s in m)
        big = [s for m in merges for s in m if s.posts >= 9000 * 8]
        assert not big, "a small update rewrote the largest segments"
        segments = _apply(segments, merges)
        tiers = {indexer._tier(s.doc_count()) for s in segments}
        assert len(segments) <= (MERGE_FACTOR - 1) * len(tiers) + 1
    # Each post is rewritten about once per tier, not once per update.
    assert rewritten < 16 * 9000 + 2000 * 20 * 6


def test_a_segment_mostly_deleted_is_rewritten_and_optimize_merges_all() -> None:
    segments = [_Seg(9000), _Seg(9000, deleted=5000), _Seg(100)]
    assert _merge_policy(segments, False) == [[segments[1]]]
    assert _merge_policy(segments, True) == [segments]
    assert _merge_policy([_Seg(50)], True) == []
    assert _merge_policy([_Seg(50, deleted=1)], True) != []


def test_small_updates_of_a_real_index_leave_its_large_segment_alone(tmp_path: Path) -> None:
    corpus, index = tmp_path / "posts", tmp_path / "index"
    src = ROOT / "corpus" / "xinwenlianbo"
    copy_posts(src, corpus, first=200)
    # 200 posts: tier 2 (64 to 511 posts); one post: tier 0.
    build(corpus, index)
    large = {p.name for p in index.glob("*.seg")}
    assert len(large) == 1
    for i in range(MERGE_FACTOR + 2):
        write_post(corpus, f"2030-01-{i + 1:02d}-update.md", f"更新{i}", f"第{i}次更新的内容。")
        build(corpus, index)
        names = {p.name for p in index.glob("*.seg")}
        assert large <= names  # never rewritten
        assert len(names) <= MERGE_FACTOR
    # The MERGE_FACTOR one-post segments became one; two more came after.
    assert len({p.name for p in index.glob("*.seg")}) == 1 + 1 + 2
    build(corpus, index, optimize=True)
    assert len(list(index.glob("*.seg"))) == 1
    with open_index(index) as ix:
        assert ix.info().posts == 200 + MERGE_FACTOR + 2
        for i in range(MERGE_FACTOR + 2):
            assert ix.search(f'"第{i}次更新的内容"').total == 1


def test_a_build_of_many_small_batches_merges_them_in_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index = tmp_path / "posts", tmp_path / "index"
    copy_posts(ROOT / "corpus" / "xinwenlianbo", corpus, first=240)
    # Batches of a few posts: dozens of segments, several merges of eight at the end.
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 1)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 12_000)
    merged: list[int] = []
    run_merges = indexer._run_merges

    def counted(run: indexer._Run, merges: list[list[object]], jobs: int) -> None:
        merged.append(len(merges))
        run_merges(run, merges, jobs)

    monkeypatch.setattr(indexer, "_run_merges", counted)
    report = build(corpus, index, jobs=2)
    assert report.total == 240 and not report.problems
    assert merged and merged[0] >= 2
    segments = list(index.glob("*.seg"))
    with open_index(index) as ix:
        assert ix.info().posts == 240
        assert ix.info().segments == len(segments) < 2 * MERGE_FACTOR
        assert ix.search("新闻联播").total > 100
    assert build(corpus, index, jobs=2).total == 240  # nothing left behind that a run trips on


def test_a_single_large_merge_is_cut_in_two_for_two_cores_when_both_halves_move_up_a_tier() -> None:
    segments = [_Seg(9000) for _ in range(8)] + [_Seg(3000)]
    merges = _merge_policy(segments, False)
    assert merges == [segments[:8]]
    halves = indexer._split_for_cores(merges, 2)
    assert halves == [segments[:4], segments[4:8]]
    # Each half is a segment of the tier the whole merge would make: no post rewritten more.
    assert {indexer._tier(4 * 9000)} == {indexer._tier(8 * 9000)} != {indexer._tier(9000)}
    assert indexer._split_for_cores(merges, 1) == merges
    # Halves that would stay in the tier of their parts are not cut: they would merge again.
    small = [_Seg(5000) for _ in range(8)]
    assert indexer._split_for_cores(_merge_policy(small, False), 2) == [small]
    # Two merges already: nothing to cut.
    two = [_Seg(9000) for _ in range(16)]
    assert indexer._split_for_cores(_merge_policy(two, False), 2) == _merge_policy(two, False)


def _parts(index: Path) -> dict[str, bytes]:
    """Each part of the index's one segment file, by name without the segment's id."""
    from newsearch.store.compound import directory_of

    [seg] = index.glob("*.seg")
    data = seg.read_bytes()
    segid = seg.stem
    return {
        name.replace(segid, "SEG"): data[offset : offset + length]
        for name, (offset, length) in directory_of(data).items()
    }


def _index_to_optimize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, posts: int
) -> tuple[Path, Path]:
    """The first ``posts`` bundled 新闻联播 posts, indexed in small batches (several segments),
    and every merge of this test cut in two processes however small (the corpus, the index)."""
    from newsearch.store import merge

    corpus, index = tmp_path / "posts", tmp_path / "index"
    copy_posts(ROOT / "corpus" / "xinwenlianbo", corpus, first=posts)
    monkeypatch.setattr(indexer, "MIN_BATCH_BYTES", 1)
    monkeypatch.setattr(indexer, "MAX_BATCH_BYTES", 60_000)
    build(corpus, index, jobs=2)
    monkeypatch.setattr(merge, "MIN_SPLIT_POSTS", 0)  # the merges are small
    return corpus, index


def test_optimize_on_two_cores_writes_the_segment_one_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsearch.store import merge

    corpus, base = _index_to_optimize(tmp_path, monkeypatch, 120)
    for name in sorted(p.name for p in corpus.iterdir())[:5]:  # deleted documents too
        (corpus / name).unlink()
    build(corpus, base)
    with open_index(base) as ix:
        assert ix.info().segments >= 3
    splits: list[bytes | None] = []
    split_term = merge._split_term

    def recorded(views: list[object]) -> bytes | None:
        splits.append(split_term(views))  # type: ignore[arg-type]
        return splits[-1]

    monkeypatch.setattr(merge, "_split_term", recorded)
    alone, two = tmp_path / "alone", tmp_path / "two"
    shutil.copytree(base, alone)
    shutil.copytree(base, two)
    build(corpus, alone, optimize=True, jobs=1)
    assert not splits  # one process: no split
    build(corpus, two, optimize=True, jobs=2)
    assert len(splits) == 1 and splits[0]  # the other process wrote the last lists
    assert sorted(p.suffix for p in two.iterdir() if p.name.startswith("MAIN_")) == [".seg"]
    one, other = _parts(alone), _parts(two)
    assert one.keys() == other.keys() and len(one) > 10
    for name in one:
        assert one[name] == other[name], name
    assert check_index(two).sound
    with open_index(two) as ix:
        assert ix.info().segments == 1 and ix.info().posts == 115
        assert ix.search("新闻联播").total == 115


def test_a_failure_in_the_second_process_of_optimize_keeps_the_last_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsearch.errors import IndexWriteError
    from newsearch.store import merge

    corpus, index = _index_to_optimize(tmp_path, monkeypatch, 60)
    before = sorted(p.name for p in index.iterdir())
    write_tail = merge.write_tail

    def full_disk(*args: object) -> merge.Tail:
        write_tail(*args)  # type: ignore[arg-type]
        raise IndexWriteError("cannot write the index: No space left on device")

    monkeypatch.setattr(merge, "write_tail", full_disk)  # runs in the worker (forked)
    with pytest.raises(IndexWriteError, match="No space left.*keeps its last commit"):
        build(corpus, index, optimize=True, jobs=2)
    assert sorted(p.name for p in index.iterdir()) == before  # no tail file left
    with open_index(index) as ix:
        assert ix.info().posts == 60 and ix.info().segments > 1
    monkeypatch.setattr(merge, "write_tail", write_tail)
    assert build(corpus, index, optimize=True, jobs=2).total == 60
    with open_index(index) as ix:
        assert ix.info().segments == 1
