"""newsearch against the usual recipe, on the same posts, in one run.

The usual recipe is Whoosh with ``jieba.analyse.ChineseAnalyzer`` for the title and the body,
python-frontmatter to read the posts, and one writer. Both index the first N posts (sorted file
names) of the 新闻联播 archive; the script prints, for each N, indexing throughput, peak memory of
the whole process tree, index size, warm search latency over a fixed list of queries, and the cold
start of the ``newsearch search`` command on the bundled corpus, with newsearch's ratio to the
recipe. Run by hand (not in CI), on a quiet machine:

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python tests/bench/benchmark.py                 # N = 5000 and 36066
    .venv/bin/python tests/bench/benchmark.py --n 5000 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))
TARBALL = SHARED / "data" / "xwlb-posts.tar.gz"
BENCH = str(Path(__file__).resolve().parent)

#: Realistic queries: names, places, two-character words, four-character phrases, mixed
#: letters and digits, multi-word keywords, natural-language questions (about 20 characters;
#: ``question_latency.py`` compares their latency with the keywords'), single common words,
#: two-character pieces, phrases, OR and exclusions. The one list of the speed benchmarks
#: (``scale.py`` uses it too).
QUERIES = [
    "习近平",
    "李克强",
    "北京",
    "上海",
    "香港",
    "台湾",
    "美国",
    "中国",
    "经济",
    "航天",
    "新冠肺炎",
    "疫情防控",
    "乡村振兴",
    "一带一路",
    "脱贫攻坚",
    "粮食安全",
    "科技创新",
    "碳达峰",
    "冬奥会",
    "经济社会",
    "高质量发展",
    "十四五规划",
    "人类命运共同体",
    "国务院常务会议",
    "中共中央政治局",
    "新时代中国特色社会主义思想",
    "5G",
    "GDP",
    "2022年",
    "5G基站",
    "APEC会议",
    "长江经济带 生态保护",
    "抗击疫情 医护人员",
    "工信部为什么召开电视电话会议？",
    "今年粮食产量是多少",
    "中国空间站的航天员什么时候返回地球？",
    "冬奥会在北京和张家口哪些场馆举行比赛？",
    "为什么要推动长江经济带生态环境保护？",
    "国务院常务会议部署了哪些稳经济的措施？",
    "新冠肺炎疫情防控期间如何保障医护人员安全？",
    "乡村振兴战略对农民收入增长有什么作用？",
    # single common words: posting lists of a large share of the posts
    "发展",
    "会议",
    "工作",
    # two-character pieces inside or across words
    "近平",
    "业经",
    "济社",
    # phrases, OR and exclusions
    '"稳住经济大盘"',
    '"人类命运共同体" 合作',
    "疫情 OR 防控",
    "航天 OR 航空 OR 卫星",
    "经济 -疫情",
    "冬奥会 -北京",
]


# --- measuring ---------------------------------------------------------------------------------


class TreeMemory:
    """Peak memory of a process and all its descendants, sampled every 20 ms.

    ``peak`` sums the processes' proportional set sizes (PSS: a page shared by n processes
    counts 1/n in each, so memory shared by forked workers is counted once); ``peak_rss`` sums
    their resident sizes (shared pages counted in every process).
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            self.peak = max(self.peak, sum(_mem(p, "Pss:", "smaps_rollup") for p in pids))
            self.peak_rss = max(self.peak_rss, sum(_mem(p, "VmRSS:", "status") for p in pids))
            time.sleep(0.02)


def _tree(pid: int) -> list[int]:
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    out.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def _mem(pid: int, key: str, table: str) -> int:
    try:
        with open(f"/proc/{pid}/{table}") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_timed(args: list[str], cwd: Path | None = None) -> tuple[float, str]:
    """Run a command alone (no memory sampling); return wall seconds and its stdout."""
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def run_measured(args: list[str], cwd: Path | None = None) -> tuple[float, TreeMemory, str]:
    """Run a command; return wall seconds, its memory peaks, and its stdout.

    The sampler reads every process's smaps_rollup every 20 ms, which costs about a third of a
    core (the kernel walks each process's page tables: 1.9 s of CPU during a 6.7 s build of
    5,000 posts), taken from a build's two workers: indexing times come from runs of their own
    (``run_timed``).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    with TreeMemory(proc.pid) as mem:
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, mem, out


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --- the usual recipe --------------------------------------------------------------------------

NAIVE_INDEX = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[3])
    from whoosh import index
    from usual_recipe import read, schema

    corpus, folder = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    ix = index.create_in(folder, schema())
    writer = ix.writer()
    posts = text_bytes = 0
    for root, _, names in os.walk(corpus):
        for name in sorted(names):
            post = read(os.path.join(root, name))
            text_bytes += len(post["content"].encode("utf-8"))
            writer.add_document(path=os.path.join(root, name), **post)
            posts += 1
    writer.commit()
    print(json.dumps({"posts": posts, "text_bytes": text_bytes}))
    """
)

