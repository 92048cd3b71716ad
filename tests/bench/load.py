"""Load test of ``newsearch serve`` on the 36,066 新闻联播 posts, against the library alone.

16 concurrent clients (keep-alive connections on loopback) search for 30 s over the benchmark's
query list through ``GET /api/search``; the server runs ``--workers N``. The same queries go to
the library alone (``SearchIndex.search`` in N processes, as fast as they can, following the
commits as the server does) for 30 s too, as the baseline. Both are measured twice: idle, and
while changed posts are re-indexed (5,000 posts changed, re-indexed, changed again, ... for the
whole run). The 30 s of each side are taken in alternating slices of a few seconds, so that
whatever else the machine does weighs on both alike. Printed: requests/s, p50, p95, p99 and
errors, and the server's share of the library's requests/s.

Bounded in time (about six minutes with the first build) and loopback only. Run by hand, not
in CI:

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
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import QUERIES, TARBALL  # noqa: E402

HOST = "127.0.0.1"  # loopback only
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)
Samples = list[tuple[float, bool]]


# --- the HTTP clients ----------------------------------------------------------------------------


async def _client(port: int, paths: list[str], start: int, deadline: float, out: Samples) -> None:
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
            if reader is None or writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode("ascii"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            found = _LENGTH.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            ok = head[9:12] == b"200"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            if writer is not None:
                writer.close()
            reader = writer = None
        out.append((time.perf_counter() - began, ok))
    if writer is not None:
        writer.close()


def http_load(port: int, clients: int, seconds: float, offset: int = 0) -> Samples:
    paths = [f"/api/search?q={quote(q)}" for q in QUERIES]
    out: Samples = []

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(port, paths, offset + i * 7, deadline, out) for i in range(clients))
        )

    asyncio.run(main())
    return out


# --- the library alone ---------------------------------------------------------------------------


def _library_worker(index: str, start: int, todo: Any, done: Any) -> None:
    # The library follows the commits as the server does (SearchIndex.refresh() when the index
    # folder changed), so both do the same searching work and the ratio is the HTTP layer's.
    from newsearch.serve.live import LiveIndex

    live = LiveIndex(index)
    i = start
    while True:
        seconds = todo.get()
        if seconds is None:
            break
        out: Samples = []
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
        done.put(out)
    live.close()


class Library:
    """The library in ``processes`` processes that stay up (and warm) between slices."""

    def __init__(self, index: str, processes: int):
        ctx = mp.get_context("spawn")
        self.todo = [ctx.Queue() for _ in range(processes)]
        self.done = ctx.Queue()
        self.procs = [
            ctx.Process(target=_library_worker, args=(index, i * 11, q, self.done))
            for i, q in enumerate(self.todo)
        ]
        for p in self.procs:
            p.start()

    def run(self, seconds: float) -> Samples:
        for q in self.todo:
            q.put(seconds)
        out: Samples = []
        for _ in self.procs:
            out += self.done.get()
        return out

    def close(self) -> None:
        for q in self.todo:
            q.put(None)
        for p in self.procs:
            p.join()


# --- the corpus, the index, the server, the re-indexing -------------------------------------------


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


class Reindexing:
    """Change ``count`` posts and re-index them, again and again, until stopped."""

    def __init__(self, corpus: Path, index: Path, count: int, jobs: int):
        self.args = (corpus, index, count, jobs)
        self.rounds: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        corpus, index, count, jobs = self.args
        while not self._stop.is_set():
            change_posts(corpus, count, len(self.rounds) + 1)
            began = time.perf_counter()
            done = newsearch("index", corpus, "--index", index, "-q", "--jobs", jobs)
            if done.returncode:
                self.failed += 1
            self.rounds.append(time.perf_counter() - began)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- figures -------------------------------------------------------------------------------------


def figures(samples: Samples, seconds: float) -> dict[str, float]:
    times = sorted(t for t, _ in samples)
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


def interleaved(
    library: Library, port: int, clients: int, seconds: float, slices: int
) -> tuple[dict[str, float], dict[str, float]]:
    """``seconds`` of each side, in ``slices`` alternating slices (A B B A A B ...)."""
    part = seconds / slices
    lib: Samples = []
    srv: Samples = []
    for k in range(slices):
        if k % 2 == 0:
            lib += library.run(part)
            srv += http_load(port, clients, part, k)
        else:
            srv += http_load(port, clients, part, k)
            lib += library.run(part)
    return figures(lib, seconds), figures(srv, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=2, help="server and library processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--slices", type=int, default=6, help="alternating slices of a run")
    parser.add_argument("--changed", type=int, default=5000, help="posts changed per re-index")
    parser.add_argument("--jobs", type=int, default=2, help="indexing processes")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up")
    parser.add_argument("--posts", type=int, help="only the first N posts (a quick try)")
    args = parser.parse_args()
    secs = min(args.seconds, 120.0)  # bounded, whatever is asked

    with tempfile.TemporaryDirectory(prefix="newsearch-load-") as tmp:
        with tarfile.open(TARBALL) as tar:
            tar.extractall(tmp, filter="data")
        corpus = Path(tmp) / "xwlb"
        index = Path(tmp) / "index"
        if args.posts:
            for f in sorted(corpus.glob("*.md"))[args.posts :]:
                f.unlink()
        began = time.perf_counter()
        built = newsearch("index", corpus, "--index", index, "-q", "--jobs", args.jobs)
        assert built.returncode == 0, built.stderr
        posts = len(list(corpus.glob("*.md")))
        print(f"{posts:,} posts, index built in {time.perf_counter() - began:.1f} s", flush=True)

        server = Server(index, args.workers)
        library = Library(str(index), args.workers)
        try:
            library.run(args.warmup)
            http_load(server.port, args.clients, args.warmup)
            lib_idle, http_idle = interleaved(library, server.port, args.clients, secs, args.slices)
            print(line("library, idle", lib_idle), flush=True)
            print(line("server, idle", http_idle), flush=True)
            busy = Reindexing(corpus, index, args.changed, args.jobs)
            try:
                lib_busy, http_busy = interleaved(
                    library, server.port, args.clients, secs, args.slices
                )
            finally:
                busy.stop()
            print(line("library, re-indexing", lib_busy), flush=True)
            print(line("server, re-indexing", http_busy), flush=True)
        finally:
            library.close()
            server.close()

        rounds = busy.rounds
        during = (
            f"re-indexing {args.changed:,} changed posts ({len(rounds)} rounds, "
            f"{statistics.median(rounds):.0f} s each)"
        )
        print()
        print(
            f"{posts:,} posts; {args.workers} processes; {args.clients} HTTP clients; "
            f"{secs:.0f} s per run in {args.slices} slices; Python {platform.python_version()}, "
            f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}"
        )
        print("| run | requests/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|")
        print(line("library alone, idle", lib_idle))
        print(line("server, idle", http_idle))
        print(line(f"library alone, {during}", lib_busy))
        print(line(f"server, {during}", http_busy))
        print(
            f"\nserver / library, requests/s: idle {http_idle['rps'] / lib_idle['rps']:.2f}, "
            f"re-indexing {http_busy['rps'] / lib_busy['rps']:.2f}"
        )
        errors = http_idle["errors"] + http_busy["errors"]
        print(f"errors of the server: {errors:.0f}; failed re-index rounds: {busy.failed}")
        return 1 if errors or busy.failed else 0


if __name__ == "__main__":
    sys.exit(main())
