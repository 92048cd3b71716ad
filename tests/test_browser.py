"""The page in real headless Chromium (Debian's ``chromium``, driven by Playwright): typing a
query, highlighted results, facets, paging, a post and back again; posts whose titles are
markup and script show as text and run nothing; the page without JavaScript, on a phone, by
keyboard. Marked ``browser`` (run with ``pytest -m browser``; ``.ci/run`` does)."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from serving import (
    FIRST,
    IMG_TITLE,
    SCRIPT_TITLE,
    Server,
    serving,
    site_index,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return site_index(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(index: Path) -> Iterator[Server]:
    with serving("--index", index) as s:
        yield s


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    assert Path(CHROMIUM).is_file(), "Chromium expected: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(p: Any, profile: Path, **options: Any) -> Any:
    """Debian's Chromium with a fresh user-data-dir (never a browser of Playwright's own)."""
    return p.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 1200, "height": 900},
        locale="zh-CN",
        **options,
    )


@pytest.fixture(scope="module")
def chromium(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


class Watched:
    """A page, with what it did that it must not: dialogs, errors, requests to other hosts."""

    def __init__(self, page: Any, origin: str):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request",
            lambda r: r.url.startswith((origin, "data:")) or self.elsewhere.append(r.url),
        )

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert self.elsewhere == [], self.elsewhere


@pytest.fixture()
def tab(chromium: Any, server: Server) -> Iterator[Watched]:
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page, server.url)
    yield watched
    page.close()
    watched.check()


def hit_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#results .hit a.title").all_inner_texts()]


def test_type_a_query_and_see_highlighted_results(
    tab: Watched,
    server: Server,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = tab.page
    page.goto(server.url + "/")
    box = page.locator("#q")
    assert box.evaluate("el => el === document.activeElement")  # ready to type into
    box.press_sequentially("工业经济", delay=60)
    page.wait_for_url(re.compile(r"\?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E$"))
    page.locator("#results .hit").first.wait_for()
    assert hit_titles(page)[0].startswith("工信部召开提振工业经济电视电话会议")
    marks = page.locator("#results .hit").first.locator("mark").all_inner_texts()
    assert "工业经济" in marks
    total = server.json("/api/search", q="工业经济")["total"]
    assert page.locator("#total").inner_text() == str(total)
    assert page.locator(".facets a", has_text="xinwenlianbo").count() == 1
    shots = tmp_path_factory.getbasetemp() / "screenshots"
    shots.mkdir(exist_ok=True)
    path = shots / "results.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of the results page: {path}")


def test_facet_paging_a_post_and_back(tab: Watched, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E")
    page.locator(".facets a", has_text="xinwenlianbo").click()
    page.wait_for_url(re.compile(r"category=xinwenlianbo"))
    expected = server.json("/api/search", q="工业经济", category="xinwenlianbo")
    page.wait_for_function(
        "n => document.getElementById('total')?.textContent === n", arg=str(expected["total"])
    )
    cats = page.locator("#results .hit .cat").all_inner_texts()
    assert cats and set(cats) == {"xinwenlianbo"}
    assert page.locator(".active .chip").inner_text().startswith("分类 xinwenlianbo")

    page.locator(".pager a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    page.wait_for_selector("#results ol.hits[start='11']")
    second = server.json("/api/search", q="工业经济", category="xinwenlianbo", page=2)
    assert hit_titles(page)[0] == (second["hits"][0]["title"] or "（无标题）")
    page_two = page.url

    page.locator("#results .hit a.title").first.click()
    page.wait_for_url(re.compile(r"/posts/"))
    assert page.locator("article .text mark").count() > 0
    assert "相似文章" in page.locator("aside.similar h2").inner_text()
    assert page.locator("aside.similar li").count() == 5

    page.go_back()
    page.wait_for_url(page_two)
    page.wait_for_selector("#results ol.hits[start='11']")
    page.go_back()
    page.wait_for_url(re.compile(r"category=xinwenlianbo$"))
    page.wait_for_selector("#results ol.hits[start='1']")
    page.go_forward()
    page.wait_for_url(page_two)
    page.wait_for_selector("#results ol.hits[start='11']")


def test_dates_and_sort_change_the_search(tab: Watched, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/?q=%E7%BB%8F%E6%B5%8E")
    page.fill("input[name=since]", "2022-05-20")
    page.locator("input[name=since]").dispatch_event("change")
    page.wait_for_url(re.compile(r"since=2022-05-20"))
    page.select_option("select[name=sort]", "newest")
    page.wait_for_url(re.compile(r"sort=newest"))
    page.wait_for_function("() => document.querySelector('.active .chip')")
    dates = page.locator("#results .hit time").all_inner_texts()
    assert dates and dates == sorted(dates, reverse=True) and min(dates) >= "2022-05-20"


def test_markup_in_posts_shows_as_text_and_runs_nothing(tab: Watched, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E&category=evil")
    titles = hit_titles(page)
    assert sorted(titles) == sorted([SCRIPT_TITLE, IMG_TITLE])
    assert page.locator("#results img").count() == 0
    assert page.locator("script").count() == 1  # app.js, nothing else
    page.locator("#results a.title", has_text="<img").click()
    page.wait_for_url(re.compile(r"/posts/evil/"))
    assert page.locator("h1").inner_text() == IMG_TITLE
    assert "<img src=x onerror=alert(5)> 图片" in page.locator("article .text").inner_text()
    assert page.locator("article b, article img").count() == 0
    # A query that is markup is shown as typed, too.
    page.goto(server.url + "/")
    page.locator("#q").press_sequentially("<script>alert(9)</script>", delay=20)
    page.wait_for_url(re.compile(r"q=%3Cscript"))
    page.locator("#results .summary").wait_for()
    assert page.locator("script").count() == 1
    page.wait_for_timeout(300)  # a dialog, had any script run, would have opened by now


def test_the_page_works_without_javascript(playwright: Any, server: Server, tmp_path: Path) -> None:
    context = launch(playwright, tmp_path / "profile", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.fill("#q", "工业经济")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r"q=%E5%B7%A5"))
        assert hit_titles(page)[0].startswith("工信部召开提振工业经济")
        page.locator(".facets a", has_text="emnews").click()
        page.wait_for_url(re.compile(r"category=emnews"))
        assert set(page.locator("#results .hit .cat").all_inner_texts()) == {"emnews"}
        page.fill("input[name=since]", "2021-12")
        page.locator("#form-state button").click()  # shown only without JavaScript
        page.wait_for_url(re.compile(r"since=2021-12"))
        assert page.locator(".active .chip", has_text="日期").count() == 1
        assert "category=emnews" in page.url  # the filter is kept by the form
    finally:
        context.close()


def test_keyboard_navigation(tab: Watched, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == hit_titles(page)[1]
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.textContent") == hit_titles(page)[0]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/posts/finews/"))
    assert FIRST.split("/")[1] in page.url


def test_suggestions_as_you_type_and_did_you_mean(tab: Watched, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/")
    box = page.locator("#q")
    box.press_sequentially("gongxinb", delay=60)
    options = page.locator("#suggestions li")
    options.first.wait_for()
    expected = [
        s["text"] for s in server.json("/api/suggest", q="gongxinb", limit=8)["suggestions"]
    ]
    assert expected[0] == "工信部"
    assert [t.strip() for t in page.locator("#suggestions li .text").all_inner_texts()] == expected
    assert box.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == "suggestion-0"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=%E5%B7%A5%E4%BF%A1%E9%83%A8$"))
    assert box.input_value() == "工信部"
    assert page.locator("#suggestions").is_hidden()
    page.locator("#results .hit").first.wait_for()
    assert "工信部" in page.locator("#results .hit").first.locator("mark").all_inner_texts()
    # Escape closes them; a typo offers its variant as a link, never searched instead.
    box.fill("")
    box.press_sequentially("工信", delay=60)
    options.first.wait_for()
    page.keyboard.press("Escape")
    assert page.locator("#suggestions").is_hidden()
    wanted = server.json("/api/search", q="工信不")["suggestion"]
    assert wanted
    page.goto(server.url + "/?q=%E5%B7%A5%E4%BF%A1%E4%B8%8D")
    offer = page.locator("#did-you-mean")
    assert "您是不是要找" in offer.inner_text() and offer.locator("a").inner_text() == wanted
    assert box.input_value() == "工信不"
    offer.locator("a").click()
    page.wait_for_url(re.compile(r"\?q=%E5%B7%A5%E4%BF%A1%E9%83%A8$"))


def test_readable_on_a_phone(chromium: Any, server: Server) -> None:
    page = chromium.new_page()
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(server.url + "/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing sticks out sideways
        box = page.locator("#q").bounding_box()
        assert box and box["width"] > 200
        facets = page.locator(".facets").bounding_box()
        first = page.locator("#results .hit").first.bounding_box()
        assert facets and first and facets["y"] < first["y"]  # facets above the results
        size = page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.snippet')).fontSize)"
        )
        assert size >= 14
    finally:
        page.close()


def readme_snippet() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### A search box on a Jekyll site") :]
    snippet: str = re.findall(r"```html\n(.*?)```", section, re.S)[0]
    return snippet


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """A plain web server for ``folder`` on another loopback port: another origin."""
    folder.mkdir(parents=True, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def blog_page(folder: Path, api: str) -> None:
    snippet = readme_snippet()
    assert 'const NEWSEARCH = "http://127.0.0.1:8080";' in snippet
    (folder / "index.html").write_text(
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>博客</title>'
        '<link rel="icon" href="data:,">'
        "<body><h1>我的博客</h1>"
        + snippet.replace("http://127.0.0.1:8080", api)
        + "</body></html>",
        encoding="utf-8",
    )


def test_the_readme_snippet_searches_from_a_jekyll_site(
    chromium: Any, index: Path, server: Server, tmp_path: Path
) -> None:
    with static_site(tmp_path / "blog") as blog:
        with serving("--index", index, "--cors-origin", blog) as api:
            blog_page(tmp_path / "blog", api.url)
            page = chromium.new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            try:
                page.goto(blog + "/")
                page.fill("#ns-search input[name=q]", "工业经济")
                page.press("#ns-search input[name=q]", "Enter")
                page.locator("#ns-results li").first.wait_for()
                first = page.locator("#ns-results li a").first
                assert first.inner_text().startswith("工信部召开提振工业经济")
                href = first.get_attribute("href")
                assert href == "/cailianshe/2022/05/27/NW202205272394760297.html"
                assert "工业经济" in page.locator("#ns-results li mark").all_inner_texts()
                evil = page.locator("#ns-results li a", has_text="<script>")
                assert evil.count() == 1 and page.locator("#ns-results script").count() == 0
                assert errors == []
                # From the same page, a server without --cors-origin: the browser refuses.
                fetch = "url => fetch(url).then(r => 'read ' + r.status, e => 'refused: ' + e.name)"
                search = "/api/search?q=%E7%BB%8F%E6%B5%8E"
                assert page.evaluate(fetch, api.url + search) == "read 200"
                assert page.evaluate(fetch, server.url + search) == "refused: TypeError"
            finally:
                page.close()