NAIVE_SEARCH = textwrap.dedent(
    """
    import json, sys, time, logging
    import jieba
    jieba.setLogLevel(logging.WARNING)
    from whoosh import index
    from whoosh.qparser import MultifieldParser

    folder, queries = sys.argv[1], json.loads(sys.argv[2])
    ix = index.open_dir(folder)
    parser = MultifieldParser(["title", "content"], ix.schema)
    out = {"first": [], "again": [], "totals": []}
    with ix.searcher() as searcher:
        def one(q):
            t = time.perf_counter()
            results = searcher.search(parser.parse(q), limit=10)
            titles = [hit["title"] for hit in results]
            total = len(results)
            return time.perf_counter() - t, total
        one("预热")
        for q in queries:
            el, total = one(q)
            out["first"].append(el)
            out["totals"].append(total)
        for q in queries:
            out["again"].append(one(q)[0])
    print(json.dumps(out))
    """
)

NEWSEARCH_INDEX = textwrap.dedent(
    """
    import json, sys, logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import newsearch
    report = newsearch.build_index(sys.argv[1], sys.argv[2], jobs=int(sys.argv[3]))
    print(json.dumps({"posts": report.total, "text_bytes": report.text_bytes,
                      "problems": len(report.problems)}))
    """
)

NEWSEARCH_SEARCH = textwrap.dedent(
    """
    import json, sys, time, logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import newsearch

    folder, queries = sys.argv[1], json.loads(sys.argv[2])
    out = {"first": [], "again": [], "totals": []}
    with newsearch.open_index(folder) as ix:
        def one(q):
            t = time.perf_counter()
            res = ix.search(q, limit=10)
            titles = [hit.title for hit in res]
            return time.perf_counter() - t, res.total
        one("预热")
        for q in queries:
            el, total = one(q)
            out["first"].append(el)
            out["totals"].append(total)
        for q in queries:
            out["again"].append(one(q)[0])
    print(json.dumps(out))
    """
)


# --- the run -----------------------------------------------------------------------------------


def prepare(n: int, scratch: Path, source: Path, name: str = "corpus") -> tuple[Path, int]:
    corpus = scratch / f"{name}-{n}"
    target = corpus / "xwlb"
    target.mkdir(parents=True)
    names = sorted(os.listdir(source))[:n]
    total = 0
    for name in names:
        shutil.copy2(source / name, target / name)
        total += (target / name).stat().st_size
    return corpus, total


