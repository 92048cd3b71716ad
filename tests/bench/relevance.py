"""How well newsearch ranks, against two peers, on the same posts, in one run.

The posts: the 1,000 DRCD paragraphs (Traditional-Chinese Wikipedia, ``drcd-dev.tar.gz``) mixed
among the first 10,000 新闻联播 posts (sorted names) of ``xwlb-posts.tar.gz``. The engines:

- newsearch, as a user gets it (``SearchIndex.search``);
- bm25s + jieba: ``bm25s.BM25()`` (Lucene BM25, k1 = 1.5, b = 0.75) over the
  ``jieba.cut_for_search`` tokens of title + text (lower case, tokens without a letter, digit or
  Han character left out), queries cut the same way;
- the usual Whoosh recipe (``usual_recipe.py``: ``jieba.analyse.ChineseAnalyzer`` on title and
  body, python-frontmatter) queried with a ``MultifieldParser(["title", "content"])`` whose
  group is ``OrGroup`` (any word may match; BM25F ranks).

The figures:

- DRCD questions (3,524, each written for one paragraph): MRR@10 and hit@1, for the questions as
  written (Traditional) and converted to Simplified (OpenCC t2s). Each is also given for the two
  halves of the questions, split by Wikipedia article (``crc32(article) % 2``): ``tune`` is the
  half the ranking's constants were chosen on, ``held`` the other half.
- known-item: 300 distinct 新闻联播 titles (``random.Random(20261201)``), each typed whole as the
  query; MRR@10 of the first post with that title.
- substring: 300 random 2-4 character Han pieces of random posts (``random.Random(7)``); the
  truth is every post whose title or text contains the piece once both are normalised as
  newsearch normalises (NFKC, lower case, Traditional to Simplified, separators dropped). Recall
  is the share of (piece, post containing it) pairs among each engine's matches; p@10 the share
  of the first min(10, posts containing it) results that contain it, averaged over the pieces.

Built indexes are kept in a cache folder (``--cache``, default a folder in the temp dir) keyed by
the code that writes them, so that query-time changes are measured again in minutes;
``--fresh`` builds everything in a new temporary folder and removes it after (how the README's
figures are made). Run by hand (not in CI):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python tests/bench/relevance.py --fresh          # the README's table
    .venv/bin/python tests/bench/relevance.py --engines newsearch --only questions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import random
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))
XWLB_TAR = SHARED / "data" / "xwlb-posts.tar.gz"
DRCD_TAR = SHARED / "data" / "drcd-dev.tar.gz"
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

XWLB_POSTS = 10_000
TITLES = 300
PIECES = 300
K = 10
ENGINES = ("newsearch", "bm25s", "whoosh")
LABELS = {"newsearch": "newsearch", "bm25s": "bm25s+jieba", "whoosh": "Whoosh recipe (OR)"}
#: The files whose code decides what an index holds: a cached index is reused while they are the
#: same (ranking is computed at query time, from the same index).
INDEX_CODE = ("analysis.py", "schema.py", "store", "store.py", "indexer.py", "corpus.py")
_WORDY = re.compile(r"[^\W_]")
_HAN = re.compile(r"^[\u4e00-\u9fd5]+$")


# --- data --------------------------------------------------------------------------------------


def _file_key(*paths: Path) -> str:
    h = hashlib.sha1()
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:10]


def _code_key(names: tuple[str, ...], extra: str = "") -> str:
    h = hashlib.sha1(extra.encode())
    pkg = ROOT / "newsearch"
    for name in names:
        target = pkg / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for f in files:
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:10]


def prepare_corpus(cache: Path) -> tuple[Path, list[dict[str, str]]]:
    """The mixed corpus (``drcd/`` and ``xwlb/``) and the DRCD questions."""
    corpus = cache / f"corpus-{_file_key(XWLB_TAR, DRCD_TAR)}"
    questions = corpus.parent / (corpus.name + "-questions.jsonl")
    if not (corpus / ".done").exists():
        if corpus.exists():
            shutil.rmtree(corpus)
        work = cache / "unpack"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with tarfile.open(DRCD_TAR) as tar:
            tar.extractall(work, filter="data")
        with tarfile.open(XWLB_TAR) as tar:
            tar.extractall(work, filter="data")
        (corpus / "xwlb").mkdir(parents=True)
        shutil.move(str(work / "drcd"), str(corpus / "drcd"))
        for name in sorted(os.listdir(work / "xwlb"))[:XWLB_POSTS]:
            shutil.move(str(work / "xwlb" / name), str(corpus / "xwlb" / name))
        shutil.move(str(work / "drcd-questions.jsonl"), str(questions))
        shutil.rmtree(work)
        (corpus / ".done").write_text("")
    with open(questions, encoding="utf-8") as fh:
        qs = [json.loads(line) for line in fh if line.strip()]
    return corpus, qs


@dataclass
class Doc:
    path: str
    title: str
    text: str


def read_docs(corpus: Path) -> list[Doc]:
    from newsearch import read_corpus

    return [Doc(p.path, p.title, p.text) for p in read_corpus(corpus).posts]


# --- engines -----------------------------------------------------------------------------------


class Engine:
    name = ""

    def top(self, query: str, k: int = K) -> list[str]:
        raise NotImplementedError

    def matches(self, query: str) -> tuple[set[str], list[str]]:
        """Every matching post, and the first K of them in order."""
        raise NotImplementedError


class Newsearch(Engine):
    name = "newsearch"

    def __init__(self, corpus: Path, cache: Path, jobs: int):
        import newsearch
        from newsearch.analysis import ANALYSIS_VERSION
        from newsearch.schema import SCHEMA_VERSION

        key = _code_key(INDEX_CODE, f"{SCHEMA_VERSION}/{ANALYSIS_VERSION}/{corpus.name}")
        folder = cache / f"newsearch-{key}"
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            t = time.perf_counter()
            newsearch.build_index(corpus, folder, jobs=jobs)
            (folder / ".done").write_text("")
            print(f"newsearch: indexed in {time.perf_counter() - t:.0f} s", flush=True)
        self.ix = newsearch.open_index(folder)

    def top(self, query: str, k: int = K) -> list[str]:
        return [h.path for h in self.ix.search(query, limit=k).hits]

    def matches(self, query: str) -> tuple[set[str], list[str]]:
        hits = self.ix.search(query, limit=None).hits
        return {h.path for h in hits}, [h.path for h in hits[:K]]


def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def cut_for_search(text: str) -> list[str]:
    return [t for t in (w.lower() for w in _jieba().cut_for_search(text)) if _WORDY.search(t)]


class Bm25s(Engine):
    name = "bm25s"

    def __init__(self, docs: list[Doc]):
        import bm25s

        t = time.perf_counter()
        self.paths = [d.path for d in docs]
        self.model = bm25s.BM25()
        self.model.index(
            [cut_for_search(d.title + "\n" + d.text) for d in docs], show_progress=False
        )
        print(f"bm25s: indexed in {time.perf_counter() - t:.0f} s", flush=True)

    def _scores(self, query: str) -> Any:
        ids = self.model.get_tokens_ids(cut_for_search(query))
        if not ids:
            return None
        return self.model.get_scores(ids)

    def top(self, query: str, k: int = K) -> list[str]:
        import numpy as np

        scores = self._scores(query)
        if scores is None:
            return []
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        # Ties by document order (stable), like bm25s' own retrieve.
        best = sorted(best.tolist(), key=lambda d: (-scores[d], d))
        return [self.paths[d] for d in best if scores[d] > 0]

    def matches(self, query: str) -> tuple[set[str], list[str]]:
        scores = self._scores(query)
        if scores is None:
            return set(), []
        found = {self.paths[d] for d in (scores > 0).nonzero()[0].tolist()}
        return found, self.top(query)


class WhooshRecipe(Engine):
    name = "whoosh"

    def __init__(self, corpus: Path, cache: Path):
        import usual_recipe
        from whoosh import index
        from whoosh.qparser import MultifieldParser, OrGroup

        _jieba()
        key = _code_key((), (BENCH / "usual_recipe.py").read_text() + corpus.name)
        folder = cache / f"whoosh-{key}"
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            t = time.perf_counter()
            ix = index.create_in(str(folder), usual_recipe.schema())
            writer = ix.writer()
            for sub in sorted(os.listdir(corpus)):
                if not (corpus / sub).is_dir():
                    continue
                for name in sorted(os.listdir(corpus / sub)):
                    post = usual_recipe.read(str(corpus / sub / name))
                    writer.add_document(path=f"{sub}/{name}", **post)
            writer.commit()
            (folder / ".done").write_text("")
            print(f"Whoosh recipe: indexed in {time.perf_counter() - t:.0f} s", flush=True)
        self.ix = index.open_dir(str(folder))
        self.searcher = self.ix.searcher()
        self.parser = MultifieldParser(["title", "content"], self.ix.schema, group=OrGroup)

    def _search(self, query: str, limit: int | None) -> list[str]:
        try:
            q = self.parser.parse(query)
        except Exception:
            return []
        return [h["path"] for h in self.searcher.search(q, limit=limit)]

    def top(self, query: str, k: int = K) -> list[str]:
        return self._search(query, k)

    def matches(self, query: str) -> tuple[set[str], list[str]]:
        found = self._search(query, None)
        return set(found), found[:K]


# --- measures ----------------------------------------------------------------------------------


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def rank_of(found: list[str], relevant: set[str] | str) -> int | None:
    want = {relevant} if isinstance(relevant, str) else relevant
    for i, p in enumerate(found[:K]):
        if p in want:
            return i + 1
    return None


def question_sets(questions: list[dict[str, str]]) -> dict[str, list[tuple[str, str, int]]]:
    """(query, answering post, half) for the questions as written and in Simplified."""
    import opencc

    t2s = opencc.OpenCC("t2s")
    out: dict[str, list[tuple[str, str, int]]] = {"as written": [], "Simplified": []}
    for q in questions:
        article = q["path"].rsplit("-", 2)[-2]
        half = zlib.crc32(article.encode()) % 2
        out["as written"].append((q["question"], q["path"], half))
        out["Simplified"].append((t2s.convert(q["question"]), q["path"], half))
    return out


def measure_questions(engine: Engine, qsets: dict[str, list[tuple[str, str, int]]]) -> Figures:
    fig = Figures()
    t = time.perf_counter()
    for label, items in qsets.items():
        rr = {0: [], 1: []}  # type: dict[int, list[float]]
        h1 = {0: [], 1: []}  # type: dict[int, list[float]]
        for query, path, half in items:
            r = rank_of(engine.top(query), path)
            rr[half].append(1.0 / r if r else 0.0)
            h1[half].append(1.0 if r == 1 else 0.0)
        both_rr, both_h1 = rr[0] + rr[1], h1[0] + h1[1]
        fig.values[f"{label} MRR@10"] = sum(both_rr) / len(both_rr)
        fig.values[f"{label} hit@1"] = sum(both_h1) / len(both_h1)
        for half, name in ((0, "tune"), (1, "held")):
            fig.values[f"{label} MRR@10 {name}"] = sum(rr[half]) / max(1, len(rr[half]))
    fig.seconds = time.perf_counter() - t
    return fig


def known_items(docs: list[Doc]) -> list[tuple[str, set[str]]]:
    by_title: dict[str, set[str]] = {}
    for d in docs:
        by_title.setdefault(d.title, set()).add(d.path)
    titles = sorted({d.title for d in docs if d.path.startswith("xwlb/") and d.title.strip()})
    chosen = random.Random(20261201).sample(titles, TITLES)
    return [(t, by_title[t]) for t in chosen]


def measure_titles(engine: Engine, items: list[tuple[str, set[str]]]) -> Figures:
    t = time.perf_counter()
    rr = []
    for title, relevant in items:
        r = rank_of(engine.top(title), relevant)
        rr.append(1.0 / r if r else 0.0)
    return Figures({"known-item MRR@10": sum(rr) / len(rr)}, time.perf_counter() - t)


def substring_items(docs: list[Doc], piece_of: Callable[[str], str]) -> list[tuple[str, set[str]]]:
    rng = random.Random(7)
    pieces: list[str] = []
    while len(pieces) < PIECES:
        d = rng.choice(docs)
        if len(d.text) < 10:
            continue
        size = rng.randint(2, 4)
        start = rng.randrange(len(d.text) - size)
        piece = d.text[start : start + size]
        if _HAN.match(piece):
            pieces.append(piece)
    strings = [(d.path, piece_of(d.title), piece_of(d.text)) for d in docs]
    out = []
    for piece in pieces:
        p = piece_of(piece)
        out.append((piece, {path for path, ti, te in strings if p in ti or p in te}))
    return out


def measure_substrings(engine: Engine, items: list[tuple[str, set[str]]]) -> Figures:
    t = time.perf_counter()
    pairs = found = 0
    precision = []
    for piece, truth in items:
        got, top = engine.matches(piece)
        pairs += len(truth)
        found += len(truth & got)
        k = min(K, len(truth))
        precision.append(sum(1 for p in top[:k] if p in truth) / k)
    return Figures(
        {"substring recall": found / pairs, "substring p@10": sum(precision) / len(precision)},
        time.perf_counter() - t,
    )


# --- the run -----------------------------------------------------------------------------------

ROWS = [
    ("DRCD questions as written: MRR@10", "as written MRR@10"),
    ("  tune half (by article)", "as written MRR@10 tune"),
    ("  held-out half", "as written MRR@10 held"),
    ("DRCD questions as written: hit@1", "as written hit@1"),
    ("DRCD questions in Simplified: MRR@10", "Simplified MRR@10"),
    ("  tune half", "Simplified MRR@10 tune"),
    ("  held-out half", "Simplified MRR@10 held"),
    ("DRCD questions in Simplified: hit@1", "Simplified hit@1"),
    (f"known-item MRR@10 ({TITLES} titles)", "known-item MRR@10"),
    (f"substring recall ({PIECES} pieces)", "substring recall"),
    ("substring p@10", "substring p@10"),
]


def run(args: argparse.Namespace, cache: Path) -> dict[str, dict[str, float]]:
    corpus, questions = prepare_corpus(cache)
    docs = read_docs(corpus)
    print(f"posts: {len(docs)} ({sum(d.path.startswith('drcd/') for d in docs)} DRCD)", flush=True)
    only = set(args.only or ("questions", "titles", "substrings"))
    qsets = question_sets(questions)
    titles = known_items(docs)
    pieces: list[tuple[str, set[str]]] = []
    if "substrings" in only:
        from newsearch.analysis import Analyzer, current_settings

        pieces = substring_items(docs, Analyzer(current_settings()).token_string)
        pairs = sum(len(t) for _, t in pieces)
        print(f"substring pieces: {len(pieces)}, {pairs} (piece, post) pairs", flush=True)
    results: dict[str, dict[str, float]] = {}
    for name in args.engines:
        if name == "newsearch":
            engine: Engine = Newsearch(corpus, cache, args.jobs)
        elif name == "bm25s":
            engine = Bm25s(docs)
        else:
            engine = WhooshRecipe(corpus, cache)
        values: dict[str, float] = {}
        for part, fn, data in (
            ("questions", measure_questions, qsets),
            ("titles", measure_titles, titles),
            ("substrings", measure_substrings, pieces),
        ):
            if part not in only:
                continue
            fig = fn(engine, data)  # type: ignore[operator]
            values.update(fig.values)
            print(f"{LABELS[name]}: {part} in {fig.seconds:.0f} s", flush=True)
        results[name] = values
    return results


def print_table(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    header = ["measure", *(LABELS[n] for n in names)]
    rows = []
    for label, key in ROWS:
        if all(key not in results[n] for n in names):
            continue
        rows.append(
            [label, *(f"{results[n][key]:.3f}" if key in results[n] else "" for n in names)]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if "newsearch" in results and len(names) > 1:
        ns = results["newsearch"]
        peers = [n for n in names if n != "newsearch"]
        key = "as written MRR@10"
        if key in ns:
            best = max(results[n][key] for n in peers)
            print(
                "\nquestion MRR@10, newsearch minus the best peer's figure as written "
                f"({best:.3f}):"
                f" as written {ns[key] - best:+.3f},"
                f" Simplified {ns['Simplified MRR@10'] - best:+.3f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--only", nargs="+", choices=("questions", "titles", "substrings"))
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "newsearch-relevance"
    )
    parser.add_argument("--fresh", action="store_true", help="build everything anew, keep nothing")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; date {time.strftime('%Y-%m-%d')}",
        flush=True,
    )
    if args.fresh:
        with tempfile.TemporaryDirectory(prefix="newsearch-relevance-") as tmp:
            results = run(args, Path(tmp))
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        results = run(args, args.cache)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
