"""``newsearch serve``: a search page and a JSON API over HTTP (Starlette on uvicorn).

This package is the only one that imports the web framework; ``newsearch search`` never loads
it. ``run()`` binds the socket, starts the watcher process for ``--watch`` and serves from one
or several worker processes.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .app import CONFIG_ENV, ServeConfig, create_app

__all__ = ["ServeConfig", "create_app", "run"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the watcher gets SIGTERM when the server goes, even on kill -9 (its builds are
    # crash-safe, so stopping it at any moment is fine).
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_watcher(corpus: str, index: str, jobs: int | None = None) -> subprocess.Popen[bytes]:
    """``newsearch index CORPUS --index INDEX --watch`` as a child process."""
    cmd = [sys.executable, "-m", "newsearch", "index", corpus, "--index", index, "--watch"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def run(
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    watch_corpus: str | None = None,
    jobs: int | None = None,
    announce: Callable[[str], None] = print,
    log_level: str = "warning",
) -> bool:
    """Serve until interrupted (False if the server could not start). ``port=0`` takes a free
    port; ``announce`` is told the address."""
    import uvicorn

    from . import workers as pool

    logging.getLogger("newsearch.serve").setLevel(logging.INFO)
    options: dict[str, Any] = {
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
        # Requests have no body and short query strings; anything bigger is not ours.
        "h11_max_incomplete_event_size": 64 * 1024,
        "timeout_graceful_shutdown": 5,
    }
    shared = workers > 1 and not pool.can_share_port()
    uconfig = uvicorn.Config(
        "newsearch.serve.app:app_from_env" if workers > 1 else create_app(config),
        host=host,
        port=port,
        workers=workers,
        factory=workers > 1,
        **options,
    )
    sockets = pool.bind(host, port, 1 if shared else workers, uconfig.backlog)
    bound = sockets[0].getsockname()
    shown = f"[{bound[0]}]" if sockets[0].family == socket.AF_INET6 else bound[0]
    watcher = start_watcher(watch_corpus, config.index, jobs) if watch_corpus else None
    try:
        announce(f"http://{shown}:{bound[1]}/")
        if workers == 1:
            server = uvicorn.Server(uconfig)
            server.run(sockets=sockets)
            return server.started
        os.environ[CONFIG_ENV] = config.to_env()
        if shared:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(uconfig, sockets=sockets).run()
            return True
        return pool.supervise(sockets, (CONFIG_ENV, config.to_env()), options)
    finally:
        for sock in sockets:
            sock.close()
        if watcher is not None:
            stop(watcher)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
