"""What the checksums cost: searches with every read verified against searches with the checks
switched off (the peer, measured in the same run, on the same index), and ``newsearch check``.

Builds an index of the first N posts of the 新闻联播 archive (all 36,066 by default, or reuses
``--index DIR``), then prints, for both, the cold ``newsearch search`` command (median wall time
and CPU time of the process), the warm latency of the benchmark's queries in a process that has
the index open (first run and second run: median and p95), and how many bytes the first run
verified; then the time of ``newsearch check``; then, for copies of the index whose footers
checksum chunks of other sizes (``--chunks``), the bytes and the time verifying takes over the
first run of the queries, timed inside the process (what chose the chunk size). Run by hand:

    .venv/bin/python tests/bench/integrity.py               # N = 36066
    .venv/bin/python tests/bench/integrity.py --n 5000 --rounds 3 --chunks 4096,16384
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from benchmark import QUERIES, TARBALL, prepare  # noqa: E402

#: Switches the checks off in the peer (the same code otherwise), and counts verified bytes.
PRELUDE = """
import json, os, resource, sys, time, zlib
import newsearch.store.checksums as checksums
checked = {"bytes": 0}
if OFF:
    checksums.ChunkedFile.verify = lambda self, start, stop, what="": None
else:
    crc32 = zlib.crc32
    def counted(data, *more):
        checked["bytes"] += len(data)
        return crc32(data, *more)
    checksums.zlib = type("counted_zlib", (), {"crc32": staticmethod(counted)})
"""

COLD = (
    PRELUDE
    + """
from newsearch.cli import main
try:
    main(["search", "工业经济", "--index", INDEX])
finally:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write(json.dumps({"cpu": ru.ru_utime + ru.ru_stime}) + "\\n")
"""
)

WARM = (
    PRELUDE
    + """
import newsearch
out = {"first": [], "again": []}
ix = newsearch.open_index(INDEX)
out["open_bytes"] = checked["bytes"]
def one(q):
    t = time.perf_counter()
    res = ix.search(q, limit=10)
    [h.snippet for h in res]
    return time.perf_counter() - t
one("预热")
checked["bytes"] = 0
for q in QUERIES:
    out["first"].append(one(q))
out["first_bytes"] = checked["bytes"]
for q in QUERIES:
    out["again"].append(one(q))
print(json.dumps(out))
"""
)


#: The first run of the queries, with the time spent in ChunkedFile.verify.
CHUNKED = """
import json, time
import newsearch
import newsearch.store.checksums as checksums
spent = [0.0]
verify = checksums.ChunkedFile.verify
def timed(self, start, stop, what=""):
    t = time.perf_counter()
    verify(self, start, stop, what)
    spent[0] += time.perf_counter() - t
checksums.ChunkedFile.verify = timed
ix = newsearch.open_index(INDEX)
t = time.process_time()
for q in QUERIES:
    [h.snippet for h in ix.search(q, limit=10)]
