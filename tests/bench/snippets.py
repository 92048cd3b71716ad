"""The cost of one hit's snippet (its whole assembly: stored fields, snippet, title highlights) on
posts of 10 KB, 400 KB and 10 MB of real 新闻联播 text, and of a page of hits that holds several
10 MB posts; each against the code before long posts were read in pieces, in the same run.

The posts are the bodies of the 新闻联播 posts (sorted file names) one after the other, as in
big_post.py, each huge post a different stretch of the archive. One index holds them all.

The peer ("before") is the hit assembly as it was: the stored fields decoded whole (Whoosh's
pickle column over zlib level 1, rebuilt here byte for byte as the old writer made them), then
``make_snippet`` of ``tests/snippets_before.py`` (the old ``highlight.py``) over the whole text.
"After" is ``SearchIndex._hit`` itself, on the same index. Each figure is the best of a few
runs; the peer is measured right before each case, so a busy machine slows both alike. The
shares say where the time goes (each step's own time: a step inside another is not counted
twice).

    .venv/bin/python tests/bench/snippets.py             # about 2 minutes (the index: 1.5)
    .venv/bin/python tests/bench/snippets.py --keep DIR  # keep the corpus and index in DIR
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import snippets_before as before  # noqa: E402

import newsearch  # noqa: E402
from newsearch import analysis, passages, store  # noqa: E402
from newsearch.analysis import literal_pattern  # noqa: E402
from newsearch.engine import SearchIndex, _bounded  # noqa: E402
from newsearch.query import parse_query  # noqa: E402
from newsearch.store import texts  # noqa: E402

SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))
TARBALL = SHARED / "data" / "xwlb-posts.tar.gz"
SOURCE_LINK = re.compile(r"\n\[查看原文\]\([^)]*\)\s*$")
FRONT = (
    '---\ntitle: "{title}"\ndate: 2022-05-0{day} 19:00:00 +0800\ncategories: xinwenlianbo\n---\n'
)
#: Post files: name, size in bytes.
SIZES = {"10 KB": 10_000, "400 KB": 400_000, "10 MB": 10_000_000}
HUGE = 4
REPEAT = 5
#: Query cases: (name, query). The phrases are found in the posts' own text (see phrases()).
CASES = (
    ("keyword (经济社会)", "经济社会"),
    ("two keywords (疫情 防控)", "疫情 防控"),
    ("phrase across punctuation", '"{across}"'),
    ("phrase across words", '"{words}"'),
    ("phrase across punctuation, near the end", '"{deep}"'),
    ("not in the post (量子引力波)", "量子引力波"),
)
PAGE_QUERY = "经济社会"


def bodies(source: Path) -> list[str]:
    out = []
    for name in sorted(os.listdir(source)):
        text = (source / name).read_text(encoding="utf-8")
        out.append(SOURCE_LINK.sub("", text.split("\n---\n", 1)[1].strip()))
    return out


def make_corpus(folder: Path, parts: list[str]) -> dict[str, str]:
    """The posts of SIZES, each the start of the archive's text (each holds the one before it,
    so a phrase of the 10 KB post is in all three), then HUGE - 1 more 10 MB posts, each from
    where the one before ended; 20 ordinary posts beside them. Returns name -> path."""
    folder.mkdir(parents=True)
    out = {}
    at = 0
    posts: list[tuple[str, int, int]] = [(name, 0, size) for name, size in SIZES.items()]
    for k in range(2, HUGE + 1):
        posts.append((f"10 MB ({k})", -1, SIZES["10 MB"]))
    for day, (name, first, size) in enumerate(posts, 1):
        at = first if first >= 0 else at
        chunk: list[str] = []
        total = 0
        while total < size:
            body = parts[at % len(parts)]
            at += 1
            chunk.append(body)
            total += len(body.encode()) + 2
        path = f"2022-05-0{day}-{re.sub(r'[^0-9a-z]+', '-', name.lower()).strip('-')}.md"
        front = FRONT.format(title=f"新闻联播 合集 {name}", day=day)
        (folder / path).write_text(front + "\n\n".join(chunk), encoding="utf-8")
        out[name] = path
    for k in range(20):
        (folder / f"2022-06-01-post-{k:02d}.md").write_text(
            FRONT.format(title=f"新闻联播 {k}", day=9) + parts[(at + k) % len(parts)],
            encoding="utf-8",
        )
    return out


# --- timing ------------------------------------------------------------------------------------


class Shares:
    """Each wrapped step's own time (time in a wrapped step inside it is counted there)."""

    def __init__(self) -> None:
        self.own: dict[str, float] = {}
        self._stack: list[list[float]] = []
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, bucket: str) -> None:
        fn = getattr(owner, name)
        had = name in vars(owner) if not isinstance(owner, type) else name in owner.__dict__

        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                spent = time.perf_counter() - frame[0]
                self.own[bucket] = self.own.get(bucket, 0.0) + spent - frame[1]
                if self._stack:
                    self._stack[-1][1] += spent

        setattr(owner, name, timed)

        def undo() -> None:
            if had:
                setattr(owner, name, fn)
            else:
                delattr(owner, name)

        self._undo.append(undo)

    def measure(self, run: Callable[[], Any]) -> tuple[float, dict[str, float]]:
        self.own = {}
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
        shares = dict(self.own)
        shares["search, window, rest"] = total - sum(shares.values())
        return total, shares

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def best(run: Callable[[], Any], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


class Old:
    """The hit assembly before: the stored fields decoded whole, the old snippet of the text."""

    def __init__(self, ix: SearchIndex):
        self.ix = ix
        self.blobs: dict[int, bytes] = {}

    def blob(self, docnum: int) -> bytes:
        # Whoosh's PickleColumn (protocol 2) over CompressedBytesColumn(level=1), as the old
        # writer stored every post's fields, text included.
        if docnum not in self.blobs:
            stored = self.ix._snap.stored(docnum)
            self.blobs[docnum] = zlib.compress(pickle.dumps(stored, 2), 1)
        return self.blobs[docnum]

    def hit(self, docnum: int, hq: Any) -> tuple[str, tuple[tuple[int, int], ...]]:
        stored = self.decode(self.blob(docnum))
        a = self.ix._analyzer
        text, title = stored.get("text", ""), stored.get("title", "")
        snippet = before.make_snippet(text or title, a, hq)
        before.find_spans(title, a.normalize(title), a, hq)
        return snippet.text, snippet.highlights

    @staticmethod
    def decode(blob: bytes) -> dict[str, Any]:
        return pickle.loads(Old.decompress(blob))

    @staticmethod
    def decompress(blob: bytes) -> bytes:
        return zlib.decompress(blob)


def new_hit(ix: SearchIndex, docnum: int, hq: Any) -> tuple[str, tuple[tuple[int, int], ...]]:
    hit = ix._hit(docnum, 0.0, hq, 1, "literal")
    return hit.snippet, hit.highlights


def old_shares(old: Old, ix: SearchIndex) -> Shares:
    s = Shares()
    s.wrap(Old, "decompress", "decompress")
    s.wrap(pickle, "loads", "unpickle (UTF-8)")
    s.wrap(ix._analyzer, "normalize", "normalise")
    s.wrap(analysis.Analyzer, "tokens", "tokenise")
    return s


def new_shares(ix: SearchIndex) -> Shares:
    s = Shares()
    s.wrap(store.Snapshot, "stored", "stored fields")
    s.wrap(store.Snapshot, "long_text", "table of pieces")
    s.wrap(passages._Post, "_read_positions", "positions")
    s.wrap(texts.LongText, "blob", "decompress")  # reading the bytes: verify, copy
    s.wrap(zlib, "decompress", "decompress")
    s.wrap(ix._analyzer, "normalize", "normalise")
    s.wrap(analysis.Analyzer, "tokens", "tokenise")
    s.wrap(analysis.Analyzer, "word_starts", "tokenise")
    return s


def fmt_shares(total: float, shares: dict[str, float]) -> str:
    parts = sorted(shares.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / total:.0%}" for k, v in parts if v / total >= 0.005)


# --- the runs ----------------------------------------------------------------------------------


def phrases(small: str, huge: str, a: analysis.Analyzer) -> dict[str, str]:
    """Phrases of the text for the cases: two words across a 、 (as 经济、社会 for 经济社会) in
    the 10 KB post, and another in the last tenth of the 10 MB post only; the end of a word,
    a word and the start of the next in the 10 KB post (as 振工业经 in 提振|工业|经济)."""

    def across(text: str, start: int) -> str:
        for m in re.finditer(r"([\u4e00-\u9fd5]{2})、([\u4e00-\u9fd5]{2})", text[start:]):
            phrase = m.group(1) + m.group(2)
            if phrase not in huge and a.query_words(phrase) == [m.group(1), m.group(2)]:
                if huge.count(m.group()) == 1 or start == 0:
                    return phrase
        raise SystemExit("no phrase across punctuation found")

    words = [t.text for t in a.tokens(small, subwords=False)]
    flat = a.token_string(huge)
    for w1, w2, w3 in zip(words, words[1:], words[2:], strict=False):
        piece = w1[-1] + w2 + w3[0]
        han = all("\u4e00" <= ch <= "\u9fd5" for ch in w1 + w2 + w3)
        long = len(w1) >= 2 and len(w2) >= 2 and len(w3) >= 2
        if han and long and piece in small and flat.count(piece) <= 3:
            break
    else:
        raise SystemExit("no phrase across words found")
    return {"across": across(small, 0), "deep": across(huge, len(huge) * 9 // 10), "words": piece}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="keep the corpus and index in this folder")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="snippets-bench-"))
    corpus, index = work / "corpus", work / "index"
    try:
        if not (index.exists() and corpus.exists()):
            shutil.rmtree(work, ignore_errors=True)
            unpacked = work / "xwlb"
            import tarfile

            with tarfile.open(TARBALL) as tar:
                tar.extractall(work, filter="data")
            names = make_corpus(corpus, bodies(unpacked))
            shutil.rmtree(unpacked)
            start = time.perf_counter()
            newsearch.build_index(corpus, index, jobs=2)
            print(f"index built in {time.perf_counter() - start:.1f} s")
        else:
            names = {}
            for path in sorted(os.listdir(corpus)):
                title = (corpus / path).read_text(encoding="utf-8").split("\n", 2)[1]
                if "合集" in title:
                    names[title.split("合集 ", 1)[1].rstrip('"')] = path
        run(index, names)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(index: Path, names: dict[str, str]) -> None:
    with newsearch.open_index(index) as ix:
        a = ix._analyzer
        docs = {name: ix._snap.postings("path", path).docs[0] for name, path in names.items()}
        found = phrases(ix.get(names["10 KB"]).text, ix.get(names["10 MB"]).text, a)
        old = Old(ix)
        print(f"phrases: {found}")
        print(
            f"{'post':>7} {'chars':>10}  {'case':42} {'before':>10} {'after':>9} {'ratio':>7}"
            "  highlights (after)"
        )
        details = []
        for name in SIZES:
            doc = docs[name]
            chars = len(ix.get(names[name]).text)
            for case, q in CASES:
                query = q.format(**found)
                hq = ix._highlight_query(_bounded(parse_query(query)))
                # Matching and ranking as a search does them first (their caches are warm for
                # the hits of a page; the snippet is what is measured).
                ix.search(query, limit=10)
                old.blob(doc)
                o = best(lambda: old.hit(doc, hq))  # noqa: B023
                n = best(lambda: new_hit(ix, doc, hq))  # noqa: B023
                snippet, spans = new_hit(ix, doc, hq)
                shown = [snippet[s:e] for s, e in spans][:3]
                print(
                    f"{name:>7} {chars:>10,}  {case:42} {o * 1e3:8.2f}ms {n * 1e3:7.2f}ms "
                    f"{o / n:6.1f}x  {shown}"
                )
                if name == "10 MB":
                    s = old_shares(old, ix)
                    try:
                        ot, osh = s.measure(lambda: old.hit(doc, hq))  # noqa: B023
                    finally:
                        s.undo()
                    s = new_shares(ix)
                    try:
                        nt, nsh = s.measure(lambda: new_hit(ix, doc, hq))  # noqa: B023
                    finally:
                        s.undo()
                    details.append((case, ot, osh, nt, nsh))
        print()
        print("Where the time of one 10 MB hit goes (one run each, shares of its own time):")
        for case, ot, osh, nt, nsh in details:
            print(f"  {case}")
            print(f"    before {ot * 1e3:8.1f} ms: {fmt_shares(ot, osh)}")
            print(f"    after  {nt * 1e3:8.1f} ms: {fmt_shares(nt, nsh)}")
        page(ix, old, docs)
    cold(index, docs["10 MB"], found)
    random_phrases(index, names["10 MB"])
    analysis_cost(index, names["10 MB"])


def random_phrases(index: Path, path: str, seeds: tuple[int, ...] = (1, 2, 3)) -> None:
    """Phrases with punctuation cut at random from the 10 MB post (as tests/test_highlight.py
    cuts them from real posts), searched as phrases: is the phrase highlighted in the post's
    snippet, and what does the hit cost (the first hit of the query, after matching)?"""
    with newsearch.open_index(index) as ix:
        a = ix._analyzer
        doc = ix._snap.postings("path", path).docs[0]
        text = ix.get(path).text
        shown = 0
        times = []
        missed = []
        for seed in seeds:
            rnd = random.Random(seed)
            done = 0
            while done < 150:
                n = rnd.randint(4, 16)
                i = rnd.randrange(0, len(text) - n)
                cut = text[i : i + n]
                keep = [k for k, ch in enumerate(cut) if a.token_string(ch)]
                if len(keep) < 3 or set('"“”「」『』＂').intersection(cut):
                    continue
                core = cut[keep[0] : keep[-1] + 1]
                if all(a.token_string(ch) for ch in core):
                    continue
                done += 1
                query = f'"{core}"'
                parsed = _bounded(parse_query(query))
                ix._matcher.select(parsed, [], [])
                hq = ix._highlight_query(parsed)
                # Compiled once per query (on its first hit, before as now): not the hit's.
                literal_pattern(a.token_string(core))
                start = time.perf_counter()
                snippet, spans = new_hit(ix, doc, hq)
                times.append(time.perf_counter() - start)
                if a.token_string(core) in [a.token_string(snippet[s:e]) for s, e in spans]:
                    shown += 1
                else:
                    missed.append(core)
    times.sort()
    print()
    print(
        f"{len(times)} phrases with punctuation cut at random from the 10 MB post: {shown} "
        f"highlighted in its snippet; a hit {times[len(times) // 2] * 1e3:.2f} ms median, "
        f"{times[int(len(times) * 0.95)] * 1e3:.2f} ms p95, {times[-1] * 1e3:.1f} ms at most"
    )
    print(f"  not highlighted: {missed}")


def analysis_cost(index: Path, path: str) -> None:
    """What the pair filters of a long text cost its analysis (the 10 MB post's text)."""
    with newsearch.open_index(index) as ix:
        text = ix.get(path).text
        a = ix._analyzer
    kept = analysis.LONG_TEXT
    times: dict[bool, float] = {True: float("inf"), False: float("inf")}
    try:
        for _ in range(2):
            for filters in (True, False):
                analysis.LONG_TEXT = kept if filters else len(text) + 1
                start = time.perf_counter()
                a.terms(text)
                times[filters] = min(times[filters], time.perf_counter() - start)
    finally:
        analysis.LONG_TEXT = kept
    print()
    print(
        f"Analysis of the 10 MB post's text: {times[True]:.2f} s with the pair filters of its "
        f"pieces, {times[False]:.2f} s without ({times[True] / times[False]:.2f}x)"
    )


def cold(index: Path, doc: int, found: dict[str, str]) -> None:
    """The first hit of each case on an index just opened, after matching (as in a search):
    positions, the post's table and filters, its piece, all read for this hit."""
    print()
    print("First hit of a 10 MB post on an index just opened (before: the same work as ever):")
    for case, q in CASES:
        query = q.format(**found)
        times = []
        for _ in range(3):
            with newsearch.open_index(index) as ix:
                parsed = _bounded(parse_query(query))
                ix._matcher.select(parsed, [], [])
                hq = ix._highlight_query(parsed)
                start = time.perf_counter()
                new_hit(ix, doc, hq)
                times.append(time.perf_counter() - start)
        print(f"  {case:42} {min(times) * 1e3:7.2f} ms")


def page(ix: SearchIndex, old: Old, docs: dict[str, int]) -> None:
    """A page of hits holding the 10 MB posts: the whole search, before and after."""
    huge = {d for name, d in docs.items() if name.startswith("10 MB")}
    res = ix.search(PAGE_QUERY, limit=10)
    on_page = [ix._snap.postings("path", h.path).docs[0] for h in res.hits]
    held = sum(1 for d in on_page if d in huge)
    for d in on_page:
        old.blob(d)
    real_hit = SearchIndex._hit

    def old_hit(
        self: SearchIndex, docnum: int, score: float, hq: Any, rank: int, match: str, e: Any = None
    ) -> Any:
        snippet, spans = old.hit(docnum, hq)
        return snippet

    o = n = float("inf")
    for _ in range(REPEAT):
        SearchIndex._hit = old_hit  # type: ignore[method-assign]
        try:
            o = min(o, best(lambda: ix.search(PAGE_QUERY, limit=10), 1))
        finally:
            SearchIndex._hit = real_hit  # type: ignore[method-assign]
        n = min(n, best(lambda: ix.search(PAGE_QUERY, limit=10), 1))
    print()
    print(
        f"A page of {len(on_page)} hits of {PAGE_QUERY} ({held} of them 10 MB posts, "
        f"{res.total} matches): the whole search {o * 1e3:.1f} ms before, {n * 1e3:.1f} ms after "
        f"({o / n:.1f}x); per hit {o * 1e3 / len(on_page):.1f} ms before, "
        f"{n * 1e3 / len(on_page):.1f} ms after"
    )


if __name__ == "__main__":
    main()
