"""Load test of ``newsearch serve`` on the 36,066 新闻联播 posts, against the library alone.

16 concurrent clients (keep-alive connections on loopback) search for 30 s over the benchmark's
query list through ``GET /api/search``; the server runs ``--workers N``. The same queries go to
the library alone (``SearchIndex.search`` in N processes, as fast as they can) for the same time,
as the baseline. Both are measured twice: idle, and while 5,000 changed posts are re-indexed.
Printed: requests/s, p50, p95, p99 and errors, and the server's share of the library's
requests/s. Bounded in time (about five minutes with the first build) and loopback only. Run by
hand, not in CI:

    .venv/bin/python tests/bench/load.py                     # 2 workers, 16 clients, 30 s
    .venv/bin/python tests/bench/load.py --workers 1 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import QUERIES, TARBALL  # noqa: E402

HOST = "127.0.0.1"  # loopback only
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)


# --- the HTTP clients ----------------------------------------------------------------------------


async def _client(
    port: int, paths: list[str], start: int, deadline: float, out: list[tuple[float, bool]]
) -> None:
    """One keep-alive connection sending requests one after the other until ``deadline``."""
    i = start
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        began = time.perf_counter()
        ok = False
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            assert reader is not None
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode("ascii"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            found = _LENGTH.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            ok = head[9:12] == b"200"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, AssertionError):
            if writer is not None:
                writer.close()
            reader = writer = None
        out.append((time.perf_counter() - began, ok))
    if writer is not None:
        writer.close()


def http_load(port: int, clients: int, seconds: float) -> list[tuple[float, bool]]:
    paths = [f"/api/search?q={quote(q)}" for q in QUERIES]
    out: list[tuple[float, bool]] = []

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_client(port, paths, i * 7, deadline, out) for i in range(clients)))

    asyncio.run(main())
    return out


# --- the library alone ---------------------------------------------------------------------------


def _library_worker(
    index: str,
    start: int,
    warmup: float,
    seconds: float,
    ready: mp.Queue,
    go: Any,
    out_q: mp.Queue,  # type: ignore[type-arg]
) -> None:
    # The library follows the commits as the server does (SearchIndex.refresh() when the index
    # folder changed), so both do the same searching work and the ratio is the HTTP layer's.
    from newsearch.serve.live import LiveIndex

    live = LiveIndex(index)
    i = start
    until = time.perf_counter() + warmup
    while time.perf_counter() < until:
        live.get().search(QUERIES[i % len(QUERIES)])
        i += 1
    ready.put(True)
    go.wait()
    out: list[tuple[float, bool]] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        ok = True
        try:
            live.get().search(QUERIES[i % len(QUERIES)])
        except Exception:
            ok = False
        out.append((time.perf_counter() - began, ok))
        i += 1
    live.close()
    out_q.put(out)


def library_load(
    index: str,
    processes: int,
    seconds: float,
    warmup: float,
    on_start: Callable[[], Any] = lambda: None,
) -> list[tuple[float, bool]]:
    """The library in ``processes`` processes, each warmed up first; ``on_start`` is called when
    they all start measuring."""
    ctx = mp.get_context("spawn")
    ready, out_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_library_worker, args=(index, i * 11, warmup, seconds, ready, go, out_q))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    on_start()
    go.set()
    out: list[tuple[float, bool]] = []
    for _ in procs:
        out += out_q.get()
    for p in procs:
        p.join()
    return out


# --- the corpus, the index, the server ------------------------------------------------------------


def newsearch(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsearch", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def change_posts(corpus: Path, count: int, round_: int) -> None:
    """Append a sentence to ``count`` posts spread over the archive (every k-th file)."""
    files = sorted(corpus.glob("*.md"))
    step = max(1, len(files) // count)
    for f in files[::step][:count]:
        with open(f, "a", encoding="utf-8") as fh:
            fh.write(f"\n<p>本文第{round_}次修订：补充了相关报道。</p>\n")


class Server:
    def __init__(self, index: Path, workers: int):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsearch",
                "serve",
                "--index",
                index,
                "--port",
                "0",
                "--workers",
                str(workers),
            ],  # fmt: skip
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.port = int(line.split(" at http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def reindex_in_background(corpus: Path, index: Path, jobs: int) -> Callable[[], float]:
    """Start ``newsearch index``; the returned function waits for it and gives its seconds."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsearch",
            "index",
            corpus,
            "--index",
            index,
            "-q",
            "--jobs",
            str(jobs),
        ],  # fmt: skip
        stdin=subprocess.DEVNULL,
    )

    def done() -> float:
        proc.wait()
        assert proc.returncode == 0, "the re-index failed"
        return time.perf_counter() - began

    return done


