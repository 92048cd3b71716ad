"""Warm search latency of natural-language questions against keyword queries, in one run.

Both kinds of queries come from ``benchmark.QUERIES`` (the questions are the ones that end in a
question mark or a question word); the index holds all 36,066 新闻联播 posts (or the first
``--n``). Each query runs once to warm the caches, then ``--rounds`` times; the script prints the
median and p95 of each kind and the ratio of questions to keywords. Run by hand:

    .venv/bin/python tests/bench/question_latency.py                  # builds a temporary index
    .venv/bin/python tests/bench/question_latency.py --index DIR      # reuses a built one
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from benchmark import QUERIES, TARBALL, latency  # noqa: E402

#: A query is a question when it ends like one (or asks with a question word).
_QUESTION_MARKS = ("？", "?", "吗", "呢", "多少", "什么", "哪里", "哪些", "几")


def is_question(query: str) -> bool:
    q = query.strip()
    return q.endswith(_QUESTION_MARKS) or any(w in q for w in ("为什么", "如何", "怎样", "哪"))


def measure(index: Path, rounds: int) -> dict[str, list[float]]:
    import newsearch

    times: dict[str, list[float]] = {"question": [], "keyword": []}
    with newsearch.open_index(index) as ix:
        for q in QUERIES:  # warm-up: posting lists and statistics read once
            [h.snippet for h in ix.search(q, limit=10)]
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                [h.snippet for h in ix.search(q, limit=10)]
                times["question" if is_question(q) else "keyword"].append(time.perf_counter() - t)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--index", type=Path, help="an index of the posts, built before")
    parser.add_argument("--n", type=int, default=36_066, help="posts to index (first N)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; date {time.strftime('%Y-%m-%d')}"
    )
    questions = [q for q in QUERIES if is_question(q)]
    print(f"{len(questions)} questions, {len(QUERIES) - len(questions)} keyword queries")
    with tempfile.TemporaryDirectory(prefix="newsearch-qlat-") as tmp:
        index = args.index
        if index is None:
            import newsearch

            scratch = Path(tmp)
            with tarfile.open(TARBALL) as tar:
                tar.extractall(scratch / "all", filter="data")
            corpus = scratch / "corpus" / "xwlb"
            corpus.mkdir(parents=True)
            for name in sorted(os.listdir(scratch / "all" / "xwlb"))[: args.n]:
                os.rename(scratch / "all" / "xwlb" / name, corpus / name)
            index = scratch / "index"
            report = newsearch.build_index(corpus.parent, index, jobs=args.jobs)
            print(f"indexed {report.total} posts in {report.seconds:.0f} s")
        times = measure(index, args.rounds)
    kq, kp = latency(times["keyword"])
    qq, qp = latency(times["question"])
    print(f"\nwarm latency over {args.rounds} rounds (ms)   median    p95")
    print(f"keyword queries                      {kq:7.1f} {kp:7.1f}")
    print(f"questions                            {qq:7.1f} {qp:7.1f}")
    print(f"ratio questions / keywords           {qq / kq:7.2f}x {qp / kp:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
