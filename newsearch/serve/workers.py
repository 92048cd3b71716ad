"""``--workers N``: N server processes, each with a listening socket of its own on the same port.

uvicorn's own ``--workers`` shares one socket between the processes, and an event loop takes
every connection waiting when it wakes: 16 keep-alive clients arriving together all land on one
worker (measured: 15 and 1, or 16 and 0), which then serves alone. With SO_REUSEPORT each
process has its own socket and the kernel spreads new connections over them. Where the system
has no SO_REUSEPORT, uvicorn's shared socket is used.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import time
from typing import Any

log = logging.getLogger("newsearch.serve")

#: A worker that dies sooner than this after it started is not started again: it would only
#: fail the same way (a broken install, an unusable index folder).
QUICK_DEATH = 5.0


def can_share_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port`` (port 0: one free port for all of them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    out: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:  # say which address: "Address already in use: host:port"
                raise OSError(exc.errno, exc.strerror, f"{host}:{port}") from exc
            port = sock.getsockname()[1]
            # Listening before the address is announced: a client that comes at once waits
            # for a worker to accept it instead of being refused while the workers start.
            sock.listen(backlog)
            sock.set_inheritable(True)
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out


def _worker(sock: socket.socket, config_env: tuple[str, str], options: dict[str, Any]) -> None:
    """One worker process: uvicorn on its own socket, the app configured by its parent."""
    from . import _die_with_parent

    _die_with_parent()
    import uvicorn

    os.environ[config_env[0]] = config_env[1]
    config = uvicorn.Config("newsearch.serve.app:app_from_env", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def supervise(
    sockets: list[socket.socket], config_env: tuple[str, str], options: dict[str, Any]
) -> bool:
    """Run a worker per socket until SIGINT or SIGTERM; start again a worker that dies.

    False if a worker stopped as soon as it started (its own message says why)."""
    ctx = mp.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def start(sock: socket.socket) -> tuple[Any, float]:
        process = ctx.Process(target=_worker, args=(sock, config_env, options), daemon=False)
        process.start()
        return process, time.monotonic()

    workers = [start(sock) for sock in sockets]
    failed = False
    try:
        while not stopping:
            for i, (process, started) in enumerate(workers):
                process.join(0.2)
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < QUICK_DEATH:
                    log.error(
                        "worker %s stopped at once (exit %s): stopping",
                        process.pid,
                        process.exitcode,
                    )
                    stopping = failed = True
                    break
                log.warning(
                    "worker %s died (exit %s): starting another", process.pid, process.exitcode
                )
                workers[i] = start(sockets[i])
    finally:
        for process, _ in workers:
            if process.is_alive():
                process.terminate()
        for process, _ in workers:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return not failed
