"""Where a build's memory goes: PSS of each process of a build, over time, by phase.

Builds ``CORPUS`` into a fresh ``INDEX`` (``--jobs``, default every core) and samples the PSS of
the build's process and of each worker every ``--every`` seconds, with the phase the build is
in (indexing, merging) from its progress reports; prints the peak of the whole tree, the phase
and the time it came in, each process's peak, and a sparse timeline. Run by hand:

    .venv/bin/python tests/bench/buildmem.py /tmp/ns-scale/corpus-4x /tmp/ns-buildmem
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark import _tree  # noqa: E402

BUILD = textwrap.dedent(
    """
    import json, sys, time, logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import newsearch

    def report(p):
        print(json.dumps([time.time(), p.phase, p.done, p.total]), flush=True)

    newsearch.build_index(sys.argv[1], sys.argv[2], jobs=int(sys.argv[3]), progress=report)
    """
)


def _sizes(pid: int) -> tuple[int, int]:
    """PSS of ``pid`` and the bytes of the pages only it maps (its USS), from one reading of its
    memory map (two readings may fall on either side of a worker's end); (0, 0) once it is
    gone."""
    pss = private = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                    private += int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, private


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("index", type=Path, help="removed first")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--every",
        type=float,
        default=0.05,
        help="seconds between samples (benchmark.TreeMemory samples every 0.02: a coarser step "
        "misses the moments when both workers write at once)",
    )
    args = parser.parse_args()
    shutil.rmtree(args.index, ignore_errors=True)
    start = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD, str(args.corpus), str(args.index), str(args.jobs)],
        stdout=subprocess.PIPE,
        text=True,
    )
    state = ["start", 0, 0]

    def follow() -> None:  # the build's progress reports, as they come
        for line in proc.stdout:  # type: ignore[union-attr]
            state[:] = json.loads(line)[1:]

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    samples: list[tuple[float, str, int, dict[int, int]]] = []
    #: pid -> its memory of its own (private pages, not shared with any other process), per sample
    own: list[dict[int, int]] = []
    while proc.poll() is None:
        phase, done, total = state
        sizes = {p: _sizes(p) for p in _tree(proc.pid)}
        pss = {p: v[0] for p, v in sizes.items() if v[0]}
        own.append({p: v[1] for p, v in sizes.items() if v[0]})
        samples.append((time.time() - start, f"{phase} {done}/{total}", sum(pss.values()), pss))
        time.sleep(args.every)
    if proc.returncode:
        print(f"the build failed ({proc.returncode})")
        return 1
    wall = time.time() - start
    top = max(range(len(samples)), key=lambda k: samples[k][2])
    at, where, peak, parts = samples[top]
    print(f"build {wall:.1f} s; peak PSS of the tree {peak / 1e6:.0f} MB at {at:.1f} s ({where})")

    def name(pid: int) -> str:
        return "build" if pid == proc.pid else f"worker {pid}"

    print(
        "  at the peak, MB (of its own): "
        + ", ".join(
            f"{name(p)} {v / 1e6:.0f} ({own[top].get(p, 0) / 1e6:.0f})" for p, v in parts.items()
        )
    )
    peaks: dict[int, int] = {}
    for _t, _w, _s, pss in samples:
        for p, v in pss.items():
            peaks[p] = max(peaks.get(p, 0), v)
    print(
        "  each one's own peak, MB: "
        + ", ".join(f"{name(p)} {v / 1e6:.0f}" for p, v in peaks.items())
    )
    for step_name in ("index", "merge"):
        these = [k for k, s in enumerate(samples) if s[1].startswith(step_name)]
        if these:
            k = max(these, key=lambda k: samples[k][2])
            seconds = samples[these[-1]][0] - samples[these[0]][0]
            split = ", ".join(
                f"{name(p)} {v / 1e6:.0f} ({own[k].get(p, 0) / 1e6:.0f})"
                for p, v in samples[k][3].items()
            )
            print(
                f"  {step_name}: {seconds:.1f} s, peak {samples[k][2] / 1e6:.0f} MB "
                f"at {samples[k][0]:.1f} s ({samples[k][1]}): {split}"
            )
    step = max(1, len(samples) // 30)
    for t, w, s, _p in samples[::step]:
        print(f"  {t:7.1f} s  {s / 1e6:6.0f} MB  {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
