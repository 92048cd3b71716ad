"""Top-k pruning: warm search latency (a page of 10 with snippets) over ``benchmark.QUERIES``,
with the pruned ranking and with every matching post scored (the peer, in the same run), and
that both give the same pages.

    .venv/bin/python tests/bench/topk.py INDEX [--rounds 5]

``--code DIR`` runs the same measure with another copy of the package (a checkout of an older
commit: ``git archive <commit> newsearch | tar -x -C DIR``) in place of the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from benchmark import QUERIES  # noqa: E402

RUN = textwrap.dedent(
    """
    import json, sys, time, logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import newsearch
    from newsearch import ranking

    folder, queries, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4]
    rounds = int(sys.argv[3])
    if mode == "exhaustive":
        ranking.Ranker.rank = lambda self, wanted: self.rank_exhaustive(wanted)
    out = {"warm": [], "pages": []}
    with newsearch.open_index(folder) as ix:
        for q in queries:
            res = ix.search(q, limit=10)
            out["pages"].append([[h.path, h.score] for h in res.hits] + [res.total])
        for _ in range(rounds):
            row = []
            for q in queries:
                t = time.perf_counter()
                res = ix.search(q, limit=10)
                [(h.snippet, h.highlights) for h in res.hits]
                row.append(time.perf_counter() - t)
            out["warm"].append(row)
    print(json.dumps(out))
    """
)


def measure(index: str, rounds: int, mode: str, code: str | None = None) -> dict[str, object]:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    # Run from the other copy's folder: ``python -c`` puts the working directory first on the
    # path, so from the repository's root it would import this checkout's package instead.
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(Path(index).resolve()), json.dumps(QUERIES), str(rounds)]
        + [mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=code,
    )
    got: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return got


def figures(warm: list[list[float]]) -> tuple[float, float, float]:
    # Per query, its best round (what a warm cache gives); then over the queries.
    best = [min(col) for col in zip(*warm, strict=True)]
    best.sort()
    p95 = best[min(len(best) - 1, int(0.95 * len(best)))]
    return statistics.median(best) * 1e3, p95 * 1e3, best[-1] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--code", help="another copy of the package, measured as the peer")
    args = ap.parse_args()
    pruned = measure(args.index, args.rounds, "pruned")
    peer_name = "older code" if args.code else "exhaustive"
    peer = measure(args.index, args.rounds, "pruned" if args.code else "exhaustive", args.code)
    a = figures(pruned["warm"])  # type: ignore[arg-type]
    b = figures(peer["warm"])  # type: ignore[arg-type]
    same = pruned["pages"] == peer["pages"]
    print(f"{len(QUERIES)} queries, a page of 10 with snippets, best of {args.rounds} warm rounds")
    print(f"{'':12s}{'median':>10s}{'p95':>10s}{'max':>10s}")
    print(f"{'pruned':12s}" + "".join(f"{v:8.1f}ms" for v in a))
    print(f"{peer_name:12s}" + "".join(f"{v:8.1f}ms" for v in b))
    print(f"{'ratio':12s}" + "".join(f"{y / x:9.1f}x" for x, y in zip(a, b, strict=True)))
    print("same pages, scores and totals:", same)


if __name__ == "__main__":
    main()
