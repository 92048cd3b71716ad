"""A damaged index is always detected: ``newsearch check`` finds any flipped byte in any kind of
index file, and a search that reads damaged bytes raises IndexDamagedError, never a traceback and
never other hits than the undamaged index gives.

The index is real (posts of the shared finews corpus, built by the indexer); bytes are flipped in
place, seeded, in every part of a segment file (term table, postings, stored posts, each column,
vocabularies, segment statistics, compound directory, checksum footer), in the table of contents
and in the marker.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import build
from reliability_helpers import listing, no_traceback, one_line_error, run_newsearch

from newsearch import check_index, open_index
from newsearch.cli import cli
from newsearch.errors import IndexDamagedError
from newsearch.store.checksums import TAIL
from newsearch.store.reader import describe_part

FLIPS = 50
SEED = 20261201
QUERIES = [
    "经济",
    "人民币 美元",
    '"人民币汇率"',
    "新闻 -疫情",
    "title:股份",
    "业经",
    "category:emnews",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, finews_dir: Path) -> tuple[Path, Path]:
    """40 finews posts in two segments, one of them with deleted documents."""
    root = tmp_path_factory.mktemp("check")
    corpus = root / "corpus"
    corpus.mkdir()
    names = sorted(p.name for p in finews_dir.iterdir())[:40]
    for name in names[:25]:
        shutil.copyfile(finews_dir / name, corpus / name)
    index = root / "index"
    build(corpus, index)
    for name in names[25:]:
        shutil.copyfile(finews_dir / name, corpus / name)
    for name in names[:25:5]:  # updated: deleted from the first segment
        with open(corpus / name, "a", encoding="utf-8") as fh:
            fh.write("\n补充。\n")
    build(corpus, index)
    return corpus, index


def _state(index: Path) -> Any:
    """What searches give: hits of QUERIES, facets, one post, the info counts."""
    with open_index(index) as ix:
        out: list[Any] = [ix.paths(), len(ix)]
        for q in QUERIES:
            res = ix.search(q, limit=8, facets=True)
            out.append((res.total, res.facets, [(h.path, h.score, h.snippet) for h in res]))
        info = ix.info()
        out.append((info.posts, info.categories, info.tags, info.first_date))
        out.append(ix.get(out[0][0]))
        return out


def test_a_sound_index_checks_sound(small: tuple[Path, Path]) -> None:
    _, index = small
    report = check_index(index)
    assert report.sound and report.problems == ()
    with open_index(index) as ix:
        assert report.posts == len(ix) == len(ix.paths())
        assert report.segments == ix.info().segments == 2
    assert report.deleted == 5
    assert report.stored == report.posts + report.deleted
    assert report.files == 2
    assert report.bytes_verified == sum(p.stat().st_size for p in index.glob("*.seg"))
    assert report.terms > 1000 and report.postings > report.terms
    result = CliRunner().invoke(cli, ["check", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "is sound" in result.output
    data = json.loads(CliRunner().invoke(cli, ["check", "--index", str(index), "--json"]).output)
    assert data["sound"] is True and data["problems"] == [] and data["posts"] == report.posts


def _kind(part: str) -> str:
    """The kind of a part of a segment file (the columns are one kind, and so on)."""
    for prefix, kind in (
        ("column ", "columns"),
        ("lengths ", "lengths"),
        ("vocab", "vocabularies"),
        ("reversed vocab", "vocabularies"),
    ):
        if part.startswith(prefix):
            return kind
    return part


def _regions(index: Path) -> dict[str, list[tuple[Path, int, int]]]:
    """Every kind of index file, or of part of a segment file: where its bytes are."""
    from whoosh.filedb.compound import CompoundStorage
    from whoosh.filedb.structfile import BufferFile

    (toc,) = index.glob("_MAIN_*.toc")
    out = {"table of contents": [(toc, 0, toc.stat().st_size)]}
    out["marker"] = [(index / "NEWSEARCH", 0, (index / "NEWSEARCH").stat().st_size)]
    seg = max(index.glob("*.seg"), key=lambda p: p.stat().st_size)
    data = seg.read_bytes()
    length = TAIL.unpack_from(data, len(data) - TAIL.size)[0]
    directory = CompoundStorage(BufferFile(memoryview(data)[:length]), use_mmap=False)
    parts = sorted(directory.range(n) + (n,) for n in directory.list())
    for offset, size, name in parts:
        out.setdefault(_kind(describe_part(name)), []).append((seg, offset, offset + size))
    end_of_parts = parts[-1][0] + parts[-1][1]
    out["compound header and directory"] = [(seg, 0, parts[0][0]), (seg, end_of_parts, length)]
    out["checksum footer"] = [(seg, length, len(data))]
    return out


def _pick(places: list[tuple[Path, int, int]], rng: random.Random) -> tuple[Path, int]:
    """A byte of one kind: every byte of every one of its parts as likely."""
    n = rng.randrange(sum(end - start for _, start, end in places))
    for path, start, end in places:
        if n < end - start:
            return path, start + n
        n -= end - start
    raise AssertionError(n)


def test_every_kind_of_file_and_part_is_covered(small: tuple[Path, Path]) -> None:
    regions = _regions(small[1])
    assert set(regions) == {
        "table of contents", "marker", "term table", "postings", "stored posts", "columns",
        "lengths", "vocabularies", "readings", "segment statistics",
        "compound header and directory", "checksum footer",
    }  # fmt: skip
    assert len(regions["columns"]) == 3 and len(regions["lengths"]) == 4


@pytest.mark.integration
def test_a_flipped_byte_anywhere_is_found_and_never_changes_a_result(
    small: tuple[Path, Path],
) -> None:
    _, index = small
    reference = _state(index)
    regions = _regions(index)
    rng = random.Random(SEED)
    tally = {"damaged error": 0, "same results": 0}
    for kind, places in regions.items():
        for _ in range(FLIPS):
            path, pos = _pick(places, rng)
            with open(path, "r+b") as fh:
                original = os.pread(fh.fileno(), 1, pos)
                os.pwrite(fh.fileno(), bytes([original[0] ^ rng.randrange(1, 256)]), pos)
            try:
                report = check_index(index)
                where = f"{kind}: byte {pos} of {path.name}"
                assert not report.sound, where
                assert {p.file for p in report.problems} == {path.name}, (where, report.problems)
                try:
                    got = _state(index)
                except IndexDamagedError as exc:
                    assert "newsearch check" in str(exc) and "--rebuild" in str(exc), where
                    tally["damaged error"] += 1
                else:
                    assert got == reference, where
                    tally["same results"] += 1
            finally:
                with open(path, "r+b") as fh:
                    os.pwrite(fh.fileno(), original, pos)
    assert check_index(index).sound
    print(f"{len(regions)} kinds x {FLIPS} flips: {tally}")
    # Searches read most parts: most flips are met by a search, not only by the check.
    assert tally["damaged error"] > tally["same results"]


@pytest.mark.integration
def test_the_command_line_reports_damage_in_one_line(small: tuple[Path, Path], tmp_path: Path):
    corpus, index = small
    damaged = tmp_path / "index"
    shutil.copytree(index, damaged)
    ((path, start, end),) = _regions(damaged)["postings"]
    data = bytearray(path.read_bytes())
    for pos in range(start, end, 512):  # postings all over: every search meets one
        data[pos] ^= 0x55
    path.write_bytes(bytes(data))
    before = listing(damaged)
    done = run_newsearch("check", "--index", damaged, timeout=60)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 1
    assert f"{path.name}, postings: checksum mismatch" in done.stdout
    assert "newsearch index --rebuild" in one_line_error(done.stderr)
    js = run_newsearch("check", "--index", damaged, "--json", timeout=60)
    assert js.returncode == 1
    problems = json.loads(js.stdout)["problems"]
    assert problems and all(p["file"] == path.name for p in problems)
    for args in (["search", "经济"], ["info"], ["index", corpus]):
        done = run_newsearch(*args, "--index", damaged, timeout=120)
        no_traceback(done.stdout, done.stderr)
        line = one_line_error(done.stderr)
        if args[0] != "info":  # info reads no postings
            assert done.returncode == 1, (args, done.stdout)
            assert "is damaged" in line and "newsearch check" in line, line
    assert listing(damaged) == before  # nothing was written to the damaged index
    done = run_newsearch("index", corpus, "--index", damaged, "--rebuild", timeout=120)
    assert done.returncode == 0, done.stderr
    assert _state(damaged) == _state(index)
    assert check_index(damaged).sound


def test_check_names_leftovers_and_files_of_other_programs(small: tuple[Path, Path], tmp_path):
    _, index = small
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    (copy / "notes.txt").write_text("mine\n", encoding="utf-8")
    (copy / "MAIN_zzzzzzzzzzzzzzzz.seg").write_bytes(b"a segment of a killed build")
    report = check_index(copy)
    assert report.sound
    assert report.foreign == ("notes.txt",)
    assert report.leftovers == ("MAIN_zzzzzzzzzzzzzzzz.seg",)


def test_counts_that_disagree_are_found_even_with_good_checksums(
    small: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that gets one field length wrong writes a file whose checksums are right: the
    # check's cross-checks (lengths against postings) find it.
    from newsearch.store import writer

    corpus, _ = small
    real = writer.SegmentBuilder.add

    def add(self: Any, doc: Any) -> None:
        if self.count == 3:
            doc.words["text"] = type(doc.words["text"])(
                doc.words["text"].length + 40, doc.words["text"].words, doc.words["text"].subs
            )
        real(self, doc)

    monkeypatch.setattr(writer.SegmentBuilder, "add", add)
    index = tmp_path / "index"
    build(corpus, index)
    report = check_index(index)
    assert not report.sound
    assert [(p.part, p.message.split(" (")[0]) for p in report.problems] == [
        ("lengths of text", "1 posts whose length disagrees with their postings")
    ]


def test_a_segment_file_of_another_size_is_refused_at_open(small: tuple[Path, Path], tmp_path):
    _, index = small
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    seg = max(copy.glob("*.seg"), key=lambda p: p.stat().st_size)
    with open(seg, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(IndexDamagedError, match="bytes, the commit recorded"):
        open_index(copy)
    report = check_index(copy)
    assert [p.file for p in report.problems] == [seg.name]
    assert os.path.getsize(seg) > 0
