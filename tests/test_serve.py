"""The HTTP API and the page, through a real HTTP client against ``newsearch serve`` running as
a subprocess on a free loopback port: every endpoint, every error, the same JSON as ``--json``,
commits seen without a restart, and requests that never fail while the index is written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import write_post
from serving import FIRST, IMG_TITLE, SCRIPT_TITLE, Server, make_site, newsearch, serving

pytestmark = pytest.mark.integration  # a real server in a subprocess, and the CLI


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("serve")
    corpus = make_site(work)
    index = work / "index"
    built = newsearch("index", corpus, "--index", index, "--quiet")
    assert built.returncode == 0, built.stderr
    return corpus, index


@pytest.fixture(scope="module")
def server(site: tuple[Path, Path]) -> Any:
    _, index = site
    with serving("--index", index) as s:
        yield s


def cli_json(index: Path, command: str, *args: object) -> Any:
    result = newsearch(command, "--index", index, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- the same JSON as --json ----------------------------------------------------------------


SEARCHES: list[tuple[dict[str, Any], list[str]]] = [
    ({"q": "工业经济"}, ["search", "工业经济"]),
    ({"q": "工业 经济", "limit": 3, "page": 2}, ["search", "工业", "经济", "-n", "3", "-p", "2"]),
    (
        {"q": "疫情 OR 防控", "category": "xinwenlianbo", "until": "2022-05-15", "facets": "true"},
        ["search", "疫情", "OR", "防控", "-c", "xinwenlianbo", "--until", "2022-05-15", "--facets"],
    ),
    (
        {"q": '"稳住经济大盘"', "since": "2022-05", "sort": "newest"},
        ["search", '"稳住经济大盘"', "--since", "2022-05", "--sort", "newest"],
    ),
    ({"q": "title:工信部"}, ["search", "title:工信部"]),
    (
        {"category": ["emnews", "cailianshe"], "sort": "oldest", "limit": 5},
        ["search", "-c", "emnews", "-c", "cailianshe", "--sort", "oldest", "-n", "5"],
    ),
    (
        {"tag": "财联社新闻", "q": "工业经济 -证监会"},
        ["search", "-t", "财联社新闻", "--", "工业经济", "-证监会"],
    ),
    ({"q": "火星殖民"}, ["search", "火星殖民"]),
    (
        {"q": "工信部为什么召开电视电话会议", "explain": "true", "limit": 3},
        ["search", "工信部为什么召开电视电话会议", "--explain", "-n", "3"],
    ),
]


@pytest.mark.parametrize(("params", "args"), SEARCHES, ids=[" ".join(a[1]) for a in SEARCHES])
def test_search_is_the_json_of_the_cli(
    server: Server, site: tuple[Path, Path], params: dict[str, Any], args: list[str]
) -> None:
    _, index = site
    assert server.json("/api/search", **params) == cli_json(index, *args)


def test_explain_gives_each_hit_the_parts_of_its_score(server: Server) -> None:
    plain = server.json("/api/search", q="工信部为什么召开电视电话会议", limit=3)
    data = server.json("/api/search", q="工信部为什么召开电视电话会议", limit=3, explain="true")
    assert [h["path"] for h in data["hits"]] == [h["path"] for h in plain["hits"]]
    assert all("explain" not in h for h in plain["hits"])
    for hit in data["hits"]:
        tree = hit["explain"]
        assert tree["description"] and tree["details"]
        assert abs(tree["value"] - hit["score"]) < 1e-3


def test_post_similar_and_info_are_the_json_of_the_cli(
    server: Server, site: tuple[Path, Path]
) -> None:
    _, index = site
    post = server.json(f"/api/posts/{FIRST}")
    assert post == cli_json(index, "show", FIRST)
    assert (
        post["title"].startswith("工信部召开提振工业经济电视电话会议") and len(post["text"]) > 500
    )
    like = server.json(f"/api/similar/{FIRST}", limit=3)
    assert like == cli_json(index, "similar", FIRST, "-n", "3")
    assert (
        like["terms"] and len(like["hits"]) == 3 and FIRST not in [h["path"] for h in like["hits"]]
    )
    assert server.json("/api/info") == cli_json(index, "info")


def test_search_results_have_the_documented_shape(server: Server) -> None:
    data = server.json("/api/search", q="工业经济", facets="true", limit=2)
    assert list(data) == ["query", "total", "page", "limit", "pages", "hits", "facets"]
    hit = data["hits"][0]
    assert list(hit)[:10] == [
        "rank",
        "path",
        "title",
        "date",
        "categories",
        "tags",
        "url",
        "source_url",
        "score",
        "match",
    ]
    assert hit["path"] == FIRST and hit["match"] == "literal"
    for start, end in hit["highlights"]:
        assert hit["snippet"][start:end] in ("工业经济", "工业", "经济")
    assert data["facets"]["category"]["cailianshe"] == 1
    assert "terms" not in data


# --- errors ---------------------------------------------------------------------------------


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert "Traceback" not in response.text and body["error"]
    return str(body["error"])


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": "经济", "since": "2022-13"}, "use YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"q": "经济", "until": "0999"}, "use YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"q": "经济", "until": "2022-02-30"}, "day is out of range"),
        ({"q": "经济", "since": "yesterday"}, "use YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"q": "经济", "since": "2022-06", "until": "2022-05"}, "after"),
        ({"q": "经济", "sort": "newset"}, "sort must be one of relevance, newest, oldest"),
        ({"q": "经济", "page": "0"}, "page must be a whole number from 1 to 100000"),
        ({"q": "经济", "page": "two"}, "page must be a whole number"),
        ({"q": "经济", "limit": "101"}, "limit must be a whole number from 1 to 100"),
        ({"q": "经济", "facets": "maybe"}, "facets must be true or false"),
        ({"q": "经济" * 251}, "q is at most 500 characters long"),
        ({"q": ["经济", "工业"]}, "q is given 2 times"),
        ({"category": [f"c{i}" for i in range(21)]}, "at most 20 values of category"),
    ],
)
def test_bad_parameters_are_400_with_a_message(
    server: Server, params: dict[str, Any], says: str
) -> None:
    assert says in _error(server.get("/api/search", **params), 400)


def test_unknown_posts_and_paths_outside_the_index_are_404(server: Server) -> None:
    assert "no post with path 'none.md'" in _error(server.get("/api/posts/none.md"), 404)
    assert "no post" in _error(server.get("/api/similar/none.md"), 404)
    # The path is looked up in the index, never opened: nothing outside it can be reached.
    for path in (
        "../../../../etc/passwd",
        "%2Fetc%2Fpasswd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "corpus/" + FIRST,
    ):
        response = server.client.get(f"/api/posts/{path}")
        assert response.status_code == 404, path
        assert "root:" not in response.text
    assert "limit must be" in _error(server.get(f"/api/similar/{FIRST}", limit="0"), 400)
    assert "at most 1000 characters" in _error(server.get("/api/posts/" + "a" * 1001), 400)


def test_unknown_endpoints_and_methods(server: Server) -> None:
    assert _error(server.get("/api/nothing"), 404) == "no such endpoint"
    assert _error(server.client.post("/api/search", data={"q": "x"}), 405) == "only GET is allowed"
    assert _error(server.client.delete(f"/api/posts/{FIRST}"), 405)
    page = server.get("/no/such/page")
    assert page.status_code == 404 and "找不到页面" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_no_index_is_503_until_one_is_built(tmp_path: Path, site: tuple[Path, Path]) -> None:
    corpus, _ = site
    index = tmp_path / "later"
    with serving("--index", index) as s:
        for path in (
            "/api/search?q=经济",
            "/api/info",
            f"/api/posts/{FIRST}",
            f"/api/similar/{FIRST}",
        ):
            response = s.client.get(path)
            assert "no index in" in _error(response, 503)
            assert response.headers["retry-after"] == "5"
        page = s.get("/", q="经济")
        assert page.status_code == 503 and "索引尚未就绪" in page.text
        assert s.get("/").status_code == 200  # the empty form needs no index
        built = newsearch("index", corpus, "--index", index, "--quiet")
        assert built.returncode == 0, built.stderr
        assert s.json("/api/search", q="工业经济")["hits"][0]["path"] == FIRST
        assert s.json("/api/info")["posts"] > 600


# --- live: commits seen without a restart, requests that never fail ---------------------------


def test_a_commit_is_seen_by_the_next_request(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_post(corpus, "2022-05-01-a.md", "第一篇", "稳经济一揽子政策")
    index = tmp_path / "index"
    assert newsearch("index", corpus, "--index", index, "-q").returncode == 0
    with serving("--index", index) as s:
        assert s.json("/api/search", q="火星基地")["total"] == 0
        write_post(corpus, "2022-05-02-b.md", "第二篇", "火星基地建设启动")
        assert newsearch("index", corpus, "--index", index, "-q").returncode == 0
        found = s.json("/api/search", q="火星基地")
        assert [h["path"] for h in found["hits"]] == ["2022-05-02-b.md"]
        assert s.json("/api/posts/2022-05-02-b.md")["title"] == "第二篇"
        (corpus / "2022-05-02-b.md").unlink()
        assert newsearch("index", corpus, "--index", index, "-q").returncode == 0
        assert s.json("/api/search", q="火星基地")["total"] == 0
        _error(s.get("/api/posts/2022-05-02-b.md"), 404)
        # A rebuild from scratch, too.
        write_post(corpus, "2022-05-03-c.md", "第三篇", "火星基地再次启动")
        assert newsearch("index", corpus, "--index", index, "-q", "--rebuild").returncode == 0
        assert s.json("/api/search", q="火星基地")["total"] == 1


def test_requests_never_fail_while_commits_and_merges_happen(
    tmp_path: Path, finews_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(finews_dir, corpus)
    index = tmp_path / "index"
    assert newsearch("index", corpus, "--index", index, "-q").returncode == 0
    statuses: list[int] = []
    totals: set[int] = set()
    stop = threading.Event()

    def hammer(s: Server) -> None:
        with httpx.Client(base_url=s.url, timeout=30, trust_env=False) as client:
            while not stop.is_set():
                for path in ("/api/search?q=人民币", "/api/info", "/?q=人民币"):
                    r = client.get(path)
                    statuses.append(r.status_code)
                    if path.startswith("/api/search") and r.status_code == 200:
                        totals.add(r.json()["total"])

    with serving("--index", index, "--workers", "2") as s:
        first = s.json("/api/search", q="人民币")["total"]
        clients = [threading.Thread(target=hammer, args=(s,)) for _ in range(3)]
        for t in clients:
            t.start()
        try:
            for i in range(4):
                write_post(
                    corpus, f"new/2022-05-0{i + 1}-n.md", f"新增{i}", "人民币汇率 " * (i + 1)
                )
                args = ["index", corpus, "--index", index, "-q", "--jobs", "1"]
                if i == 3:
                    args.append("--optimize")  # merges every segment into one
                assert newsearch(*args).returncode == 0
        finally:
            stop.set()
            for t in clients:
                t.join()
        final = s.json("/api/search", q="人民币")["total"]
        assert s.json("/api/info")["segments"] == 1
    assert len(statuses) > 30 and set(statuses) == {200}, set(statuses)
    assert final == first + 4
    assert len(totals) > 1  # commits were seen while the requests ran


# --- safety: loopback, CORS, headers, bounds --------------------------------------------------


def test_default_binds_loopback_only(server: Server) -> None:
    assert server.url.startswith("http://127.0.0.1:")


def test_cors_only_for_the_origins_given(site: tuple[Path, Path], server: Server) -> None:
    _, index = site
    blog = "https://blog.example.com"
    plain = server.get("/api/search", q="经济", limit=1)
    assert "access-control-allow-origin" not in plain.headers
    with serving(
        "--index", index, "--cors-origin", blog, "--cors-origin", "http://localhost:4000"
    ) as s:
        allowed = s.client.get("/api/search", params={"q": "经济"}, headers={"Origin": blog})
        assert allowed.headers["access-control-allow-origin"] == blog
        other = s.client.get(
            "/api/search", params={"q": "经济"}, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        preflight = s.client.options(
            "/api/search", headers={"Origin": blog, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == blog
        refused = s.client.options(
            "/api/search", headers={"Origin": blog, "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400
    bad = newsearch("serve", "--cors-origin", "blog.example.com", "--index", index)
    assert bad.returncode == 2 and "is not an origin" in bad.stderr


def test_pages_carry_a_content_security_policy(server: Server) -> None:
    page = server.get("/", q="工业经济")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # Nothing on the page comes from elsewhere: every src and href is on this server, or a
    # plain link to a post's source.
    assert '<script src="/static/app.js"' in page.text
    assert "//" not in page.text.split("<body>")[0].replace("http://www.w3.org", "")
    for name in ("app.js", "style.css", "favicon.svg"):
        assert server.get(f"/static/{name}").status_code == 200
    assert server.get("/static/../app.py").status_code == 404


def test_post_text_never_becomes_markup(server: Server) -> None:
    page = server.get("/", q="工业经济", category="evil")
    assert page.status_code == 200
    html = page.text
    assert (
        "<script>alert" not in html and "<img src=x" not in html and "onmouseover=alert" not in html
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "<mark>工业经济</mark>" in html
    data = server.json("/api/search", q="工业经济", category="evil")
    assert {h["title"] for h in data["hits"]} == {SCRIPT_TITLE, IMG_TITLE}
    post = server.get("/posts/evil/2022-05-30-img.md", q="粗体")
    assert post.status_code == 200
    assert "<b onmouseover" not in post.text and "<mark>粗体</mark>" in post.text
    assert "&lt;img src=x onerror=alert(5)&gt;" in post.text and "<img src=x" not in post.text


def test_the_page_is_the_search(server: Server) -> None:
    page = server.get("/", q="工业经济", category="emnews", page="1", sort="newest")
    html = page.text
    assert page.status_code == 200 and 'value="工业经济"' in html
    total = server.json("/api/search", q="工业经济", category="emnews")["total"]
    assert total > 1 and f'共 <strong id="total">{total}</strong> 条结果' in html
    assert '<option value="newest" selected>' in html
    assert "分类 emnews ×" in html  # the active filter, with a link that removes it
    first = server.get("/", q="工业经济")
    pages = server.json("/api/search", q="工业经济")["pages"]
    assert (
        f"第 1 / {pages} 页" in first.text
        and 'href="/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E&amp;page=2"' in first.text
    )
    assert (
        'href="/?q=%E5%B7%A5%E4%B8%9A%E7%BB%8F%E6%B5%8E&amp;since=2022-05&amp;until=2022-05"'
        in first.text
    )
    bad = server.get("/", q="经济", until="2022-02-30")
    assert (
        bad.status_code == 400 and "day is out of range" in bad.text and "Traceback" not in bad.text
    )
    post = server.get(f"/posts/{FIRST}", q="工业经济")
    assert (
        post.status_code == 200 and "<mark>工业经济</mark>" in post.text and "相似文章" in post.text
    )
    assert server.get("/posts/none.md").status_code == 404


def test_search_does_not_load_the_web_stack(site: tuple[Path, Path]) -> None:
    _, index = site
    code = (
        "import sys\n"
        "from newsearch.cli import main\n"
        "try:\n"
        f"    main(['search', '工业经济', '--index', {str(index)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "web = {'starlette', 'uvicorn', 'jinja2', 'watchfiles', 'httpx', 'anyio'}\n"
        "web.add('newsearch.serve')\n"
        "print(sorted(m for m in sys.modules if m in web or m.split('.')[0] in web))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_port_in_use_is_one_line(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    for workers in ("1", "2"):
        result = newsearch("serve", "--port", port, "--workers", workers, timeout=60)
        assert result.returncode == 1
        assert result.stderr == f"Error: Address already in use: 127.0.0.1:{port}\n"


def test_site_url_links_results_to_the_site(site: tuple[Path, Path]) -> None:
    _, index = site
    with serving("--index", index, "--site-url", "https://blog.example.com/") as s:
        html = s.get("/", q="工业经济").text
        link = 'href="https://blog.example.com/cailianshe/2022/05/27/NW202205272394760297.html"'
        assert link in html
        assert link in s.get(f"/posts/{FIRST}").text
    bad = newsearch("serve", "--site-url", "javascript:alert(1)", "--index", index)
    assert bad.returncode == 2 and "--site-url" in bad.stderr
    lone = newsearch("serve", "--corpus", "corpus", "--index", index)
    assert lone.returncode == 2 and "--corpus is the folder to watch" in lone.stderr
