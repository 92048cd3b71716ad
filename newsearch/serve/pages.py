"""The search page and the post page, rendered on the server with Jinja2.

The page works without JavaScript: the address holds the whole search (``/?q=…&category=…``),
every filter, facet and page is a link, the form is a GET form. ``static/app.js`` only makes it
quicker (search as you type, keyboard navigation). Text from posts is escaped everywhere; matches
are marked by wrapping escaped pieces in ``<mark>``, so post text never becomes HTML.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from ..errors import NewsearchError
from ..models import SearchResults
from .params import MAX_QUERY, BadRequest, SearchRequest, post_path, search_request, status_of

HERE = os.path.dirname(os.path.abspath(__file__))

SORT_LABELS = {"relevance": "相关度", "newest": "最新", "oldest": "最早"}
MATCH_LABELS = {"some words": "部分匹配", "pinyin": "拼音匹配", "synonym": "同义词匹配"}
STATUS_TITLES = {
    400: "请求有误",
    404: "找不到页面",
    405: "不支持的请求",
    500: "服务器出错",
    503: "索引尚未就绪",
}

# Characters that must not reach the page as they are: C0/C1 controls (tab and newline kept),
# lone surrogates (not encodable) and bidi overrides (they can make text read backwards). Each
# becomes one character, so highlight offsets stay valid.
_UNSAFE = {c: "\ufffd" for c in range(0x20) if c not in (9, 10)}
_UNSAFE.update({c: "\ufffd" for c in range(0x7F, 0xA0)})
_UNSAFE.update({c: "\ufffd" for c in range(0xD800, 0xE000)})
_UNSAFE.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def clean(text: str) -> str:
    return text.translate(_UNSAFE)


def marked(text: str, spans: Iterable[Iterable[int]] = ()) -> Markup:
    """``text`` escaped, with each span wrapped in ``<mark>`` (clamped, overlaps merged)."""
    text = clean(text or "")
    out: list[str] = []
    pos = 0
    n = len(text)
    for s, e in sorted(tuple(span) for span in spans):
        s, e = max(s, pos, 0), min(e, n)
        if e <= s:
            continue
        out.append(str(escape(text[pos:s])))
        out.append("<mark>" + str(escape(text[s:e])) + "</mark>")
        pos = e
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def post_href(path: str, q: str = "") -> str:
    href = "/posts/" + quote(clean(path), safe="/")
    return href + ("?" + urlencode({"q": q}) if q.strip() else "")


def safe_href(url: str | None) -> str | None:
    """A link only to the web (http, https): never ``javascript:`` or ``data:``."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def when(d: datetime | None, full: bool = False) -> str:
    if d is None:
        return "无日期"
    return d.strftime("%Y-%m-%d %H:%M" if full else "%Y-%m-%d")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(os.path.join(HERE, "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["marked"] = marked
    env.filters["clean"] = clean
    env.globals.update(
        post_href=post_href,
        safe_href=safe_href,
        when=when,
        SORT_LABELS=SORT_LABELS,
        MATCH_LABELS=MATCH_LABELS,
    )
    return env


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    env: Environment = request.app.state.templates
    html = env.get_template(name).render(site_url=request.app.state.config.site_url, **context)
    # Anything not encodable was made visible by clean(); "replace" is the last guard.
    return Response(
        html.encode("utf-8", "replace"),
        status_code=status,
        media_type="text/html; charset=utf-8",
    )


def error_page(request: Request, status: int, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"status": status, "heading": STATUS_TITLES.get(status, "出错了"), "message": message},
        status,
    )


# --- the search page -----------------------------------------------------------------------------


class Links:
    """Addresses of the same search with one thing changed: a facet, a page, a filter removed."""

    def __init__(self, req: SearchRequest):
        self.req = req

    def _items(self, **changes: Any) -> list[tuple[str, str]]:
        r = self.req
        values: dict[str, Any] = {
            "q": r.q,
            "category": list(r.categories),
            "tag": list(r.tags),
            "since": r.since or "",
            "until": r.until or "",
            "sort": "" if r.sort == "relevance" else r.sort,
            "page": "",
        }
        values.update(changes)
        items: list[tuple[str, str]] = []
        for key, value in values.items():
            for v in value if isinstance(value, list) else [value]:
                if v not in ("", None):
                    items.append((key, str(v)))
        return items

    def href(self, **changes: Any) -> str:
        items = self._items(**changes)
        return "/?" + urlencode(items) if items else "/"

    def page(self, n: int) -> str:
        return self.href(page="" if n == 1 else n)

    def category(self, name: str) -> str:
        return self.href(category=[name])

    def month(self, label: str) -> str:
        return self.href(since=label, until=label)

    def without(self, key: str, value: str | None = None) -> str:
        r = self.req
        if key == "category":
            return self.href(category=[c for c in r.categories if c != value])
        if key == "tag":
            return self.href(tag=[t for t in r.tags if t != value])
        if key == "dates":
            return self.href(since="", until="")
        return self.href(**{key: ""})


def page_numbers(page: int, pages: int) -> list[int | None]:
    """Pages to offer: the first, the last, and two either side of this one (None: a gap)."""
    wanted = {1, pages, *range(page - 2, page + 3)}
    out: list[int | None] = []
    for n in sorted(p for p in wanted if 1 <= p <= pages):
        if out and out[-1] is not None and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


async def search_page(request: Request) -> Response:
    try:
        req = search_request(request.query_params.multi_items(), facets=True)
    except BadRequest as exc:
        kept = SearchRequest(q=request.query_params.get("q", "")[:MAX_QUERY])
        return render(request, "search.html", _context(kept, None, str(exc)), 400)
    results: SearchResults | None = None
    if not req.is_empty:
        try:
            results = request.app.state.live.get().search(req.q, **req.kwargs())
        except NewsearchError as exc:
            status = status_of(exc)
            if status != 400:
                return error_page(request, status, str(exc))
            return render(request, "search.html", _context(req, None, str(exc)), status)
    return render(request, "search.html", _context(req, results))


def _context(req: SearchRequest, results: SearchResults | None, error: str = "") -> dict[str, Any]:
    return {
        "req": req,
        "results": results,
        "error": error,
        "links": Links(req),
        "pages": page_numbers(results.page, results.pages) if results else [],
        "sorts": SORT_LABELS,
    }


# --- the post page -------------------------------------------------------------------------------


async def post_page(request: Request) -> Response:
    q = request.query_params.get("q", "")[:MAX_QUERY]
    try:
        path = post_path(request.path_params["path"])
        ix = request.app.state.live.get()
        post = ix.get(path)
        similar = ix.similar(path, limit=5)
        title_spans = ix.highlight(post.title, q) if q.strip() else ()
        text_spans = ix.highlight(post.text, q) if q.strip() else ()
    except (BadRequest, NewsearchError) as exc:
        return error_page(request, status_of(exc), str(exc))
    return render(
        request,
        "post.html",
        {
            "post": post,
            "q": q,
            "title_spans": title_spans,
            "text_spans": text_spans,
            "marks": len(text_spans) + len(title_spans),
            "similar": similar,
            "back": Links(SearchRequest(q=q)).href() if q.strip() else "/",
        },
    )
