"""A real ``newsearch serve`` in a subprocess on a free loopback port, for the API, watch and
browser tests; and a small corpus for them (the bundled sample plus a few posts of their own)."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from helpers import write_post

ROOT = Path(__file__).resolve().parents[1]
FIRST = "finews/2022-05-27-NW202205272394760297.md"
SCRIPT_TITLE = "<script>alert(1)</script>工业经济"
IMG_TITLE = '<img src=x onerror="alert(2)">工业经济'


def make_site(folder: Path) -> Path:
    """The bundled corpus plus posts whose titles and text are markup and script."""
    corpus = folder / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    write_post(
        corpus / "evil",
        "2022-05-30-script.md",
        SCRIPT_TITLE,
        "<p>工业经济 &lt;script&gt;alert(3)&lt;/script&gt; 正文</p>",
        categories="evil",
    )
    write_post(
        corpus / "evil",
        "2022-05-30-img.md",
        IMG_TITLE,
        # Markup in the body is read as HTML (its text is kept); escaped markup is text.
        "工业经济 <b onmouseover=alert(4)>粗体</b> &lt;img src=x onerror=alert(5)&gt; 图片",
        categories="evil",
    )
    return corpus


def newsearch(
    *args: object, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsearch", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def site_index(work: Path) -> Path:
    """The index of the test site (``make_site``) built in ``work``."""
    built = newsearch("index", make_site(work), "--index", work / "index", "--quiet")
    assert built.returncode == 0, built.stderr
    return work / "index"


class Server:
    """A running ``newsearch serve``: its address, an HTTP client, and what it printed."""

    def __init__(self, process: subprocess.Popen[str], url: str, lines: queue.Queue[str]):
        self.process = process
        self.url = url.rstrip("/")
        self.lines = lines
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def output(self) -> str:
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(out)


def _pump(stream: Any, lines: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)


@contextmanager
def serving(
    *args: object, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``newsearch serve --port 0 ARGS`` until the block ends; the address is the one it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "newsearch", "serve", "--port", "0", *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    seen = []
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("Serving ") and " at http://" in line:
            url = line.split(" at ", 1)[1].split()[0]
    assert url, "the server did not start:\n" + "".join(seen)
    server = Server(process, url, lines)
    try:
        yield server
    finally:
        server.client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def wait_for(check: Callable[[], Any], timeout: float = 30, every: float = 0.1) -> Any:
    """The first true value of ``check()`` within ``timeout`` seconds (AssertionError if none)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not so within {timeout} s (last: {last!r})")