def latency(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def index_figures(label: str, args: list[str], folder: Path) -> dict[str, Any]:
    """Indexing wall time (a run alone) and peak memory (the same build again, sampled)."""
    wall, out = run_timed(args)
    shutil.rmtree(folder)
    _, peak, _ = run_measured(args)
    figures = {
        "wall": wall,
        "peak": peak.peak,
        "rss": peak.peak_rss,
        "size": folder_size(folder),
        **json.loads(out),
    }
    print(f"{label} indexed in {wall:.1f} s", flush=True)
    return figures


def bench_n(
    n: int, jobs: int, scratch: Path, source: Path, recipe_cache: Path | None = None
) -> dict[str, object]:
    corpus, file_bytes = prepare(n, scratch, source)
    py = sys.executable
    print(f"\n== N = {n} posts ({file_bytes / 1e6:.1f} MB of post files) ==", flush=True)
    queries = json.dumps(QUERIES, ensure_ascii=False)

    cached = _recipe_cache(recipe_cache).get(str(n)) if recipe_cache else None
    if cached is not None:
        naive, naive_q = cached["index"], cached["search"]
        print(f"usual recipe: figures of an earlier run ({recipe_cache})", flush=True)
    else:
        naive_dir = scratch / f"naive-{n}"
        naive = index_figures(
            "usual recipe", [py, "-c", NAIVE_INDEX, str(corpus), str(naive_dir), BENCH], naive_dir
        )
        naive_q = json.loads(run_timed([py, "-c", NAIVE_SEARCH, str(naive_dir), queries])[1])
        if recipe_cache:
            stored = _recipe_cache(recipe_cache)
            stored[str(n)] = {"index": naive, "search": naive_q}
            recipe_cache.write_text(json.dumps(stored))

    ns_dir = scratch / f"newsearch-{n}"
    ns = index_figures(
        "newsearch", [py, "-c", NEWSEARCH_INDEX, str(corpus), str(ns_dir), str(jobs)], ns_dir
    )

    # Searches timed alone (the memory sampler would take CPU from them).
    ns_q = json.loads(run_timed([py, "-c", NEWSEARCH_SEARCH, str(ns_dir), queries])[1])

    rows = []

    def row(name: str, a: float, b: float, unit: str, better: str) -> None:
        ratio = b / a if a else float("nan")
        rows.append((name, f"{a:,.2f} {unit}", f"{b:,.2f} {unit}", f"{ratio:.2f}x", better))

    row("posts/s", naive["posts"] / naive["wall"], ns["posts"] / ns["wall"], "", "higher")
    row(
        "MB/s of post files",
        file_bytes / 1e6 / naive["wall"],
        file_bytes / 1e6 / ns["wall"],
        "",
        "higher",
    )
    row(
        "MB/s of text (each its own)",
        naive["text_bytes"] / 1e6 / naive["wall"],
        ns["text_bytes"] / 1e6 / ns["wall"],
        "",
        "higher",
    )
    row("index wall time", naive["wall"], ns["wall"], "s", "lower")
    row("peak memory (PSS, process tree)", naive["peak"] / 1e6, ns["peak"] / 1e6, "MB", "lower")
    row(
        "peak RSS summed (shared counted twice)", naive["rss"] / 1e6, ns["rss"] / 1e6, "MB", "lower"
    )
    row("index size", naive["size"] / 1e6, ns["size"] / 1e6, "MB", "lower")
    nm, np95 = latency(naive_q["first"])
    sm, sp95 = latency(ns_q["first"])
    row(f"search median ({len(QUERIES)} queries, first run)", nm, sm, "ms", "lower")
    row("search p95 (first run)", np95, sp95, "ms", "lower")
    nm2, np952 = latency(naive_q["again"])
    sm2, sp952 = latency(ns_q["again"])
    row("search median (second run)", nm2, sm2, "ms", "lower")
    row("search p95 (second run)", np952, sp952, "ms", "lower")
    empty_naive = sum(1 for t in naive_q["totals"] if t == 0)
    empty_ns = sum(1 for t in ns_q["totals"] if t == 0)
    _print_table(
        f"N = {n}: usual recipe vs newsearch (--jobs {jobs})",
        ("measure", "usual recipe", "newsearch", "ratio", "better"),
        rows,
    )
    print(
        f"queries with no result: usual recipe {empty_naive}, newsearch {empty_ns} "
        f"(of {len(QUERIES)})"
    )
    print(
        f"text: usual recipe counts the raw body ({naive['text_bytes'] / 1e6:.1f} MB), newsearch "
        f"the plain text it extracts ({ns['text_bytes'] / 1e6:.1f} MB); posts/s compares like "
        "for like"
    )
    return {"n": n, "naive": naive, "newsearch": ns}


RECALL = textwrap.dedent(
    """
    import json, logging, random, re, sys
    import jieba
    jieba.setLogLevel(logging.WARNING)
    from whoosh import index
    from whoosh.qparser import MultifieldParser
    import newsearch
    from newsearch.corpus import read_corpus

    corpus, naive_dir, ns_dir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    posts = read_corpus(corpus).posts
    rng = random.Random(7)
    han = re.compile(r"^[\u4e00-\u9fd5]+$")
    pieces = []
    while len(pieces) < n:
        post = rng.choice(posts)
        if len(post.text) < 10:
            continue
        size = rng.randint(2, 4)
        start = rng.randrange(len(post.text) - size)
        piece = post.text[start : start + size]
        if han.match(piece):
            pieces.append(piece)
    ix = index.open_dir(naive_dir)
    parser = MultifieldParser(["title", "content"], ix.schema)
    pairs = naive = found = 0
    with ix.searcher() as searcher, newsearch.open_index(ns_dir) as nix:
        for piece in pieces:
            truth = {p.path for p in posts if piece in p.text or piece in p.title}
            got = {h["path"] for h in searcher.search(parser.parse(piece), limit=None)}
            mine = {h.path for h in nix.search(piece, limit=None)}
            pairs += len(truth)
            naive += len({corpus + "/" + t for t in truth} & got)
            found += len(truth & mine)
    print(json.dumps({"pieces": len(pieces), "pairs": pairs, "naive": naive, "newsearch": found}))
    """
)


def _recipe_cache(path: Path) -> dict[str, Any]:
    """The usual recipe's figures of earlier runs, by N (``--recipe-cache``: for development
    only; a figure to quote comes from one run of both)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(scratch: Path, source: Path, posts: int = 300, pieces: int = 300) -> None:
    """How many posts containing a random piece of text each engine finds with that piece."""
    corpus, _ = prepare(posts, scratch, source, name="recall")
    py = sys.executable
    naive_dir, ns_dir = scratch / f"recall-naive-{posts}", scratch / f"recall-newsearch-{posts}"
    run_timed([py, "-c", NAIVE_INDEX, str(corpus), str(naive_dir), BENCH])
    run_timed([py, "-c", NEWSEARCH_INDEX, str(corpus), str(ns_dir), "1"])
    out = json.loads(
        run_timed([py, "-c", RECALL, str(corpus), str(naive_dir), str(ns_dir), str(pieces)])[1]
    )
    _print_table(
        f"substring recall: {out['pieces']} random 2-4 character Han pieces of {posts} posts, "
        f"{out['pairs']} (piece, post containing it) pairs",
        ("engine", "posts found", "share"),
        [
            ("usual recipe", str(out["naive"]), f"{out['naive'] / out['pairs']:.1%}"),
            ("newsearch", str(out["newsearch"]), f"{out['newsearch'] / out['pairs']:.1%}"),
        ],
    )


def cold_start(scratch: Path, runs: int = 7) -> None:
    """Median wall time of the whole `newsearch search QUERY` command on the bundled corpus."""
    work = scratch / "cold"
    shutil.copytree(ROOT / "corpus", work / "corpus")
    exe = shutil.which("newsearch", path=str(Path(sys.executable).parent)) or "newsearch"
    subprocess.run([exe, "index", "--quiet"], cwd=work, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "search", "工业经济"], cwd=work, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    floor = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        floor.append(time.perf_counter() - start)
    jieba_load = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import logging, jieba; jieba.setLogLevel(logging.WARNING); jieba.initialize()",
            ],
            check=True,
            capture_output=True,
        )
        jieba_load.append(time.perf_counter() - start)
    _print_table(
        "cold start (bundled corpus/, index built)",
        ("command", "median wall", "runs"),
        [
            ("newsearch search 工业经济", f"{statistics.median(times):.3f} s", str(runs)),
            ("python -c pass (interpreter floor)", f"{statistics.median(floor):.3f} s", str(runs)),
            (
                "python: import jieba + load its dictionary",
                f"{statistics.median(jieba_load):.3f} s",
                "3",
            ),
        ],
    )


def _print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(_width(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(_pad(h, w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * _width(line))
    for r in rows:
        print("  ".join(_pad(str(c), w) for c, w in zip(r, widths, strict=True)))


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, width: int) -> str:
    return s + " " * (width - _width(s))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, action="append", help="posts (repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start runs")
    parser.add_argument("--no-recall", action="store_true", help="skip the substring recall")
    parser.add_argument(
        "--recipe-cache",
        type=Path,
        help="development: reuse the usual recipe's figures kept in this file (kept there "
        "when missing); never for figures to quote",
    )
    args = parser.parse_args()
    sizes = args.n or [5000, 36066]
    try:
        import frontmatter  # noqa: F401
    except ImportError:
        print("the baseline needs python-frontmatter: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; date {time.strftime('%Y-%m-%d')}"
    )
    with tempfile.TemporaryDirectory(prefix="newsearch-bench-") as tmp:
        scratch = Path(tmp)
        with tarfile.open(TARBALL) as tar:
            tar.extractall(scratch / "all", filter="data")
        source = scratch / "all" / "xwlb"
        if not args.no_recall:
            recall(scratch, source)
        for n in sizes:
            bench_n(n, args.jobs, scratch, source, args.recipe_cache)
        if not args.no_cold:
            cold_start(scratch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
