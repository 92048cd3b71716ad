"""The ASGI application: the JSON API, the page, the OpenAPI document and the static files.

Each handler parses the request, makes one library call on the process's ``LiveIndex`` and
renders the result: JSON through ``serialize`` (the same objects as ``--json``), HTML through
the templates of ``pages``. Errors are answered as JSON (API) or as a page, with a message and a
fitting status, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import serialize
from ..errors import NewsearchError
from . import openapi, pages
from .live import LiveIndex
from .params import (
    BadRequest,
    Params,
    integer,
    post_path,
    search_request,
    status_of,
    suggest_request,
)

log = logging.getLogger("newsearch.serve")

HERE = os.path.dirname(os.path.abspath(__file__))
#: The environment variable that carries the configuration to worker processes (--workers).
CONFIG_ENV = "NEWSEARCH_SERVE_CONFIG"

#: The page runs only its own script and style, talks only to this server, and cannot be framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class ServeConfig:
    """What ``newsearch serve`` was asked for; the same in every worker process."""

    index: str
    cors_origins: tuple[str, ...] = ()
    site_url: str | None = None

    def to_env(self) -> str:
        return json.dumps(
            {"index": self.index, "cors_origins": self.cors_origins, "site_url": self.site_url}
        )

    @classmethod
    def from_env(cls) -> ServeConfig:
        data = json.loads(os.environ[CONFIG_ENV])
        return cls(data["index"], tuple(data["cors_origins"]), data["site_url"])


# --- answers -------------------------------------------------------------------------------------


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return serialize.dumps(content)


def error_json(status: int, message: str) -> Response:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSON({"error": message, "status": status}, status_code=status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def api(fn: Callable[[Request, LiveIndex], Any]) -> Handler:
    """An API endpoint: ``fn`` returns a dataclass (or plain data) to send as JSON."""

    async def endpoint(request: Request) -> Response:
        live: LiveIndex = request.app.state.live
        try:
            # The library call runs on the event loop: a SearchIndex serialises its calls
            # anyway, and a thread hop per request would cost more than it saves.
            return JSON(fn(request, live))
        except (BadRequest, NewsearchError) as exc:
            return error_json(status_of(exc), str(exc))

    return endpoint


# --- the API -------------------------------------------------------------------------------------


def api_search(request: Request, live: LiveIndex) -> Any:
    req = search_request(request.query_params.multi_items())
    return live.get().search(req.q, **req.kwargs())


def api_suggest(request: Request, live: LiveIndex) -> Any:
    prefix, limit = suggest_request(request.query_params.multi_items())
    return live.get().suggest(prefix, limit=limit)


def api_post(request: Request, live: LiveIndex) -> Any:
    return live.get().get(post_path(request.path_params["path"]))


def api_similar(request: Request, live: LiveIndex) -> Any:
    limit = integer(Params(request.query_params.multi_items()), "limit", 10, 1, 100)
    return live.get().similar(post_path(request.path_params["path"]), limit=limit)


def api_info(request: Request, live: LiveIndex) -> Any:
    return live.get().info()


async def openapi_json(request: Request) -> Response:
    return JSON(request.app.state.openapi)


# --- errors and headers --------------------------------------------------------------------------


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if _is_api(request):
        message = {404: "no such endpoint", 405: "only GET is allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        response = error_json(exc.status_code, message)
    else:
        response = pages.error_page(request, exc.status_code, str(exc.detail))
    response.headers.update(headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    # A bug: logged with its traceback on the server's side, a message without it for the client.
    log.error("error answering %s", request.url.path, exc_info=exc)
    message = f"internal error ({type(exc).__name__}); see the server's log"
    if _is_api(request):
        return error_json(500, message)
    return pages.error_page(request, 500, message)


class SecurityHeaders:
    """Headers on every answer: a Content-Security-Policy for pages, no MIME sniffing."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                ]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- the application -----------------------------------------------------------------------------


def create_app(config: ServeConfig) -> Starlette:
    """The application serving ``config.index``."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        app.state.live.close()

    routes = [
        Route("/", pages.search_page, methods=["GET"]),
        Route("/posts/{path:path}", pages.post_page, methods=["GET"]),
        Route("/api/search", api(api_search), methods=["GET"]),
        Route("/api/suggest", api(api_suggest), methods=["GET"]),
        Route("/api/posts/{path:path}", api(api_post), methods=["GET"]),
        Route("/api/similar/{path:path}", api(api_similar), methods=["GET"]),
        Route("/api/info", api(api_info), methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET"],
                max_age=3600,
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.live = LiveIndex(config.index)
    app.state.config = config
    app.state.openapi = openapi.document()
    app.state.templates = pages.environment()
    return app


def app_from_env() -> Starlette:
    """The application of a worker process (``--workers``), configured by its parent."""
    return create_app(ServeConfig.from_env())
