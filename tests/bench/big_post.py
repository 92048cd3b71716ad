"""Peak memory of indexing one very long post: a 50 MB post of real 新闻联播 text, ``--jobs 1``.

The post is the bodies of the 新闻联播 posts (sorted file names) one after the other, separated by
blank lines, until the file has 50 MB; its front matter is a usual one. The script runs
``newsearch index --jobs 1`` on a folder holding only that post, and on a folder holding one
post of a few KB (the peer: what the process costs without the long post), in subprocesses,
and prints their peak resident sizes (VmHWM, the kernel's high-water mark), the difference per
byte of the long post's file, and the figure of newsearch before the analysis was done in
pieces (the same post and command, its peak from ``/usr/bin/time -v``). First, in this process,
the memory Python allocates to analyse the post's first 500,000 characters (tracemalloc's peak,
bytes a character), in pieces and, as the peer, as one piece (as before).
Run by hand (not in CI):

    .venv/bin/python tests/bench/big_post.py            # 50 MB
    .venv/bin/python tests/bench/big_post.py --mb 67    # near the size limit (64 MiB)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))
TARBALL = SHARED / "data" / "xwlb-posts.tar.gz"
FRONT = (
    '---\ntitle: "新闻联播 合集"\ndate: 2022-05-01 19:00:00 +0800\ncategories: xinwenlianbo\n---\n'
)
SOURCE_LINK = re.compile(r"\n\[查看原文\]\([^)]*\)\s*$")
#: newsearch before the fix (commit 8960cfe), 2026-12-01, on this project's machine (2 cores,
#: Linux x86_64, Python 3.11.7): the same 50 MB post, ``/usr/bin/time -v newsearch index big
#: --index idx --jobs 1`` (maximum resident set size).
BEFORE = {"peak_kb": 3_274_596, "seconds": 63.1}


def make_post(source: Path, target: Path, size: int) -> int:
    parts: list[str] = []
    total = 0
    names = sorted(os.listdir(source))
    while total < size:  # the archive's bodies hold 53 MB: a larger post starts them again
        for name in names:
            text = (source / name).read_text(encoding="utf-8")
            body = SOURCE_LINK.sub("", text.split("\n---\n", 1)[1].strip())
            parts.append(body)
            total += len(body.encode()) + 2
            if total >= size:
                break
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(FRONT + "\n\n".join(parts), encoding="utf-8")
    return target.stat().st_size


#: Runs the command line in a child that reports its own peak resident size (VmHWM, which exec
#: starts afresh: the kernel's ru_maxrss would count this script's pages from before the exec).
CHILD = """
import atexit, sys
def report():
    with open("/proc/self/status") as fh:
        peak = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    print("VmHWM", peak, file=sys.stderr)
atexit.register(report)
from newsearch.cli import main
sys.argv = ["newsearch", *sys.argv[1:]]
main()
"""


def peak_of(corpus: Path, index: Path) -> tuple[int, float, str]:
    """Peak resident size (KB) and wall time of ``newsearch index --jobs 1`` in a subprocess."""
    args = ["index", str(corpus), "--index", str(index), "--jobs", "1"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "added               1" not in done.stdout:
        raise RuntimeError(f"indexing failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak = re.search(r"^VmHWM (\d+)$", done.stderr, re.M)
    assert peak is not None, done.stderr
    return int(peak.group(1)), seconds, done.stdout


def analysis_peak(text: str, piece: int) -> int:
    """The most memory Python held while analysing ``text`` in pieces of ``piece`` characters."""
    from newsearch.analysis import Analyzer, current_settings

    analyzer = Analyzer(current_settings())
    analyzer.terms("预热")  # the dictionary is loaded before the measure
    tracemalloc.start()
    try:
        analyzer.terms(text, piece=piece)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def print_analysis_peaks(post: Path, chars: int) -> None:
    from newsearch.analysis import PIECE_CHARS

    text = post.read_text(encoding="utf-8").split("\n---\n", 1)[1][:chars]
    pieces = analysis_peak(text, PIECE_CHARS)
    whole = analysis_peak(text, len(text) + 1)
    print(f"analysis of {len(text):,} characters (tracemalloc peak):")
    print(f"  in pieces of {PIECE_CHARS:,}: {pieces / len(text):.1f} bytes a character")
    ratio = whole / pieces
    print(f"  peer, as one piece: {whole / len(text):.1f} bytes a character ({ratio:.1f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the post in MB (1e6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsearch-big-") as tmp:
        scratch = Path(tmp)
        with tarfile.open(TARBALL) as tar:
            tar.extractall(scratch, filter="data")
        source = scratch / "xwlb"
        size = make_post(source, scratch / "big" / "2022-05-01-big.md", int(args.mb * 1e6))
        small = make_post(source, scratch / "small" / "2022-05-01-small.md", 3_000)
        shutil.rmtree(source)
        print_analysis_peaks(scratch / "big" / "2022-05-01-big.md", 500_000)
        base_kb, base_s, _ = peak_of(scratch / "small", scratch / "small-index")
        peak_kb, seconds, _ = peak_of(scratch / "big", scratch / "big-index")
    mb = size / 1e6
    print(f"one post of {mb:.1f} MB ({size:,} bytes) of 新闻联播 text, newsearch index --jobs 1")
    print(f"  peer, one post of {small:,} bytes: peak RSS {base_kb / 1024:,.0f} MB, {base_s:.1f} s")
    print(
        f"  the long post: peak RSS {peak_kb / 1024:,.0f} MB, {seconds:.1f} s: "
        f"{peak_kb * 1024 / size:.1f} bytes per byte of file, "
        f"{(peak_kb - base_kb) * 1024 / size:.1f} above the peer"
    )
    if abs(mb - 50) < 0.5:
        before = BEFORE["peak_kb"]
        print(
            f"  before (analysis of the whole text at once): peak RSS {before / 1024:,.0f} MB, "
            f"{BEFORE['seconds']:.1f} s: {before * 1024 / size:.1f} bytes per byte of file; "
            f"now {peak_kb / before:.2f}x of it"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