cpu = time.process_time() - t
done = sum(sum(f.source.ok) * f.source.chunk for v in ix._snap.segments for f in [v.files])
print(json.dumps({"verify": spent[0], "cpu": cpu, "bytes": done}))
"""


def rechunk(src: Path, dst: Path, chunk: int) -> None:
    """A copy of the index whose segment footers checksum chunks of ``chunk`` bytes."""
    import shutil

    from newsearch import store
    from newsearch.store.checksums import TAIL, ChunkSums, set_file_record

    shutil.copytree(src, dst)
    commit = store.read_commit(str(dst))
    for seg in commit.segments:
        path = dst / seg.make_filename(".seg")
        data = path.read_bytes()
        length = TAIL.unpack_from(data, len(data) - TAIL.size)[0]
        sums = ChunkSums(chunk)
        sums.update(memoryview(data)[:length])
        footer, crc = sums.footer()
        path.write_bytes(data[:length] + footer)
        set_file_record(seg, (length + len(footer), crc))
    commit.generation += 1
    store.write_commit(str(dst), commit)
    (dst / f"_MAIN_{commit.generation - 1}.toc").unlink()


def chunk_sizes(index: Path, scratch: Path, sizes: list[int], rounds: int) -> None:
    print(f"\n{'chunk':>8}{'verified over the first run':>30}{'time verifying':>16}{'of CPU':>10}")
    for size in sizes:
        copy = scratch / f"chunks-{size}"
        rechunk(index, copy, size)
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", _code(CHUNKED, copy, False)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(rounds)
        ]
        spent = statistics.median(r["verify"] for r in runs) * 1000
        cpu = statistics.median(r["cpu"] for r in runs) * 1000
        mb = runs[0]["bytes"] / 1e6
        print(f"{size // 1024:>5} KB{mb:>27.1f} MB{spent:>13.1f} ms{spent / cpu:>9.1%}")


def _code(template: str, index: Path, off: bool) -> str:
    return (
        template.replace("OFF", repr(off))
        .replace("INDEX", repr(str(index)))
        .replace("QUERIES", repr(QUERIES))
    )


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def measure(index: Path, rounds: int) -> dict[str, dict[str, float]]:
    cold: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    warm: dict[bool, list[dict[str, object]]] = {False: [], True: []}
    for _ in range(rounds):
        for off in (False, True):  # interleaved: a busy moment hits both alike
            for _ in range(3):
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", _code(COLD, index, off)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall = time.perf_counter() - start
                cold[off].append((wall, json.loads(done.stderr.splitlines()[-1])["cpu"]))
            done = subprocess.run(
                [sys.executable, "-c", _code(WARM, index, off)],
                capture_output=True,
                text=True,
                check=True,
            )
            warm[off].append(json.loads(done.stdout))
    out: dict[str, dict[str, float]] = {}
    for off in (False, True):
        first = [statistics.median(x) for x in zip(*(w["first"] for w in warm[off]), strict=True)]
        again = [statistics.median(x) for x in zip(*(w["again"] for w in warm[off]), strict=True)]
        out["checks off" if off else "checks on"] = {
            "cold wall": statistics.median(w for w, _ in cold[off]),
            "cold cpu": statistics.median(c for _, c in cold[off]),
            "first median": statistics.median(first),
            "first p95": _p95(first),
            "again median": statistics.median(again),
            "again p95": _p95(again),
            "open MB": float(warm[off][0]["open_bytes"]) / 1e6,  # type: ignore[arg-type]
            "first MB": float(warm[off][0]["first_bytes"]) / 1e6,  # type: ignore[arg-type]
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=36066, help="posts to index")
    parser.add_argument("--index", type=Path, help="an index to reuse (built if missing)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--chunks", default="4096,16384,65536,262144", help="chunk sizes to compare ('': none)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsearch-integrity-") as tmp:
        scratch = Path(tmp)
        index = args.index or scratch / "index"
        if not (index / "NEWSEARCH").exists():
            source = scratch / "source"
            source.mkdir()
            subprocess.run(["tar", "-xzf", str(TARBALL), "-C", str(source)], check=True)
            corpus, size = prepare(args.n, scratch, source / "xwlb")
            print(f"indexing {args.n} posts ({size / 1e6:.1f} MB) into {index} ...", flush=True)
            import newsearch

            newsearch.build_index(corpus, index, jobs=args.jobs)
        size = sum(p.stat().st_size for p in index.iterdir() if p.is_file())
        figures = measure(index, args.rounds)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "newsearch", "check", "--index", str(index)],
            check=True,
            capture_output=True,
        )
        check_seconds = time.perf_counter() - start
        on, off = figures["checks on"], figures["checks off"]
        _report(args, size, on, off, check_seconds)
        sizes = [int(c) for c in args.chunks.split(",") if c]
        if sizes:
            chunk_sizes(index, scratch, sizes, args.rounds)
    return 0


def _report(
    args: argparse.Namespace,
    size: int,
    on: dict[str, float],
    off: dict[str, float],
    check_seconds: float,
) -> None:
    print(f"\nindex of {args.n} posts, {size / 1e6:.1f} MB; ", end="")
    print(f"{len(QUERIES)} queries, {args.rounds} rounds")
    print(f"{'':44}{'checks on':>12}{'checks off':>12}{'ratio':>8}")
    rows = [
        ("cold `newsearch search 工业经济`, wall (s)", "cold wall", 1),
        ("cold `newsearch search 工业经济`, CPU (s)", "cold cpu", 1),
        ("warm, first run, median (ms)", "first median", 1000),
        ("warm, first run, p95 (ms)", "first p95", 1000),
        ("warm, second run, median (ms)", "again median", 1000),
        ("warm, second run, p95 (ms)", "again p95", 1000),
    ]
    for label, key, scale in rows:
        a, b = on[key] * scale, off[key] * scale
        print(f"{label:44}{a:12.3f}{b:12.3f}{a / b:8.2f}")
    print(f"bytes verified: opening {on['open MB']:.2f} MB, ", end="")
    print(f"first run of the queries {on['first MB']:.1f} MB")
    print(f"newsearch check: {check_seconds:.1f} s ({size / 1e6 / check_seconds:.1f} MB/s)")


if __name__ == "__main__":
    raise SystemExit(main())