# --- figures -------------------------------------------------------------------------------------


def figures(samples: list[tuple[float, bool]], seconds: float) -> dict[str, float]:
    times = sorted(t for t, _ in samples)
    if not times:
        return {"rps": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "errors": 0}
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "rps": len(samples) / seconds,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "errors": sum(1 for _, ok in samples if not ok),
        "count": len(samples),
    }


def line(name: str, f: dict[str, float]) -> str:
    return (
        f"| {name} | {f['rps']:,.0f} | {f['p50']:.1f} | {f['p95']:.1f} | {f['p99']:.1f} "
        f"| {f['errors']:.0f} of {f['count']:,.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=2, help="server and library processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--changed", type=int, default=5000, help="posts changed and re-indexed")
    parser.add_argument("--jobs", type=int, default=2, help="indexing processes")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per run")
    args = parser.parse_args()
    secs = min(args.seconds, 120.0)  # bounded, whatever is asked

    with tempfile.TemporaryDirectory(prefix="newsearch-load-") as tmp:
        with tarfile.open(TARBALL) as tar:
            tar.extractall(tmp, filter="data")
        corpus = Path(tmp) / "xwlb"
        index = Path(tmp) / "index"
        began = time.perf_counter()
        built = newsearch("index", corpus, "--index", index, "-q", "--jobs", args.jobs)
        assert built.returncode == 0, built.stderr
        posts = len(list(corpus.glob("*.md")))
        print(f"{posts:,} posts, index built in {time.perf_counter() - began:.1f} s", flush=True)

        server = Server(index, args.workers)
        try:
            lib_idle = figures(library_load(str(index), args.workers, secs, args.warmup), secs)
            print(line("library", lib_idle), flush=True)
            http_load(server.port, args.clients, args.warmup)
            http_idle = figures(http_load(server.port, args.clients, secs), secs)
            print(line("server", http_idle), flush=True)

            change_posts(corpus, args.changed, 1)
            started: list[Callable[[], float]] = []
            lib_busy = figures(
                library_load(
                    str(index),
                    args.workers,
                    secs,
                    args.warmup,
                    lambda: started.append(reindex_in_background(corpus, index, args.jobs)),
                ),
                secs,
            )
            lib_took = started[0]()
            print(line("library, re-indexing", lib_busy), flush=True)

            change_posts(corpus, args.changed, 2)
            done = reindex_in_background(corpus, index, args.jobs)
            http_busy = figures(http_load(server.port, args.clients, secs), secs)
            http_took = done()
            print(line("server, re-indexing", http_busy), flush=True)
        finally:
            server.close()

        rows = [
            ("library alone, idle", lib_idle),
            ("server, idle", http_idle),
            (f"library alone, re-indexing {args.changed:,} posts ({lib_took:.0f} s)", lib_busy),
            (f"server, re-indexing {args.changed:,} posts ({http_took:.0f} s)", http_busy),
        ]
        print()
        print(
            f"{posts:,} posts; {args.workers} processes; {args.clients} HTTP clients; "
            f"{secs:.0f} s per run; Python {platform.python_version()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}"
        )
        print("| run | requests/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|")
        for name, f in rows:
            print(line(name, f))
        print(
            f"\nserver / library, requests/s: idle {http_idle['rps'] / lib_idle['rps']:.2f}, "
            f"re-indexing {http_busy['rps'] / lib_busy['rps']:.2f}"
        )
        errors = http_idle["errors"] + http_busy["errors"]
        print(f"errors of the server: {errors:.0f}")
        return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
