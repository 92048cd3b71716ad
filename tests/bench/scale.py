"""An archive four times the size: what it costs to build, to hold and to search, against 1×.

The 1× archive is the 36,066 新闻联播 posts of ``../shared/data/xwlb-posts.tar.gz``; the 4× archive
(144,264 posts) is those plus three deterministic mixes of their paragraphs (``mix1/`` to
``mix3/``: each mixed post takes the date and about the length of one real post, and a title and
paragraphs of other posts chosen by a seeded generator, with their numbers redrawn), so that
posting lists grow four times and the vocabulary grows as an archive's does (new numbers, codes
and the words around them). For each archive the script prints the build (wall time, posts/s,
peak PSS of the whole process tree, index size), warm search latency over ``benchmark.QUERIES``
with snippets, and the cold start of the whole ``newsearch search`` command, then the 4×/1× ratio
of each with the targets of the project. Builds and warm runs go in the order 1×, 4×, 4×, 1×
(``--passes 2``) so that a shared machine's drift in speed cancels out of the ratios; cold
commands alternate 1× and 4×. Builds and searches are timed alone; the peak memory comes from
one more build of each archive, sampled. Run by hand (13-25 minutes on 2 cores):

    .venv/bin/python tests/bench/scale.py                        # everything, in a temp folder
    .venv/bin/python tests/bench/scale.py --cache /tmp/ns-scale  # keep corpora and indexes
    .venv/bin/python tests/bench/scale.py --cache /tmp/ns-scale --reuse   # search figures only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from benchmark import (  # noqa: E402
    NEWSEARCH_INDEX,
    QUERIES,
    TARBALL,
    _print_table,
    folder_size,
    run_measured,
    run_timed,
)

#: Queries of the cold-start runs: a keyword, a single common word, a question.
COLD_QUERIES = ["工业经济", "经济", "工信部为什么召开电视电话会议？"]
#: Mixes of the real posts added to make the 4× archive.
MIXES = 3
SEED = 15

WARM = textwrap.dedent(
    """
    import json, sys, time, logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import newsearch

    folder, queries, rounds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    out = {"first": [], "warm": [], "totals": []}

    def one(ix, q):
        t = time.perf_counter()
        res = ix.search(q, limit=10)
        [(h.snippet, h.highlights) for h in res.hits]
        return time.perf_counter() - t, res.total

    t = time.perf_counter()
    with newsearch.open_index(folder) as ix:
        out["open"] = time.perf_counter() - t
        for q in queries:
            el, total = one(ix, q)
            out["first"].append(el)
            out["totals"].append(total)
        for _ in range(rounds):
            out["warm"].append([one(ix, q)[0] for q in queries])
        from newsearch.store import Snapshot
        snap = Snapshot(folder)
        try:
            out["words"] = len(set(snap.terms("text")))
            out["segments"] = len(snap.segments)
        finally:
            snap.close()
    print(json.dumps(out))
    """
)


# --- the archives ------------------------------------------------------------------------------

_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_DIGITS = re.compile(r"\d+")
_SOURCE = re.compile(r"^\[查看原文\]\((.*)\)\s*$", re.M)


def _parse(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    fields = dict(line.split(": ", 1) for line in front.splitlines() if ": " in line)
    source = _SOURCE.search(body)
    body = _SOURCE.sub("", body).strip()
    html = "<p>" in body
    paragraphs = _PARAGRAPH.findall(body) if html else [p for p in body.splitlines() if p.strip()]
    return {
        "title": json.loads(fields["title"])
        if fields["title"].startswith('"')
        else fields["title"],
        "date": fields["date"],
        "html": html,
        "paragraphs": [p for p in paragraphs if p.strip()],
        "source": source.group(1) if source else "",
    }


def _redraw(rng: random.Random, text: str) -> str:
    """The text with each number replaced by another of the same length (a new code, count or
    amount: what makes an archive's vocabulary keep growing)."""

    def one(m: re.Match[str]) -> str:
        digits = [str(rng.randrange(10)) for _ in m.group(0)]
        if len(digits) > 1 and digits[0] == "0":
            digits[0] = str(rng.randrange(1, 10))
        return "".join(digits)

    return _DIGITS.sub(one, text)


def make_mix(posts: list[dict[str, object]], names: list[str], r: int, target: Path) -> None:
    """Mix ``r``: one post for each real post, deterministic (seeded by mix and post)."""
    target.mkdir(parents=True, exist_ok=True)
    n = len(posts)
    for i, base in enumerate(posts):
        rng = random.Random(f"{SEED}-{r}-{i}")
        # About as long as the real post: paragraphs are added while each brings the length
        # nearer to the real post's.
        length = sum(len(p) for p in base["paragraphs"])  # type: ignore[attr-defined]
        paragraphs: list[str] = []
        size = 0
        while len(paragraphs) < 200:
            other = posts[rng.randrange(n)]["paragraphs"]
            if not other:
                continue
            p = _redraw(rng, rng.choice(other))  # type: ignore[arg-type]
            if paragraphs and size + len(p) - length > length - size:
                break
            paragraphs.append(p)
            size += len(p)
        title = _redraw(rng, str(posts[rng.randrange(n)]["title"]))
        if base["html"]:
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
        else:
            body = "\n".join(paragraphs)
        name = names[i].replace("-xwlb-", f"-xwlb-m{r}-")
        source = f"{base['source']}#m{r}" if base["source"] else ""
        (target / name).write_text(
            "---\nlayout: post\n"
            f"title: {json.dumps(title, ensure_ascii=False)}\n"
            f"date: {base['date']}\ncategories: xinwenlianbo\ntags: [新闻联播]\n---\n"
            f"{body}\n\n" + (f"[查看原文]({source})\n" if source else ""),
            encoding="utf-8",
        )


def prepare(cache: Path) -> tuple[Path, Path]:
    """The 1× and 4× corpora in ``cache`` (made once; the 4× one links the real posts)."""
    one, four = cache / "corpus-1x", cache / "corpus-4x"
    stamp = cache / "corpora.done"
    if stamp.exists():
        return one, four
    for p in (one, four, cache / "unpacked"):
        shutil.rmtree(p, ignore_errors=True)
    with tarfile.open(TARBALL) as tar:
        tar.extractall(cache / "unpacked", filter="data")
    one.mkdir(parents=True)
    (cache / "unpacked" / "xwlb").rename(one / "xwlb")
    names = sorted(os.listdir(one / "xwlb"))
    (four / "xwlb").mkdir(parents=True)
    for name in names:
        os.link(one / "xwlb" / name, four / "xwlb" / name)
    posts = [_parse(one / "xwlb" / name) for name in names]
    for r in range(1, MIXES + 1):
        make_mix(posts, names, r, four / f"mix{r}")
    shutil.rmtree(cache / "unpacked", ignore_errors=True)
    stamp.write_text("done\n")
    return one, four


def count_posts(corpus: Path) -> tuple[int, int]:
    files = [f for f in corpus.rglob("*.md") if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


# --- measuring ---------------------------------------------------------------------------------


def build(corpus: Path, index: Path, jobs: int) -> dict[str, float]:
    """A build timed alone: the memory sampler reads every process's smaps_rollup, whose cost
    grows with what a process maps (a merge maps the segments it reads): sampled builds of the
    4× archive took 188.8 s against 128.2 s alone a quarter of an hour later, of the 1× archive
    38.4 against 28.0 s. It would weigh on the ratio too."""
    wall, out = run_timed(_fresh_build(corpus, index, jobs))
    got = json.loads(out)
    return {"wall": wall, "posts": got["posts"], "problems": got["problems"]}


def build_memory(corpus: Path, index: Path, jobs: int) -> dict[str, float]:
    """Peak PSS and RSS of a build's process tree, sampled (in a build of its own)."""
    _, mem, _ = run_measured(_fresh_build(corpus, index, jobs))
    return {"pss": mem.peak, "rss": mem.peak_rss}


def _fresh_build(corpus: Path, index: Path, jobs: int) -> list[str]:
    """The command of a build of ``corpus`` into ``index``, the index removed first."""
    shutil.rmtree(index, ignore_errors=True)
    return [sys.executable, "-c", NEWSEARCH_INDEX, str(corpus), str(index), str(jobs)]


def _abba(keys: list[str], passes: int) -> list[str]:
    """``passes`` passes over ``keys``, every other one backwards: 1x 4x 4x 1x."""
    return [k for p in range(passes) for k in (keys if p % 2 == 0 else keys[::-1])]


def _pooled(
    runs: dict[str, list[dict[str, object]]],
    order: list[str],
    indexes: dict[str, Path],
    rounds: int,
) -> dict[str, dict[str, object]]:
    """The warm runs in ``order``, each index's rounds pooled; the first run after opening, the
    opening time and the index's counts from its first run."""
    for key in order:
        runs[key].append(warm(indexes[key], rounds))
    out: dict[str, dict[str, object]] = {}
    for key, done in runs.items():
        first = dict(done[0])
        first["warm"] = [r for d in done for r in d["warm"]]  # type: ignore[attr-defined]
        out[key] = first
    return out


def warm(index: Path, rounds: int) -> dict[str, object]:
    queries = json.dumps(QUERIES, ensure_ascii=False)
    # Timed alone: the memory sampler would take CPU from the searches, more at 4× (see build).
    _, out = run_timed([sys.executable, "-c", WARM, str(index), queries, str(rounds)])
    result: dict[str, object] = json.loads(out)
    return result


def cold(indexes: dict[str, Path], runs: int) -> dict[str, dict[str, list[float]]]:
    """Wall time of whole ``newsearch search`` commands, the archives alternating."""
    exe = shutil.which("newsearch", path=str(Path(sys.executable).parent)) or "newsearch"
    # The package's bytecode written first, as an install has it: with PYTHONDONTWRITEBYTECODE
    # set, every command would otherwise compile the modules changed since their last .pyc.
    package = Path(__file__).resolve().parents[2] / "newsearch"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    times: dict[str, dict[str, list[float]]] = {k: {q: [] for q in COLD_QUERIES} for k in indexes}
    for index in indexes.values():  # once each, unmeasured: the files in the page cache
        subprocess.run(
            [exe, "search", "--index", str(index), "预热"], check=True, capture_output=True
        )
    for _ in range(runs):
        for q in COLD_QUERIES:
            for key, index in indexes.items():
                start = time.perf_counter()
                subprocess.run(
                    [exe, "search", "--index", str(index), q], check=True, capture_output=True
                )
                times[key][q].append(time.perf_counter() - start)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- the report --------------------------------------------------------------------------------


def report(
    sizes: dict[str, tuple[int, int]],
    builds: dict[str, dict[str, float] | None],
    indexes: dict[str, Path],
    searches: dict[str, dict[str, object]],
    colds: dict[str, dict[str, list[float]]],
) -> bool:
    rows: list[tuple[str, ...]] = []
    ok = True

    def row(
        name: str,
        a: float | None,
        b: float | None,
        fmt: str,
        target: float | None = None,
        higher: bool = False,
        limit: float | None = None,
    ) -> None:
        nonlocal ok
        if a is None or b is None:
            rows.append((name, "-", "-", "-", ""))
            return
        ratio = b / a if a else float("nan")
        verdict = ""
        if target is not None:
            good = ratio >= target if higher else ratio <= target
            within = limit is None or (a <= limit and b <= limit)
            verdict = f"{'≥' if higher else '≤'} {target:g}×"
            if limit is not None:
                verdict += f", ≤ {limit:g}"
            verdict += "  ok" if good and within else "  MISSED"
            ok = ok and good and within
        rows.append((name, format(a, fmt), format(b, fmt), f"{ratio:.2f}×", verdict))

    one, four = builds.get("1x"), builds.get("4x")
    row("posts", sizes["1x"][0], sizes["4x"][0], ",d")
    row("post files, MB", sizes["1x"][1] / 1e6, sizes["4x"][1] / 1e6, ",.1f")
    if one and four:
        row("build, wall s (mean of the passes)", one["wall"], four["wall"], ",.1f")
        row(
            "build, posts/s",
            one["posts"] / one["wall"],
            four["posts"] / four["wall"],
            ",.0f",
            0.9,
            higher=True,
        )
        row("peak PSS of the process tree, MB", one["pss"] / 1e6, four["pss"] / 1e6, ",.0f", 1.1,
            limit=500)  # fmt: skip
        row("peak RSS summed, MB", one["rss"] / 1e6, four["rss"] / 1e6, ",.0f")
    else:
        rows.append(("build", "reused", "reused", "", ""))
    row(
        "index size, MB",
        folder_size(indexes["1x"]) / 1e6,
        folder_size(indexes["4x"]) / 1e6,
        ",.1f",
    )
    s1, s4 = searches["1x"], searches["4x"]
    row("segments", float(s1["segments"]), float(s4["segments"]), ".0f")  # type: ignore[arg-type]
    row("distinct words of the text field", float(s1["words"]), float(s4["words"]), ",.0f")  # type: ignore[arg-type]
    w1 = [t * 1000 for r in s1["warm"] for t in r]  # type: ignore[attr-defined]
    w4 = [t * 1000 for r in s4["warm"] for t in r]  # type: ignore[attr-defined]
    row("warm search p50, ms", statistics.median(w1), statistics.median(w4), ".1f")
    row("warm search p95, ms", percentile(w1, 0.95), percentile(w4, 0.95), ".1f", 2.0)
    row("warm search max, ms", max(w1), max(w4), ".1f")
    f1 = [t * 1000 for t in s1["first"]]  # type: ignore[attr-defined]
    f4 = [t * 1000 for t in s4["first"]]  # type: ignore[attr-defined]
    row("first run after opening, p50, ms", statistics.median(f1), statistics.median(f4), ".1f")
    row("first run after opening, p95, ms", percentile(f1, 0.95), percentile(f4, 0.95), ".1f")
    row("opening (open_index), ms", s1["open"] * 1000, s4["open"] * 1000, ".1f")  # type: ignore[operator]
    c1 = [t for q in COLD_QUERIES for t in colds["1x"][q]]
    c4 = [t for q in COLD_QUERIES for t in colds["4x"][q]]
    row("cold `newsearch search`, median s", statistics.median(c1), statistics.median(c4), ".3f",
        1.1, limit=0.4)  # fmt: skip
    for q in COLD_QUERIES:
        row(f"  cold {q}", statistics.median(colds["1x"][q]), statistics.median(colds["4x"][q]),
            ".3f")  # fmt: skip
    _print_table(
        f"1× and 4× archives ({len(QUERIES)} queries with snippets, limit 10)",
        ("measure", "1×", "4×", "4× / 1×", "target"),
        rows,
    )
    slow = sorted(
        zip(QUERIES, (max(r[i] for r in s4["warm"]) for i in range(len(QUERIES))), strict=True),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1],
    )[:8]
    print("\nslowest warm queries at 4× (ms): " + ", ".join(f"{q} {t * 1000:.1f}" for q, t in slow))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cache", type=Path, help="keep corpora and indexes in this folder")
    parser.add_argument("--reuse", action="store_true", help="search the indexes of --cache")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds of the query list")
    parser.add_argument("--cold-runs", type=int, default=7, help="runs of each cold query")
    parser.add_argument(
        "--passes", type=int, default=2, help="builds and warm runs of each archive, ABBA order"
    )
    args = parser.parse_args()
    if args.reuse and args.cache is None:
        parser.error("--reuse needs --cache")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; date {time.strftime('%Y-%m-%d')}; --jobs {args.jobs}"
    )
    with tempfile.TemporaryDirectory(prefix="newsearch-scale-") as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        corpora = dict(zip(("1x", "4x"), prepare(cache), strict=True))
        sizes = {k: count_posts(c) for k, c in corpora.items()}
        indexes = {k: cache / f"index-{k}" for k in corpora}
        # The archives in the order 1x, 4x, 4x, 1x (each measure twice, --passes 2): a shared
        # machine's speed drifts over minutes (a CPU loop took 0.19 s, then 0.35 s, within an
        # hour), and one after the other would put the drift into the ratio; the two orders
        # cancel a steady drift. Builds: the mean time and the higher peak; warm: every round.
        order = _abba(list(corpora), args.passes)
        builds: dict[str, dict[str, float] | None] = {}
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in corpora}
        for key in order:
            if args.reuse and (indexes[key] / "NEWSEARCH").exists():
                builds[key] = None
                continue
            print(f"building the {key} archive ({sizes[key][0]:,} posts) ...", flush=True)
            runs[key].append(build(corpora[key], indexes[key], args.jobs))
            print(f"  {runs[key][-1]['wall']:.1f} s", flush=True)
        for key, done in runs.items():
            if done:
                print(f"building the {key} archive again, its memory sampled ...", flush=True)
                mem = build_memory(corpora[key], indexes[key], args.jobs)
                print(f"  peak PSS {mem['pss'] / 1e6:,.0f} MB", flush=True)
                builds[key] = {
                    "wall": statistics.mean(r["wall"] for r in done),
                    "pss": mem["pss"],
                    "rss": mem["rss"],
                    "posts": done[0]["posts"],
                    "walls": [r["wall"] for r in done],  # type: ignore[dict-item]
                }
        searches = _pooled({k: [] for k in corpora}, order, indexes, args.rounds)
        colds = cold(indexes, args.cold_runs)
        ok = report(sizes, builds, indexes, searches, colds)
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
