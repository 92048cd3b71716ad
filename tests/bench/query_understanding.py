"""Chinese query understanding on the 36,066 新闻联播 posts: pinyin search, did-you-mean,
suggestions as you type and user words without a rebuild, in one run.

- pinyin: 300 random indexed words of 2-4 Han characters held by at least 3 posts, searched by
  their toneless pinyin without spaces: the share with a post holding the word in the top 10
  (target >= 95%); the same by initials for words of 3-4 characters (>= 80%); and the share of
  pinyin hits whose highlights cover Chinese characters of a word read that way;
- did-you-mean: 300 words of 2-4 characters held by at least 5 posts, one character replaced by
  a homophone (a character whose own reading is the syllable the word has there, as an input
  method offers it) so that no post holds the result: the share whose suggestion is the word
  (>= 90%); and 300 such words typed correctly: the share with no suggestion (>= 98%);
- suggest: p95 of ``SearchIndex.suggest`` over Han and pinyin prefixes (< 10 ms), against a
  search of the same text in the same run;
- user words: 10 words added to the index by ``--user-dict`` (strings of 4-6 characters held
  by some posts, not yet words of the index): the posts redone, against the posts that hold
  them, and the time against the full build of the same run.

Run by hand (about ten minutes on 2 cores):

    .venv/bin/python tests/bench/query_understanding.py
    .venv/bin/python tests/bench/query_understanding.py --index DIR   # reuses a built index
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from benchmark import TARBALL  # noqa: E402

SAMPLE = 300


def _han(word: str) -> bool:
    return bool(word) and all("\u4e00" <= c <= "\u9fff" for c in word)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def holders(ix: object, word: str) -> set[str]:
    return {h.path for h in ix.search(f'"{word}"', limit=None).hits}  # type: ignore[attr-defined]


def pinyin_part(ix: object, lex: object, rng: random.Random) -> None:
    counts = lex.counts()  # type: ignore[attr-defined]
    readings = lex.readings()  # type: ignore[attr-defined]
    words = sorted(w for w, c in counts.items() if 2 <= len(w) <= 4 and _han(w) and c >= 3)
    words = [w for w in words if w in readings]
    by_reading: dict[str, set[str]] = {}
    for w, (r, _) in readings.items():
        by_reading.setdefault(r, set()).add(w)
    for kind, pool, which in (
        ("full pinyin", words, 0),
        ("initials", [w for w in words if len(w) >= 3], 1),
    ):
        sample = rng.sample(pool, SAMPLE)
        found = pinyin_hits = covered = 0
        misses: list[str] = []
        for w in sample:
            letters = readings[w][which]
            res = ix.search(letters, limit=10)  # type: ignore[attr-defined]
            held = holders(ix, w)
            if any(h.path in held for h in res.hits):
                found += 1
            elif len(misses) < 5:
                misses.append(f"{w}={letters}")
            for h in res.hits:
                if h.match != "pinyin":
                    continue
                pinyin_hits += 1
                marked = [h.snippet[s:e] for s, e in h.highlights]
                marked += [h.title[s:e] for s, e in h.title_highlights]
                if marked and all(_han(m) for m in marked):
                    read = {readings.get(m, ("", ""))[which] for m in marked}
                    if letters in read or any(
                        letters in readings.get(x, ("", ""))[which] for x in marked
                    ):
                        covered += 1
        target = 95 if which == 0 else 80
        print(
            f"pinyin, {kind}: a post holding the word in the top 10 for {found}/{SAMPLE} "
            f"= {100 * found / SAMPLE:.1f}% (target >= {target}%); e.g. missed: "
            f"{', '.join(misses) or 'none'}"
        )
        print(
            f"pinyin, {kind}: {covered}/{pinyin_hits} = {100 * covered / max(1, pinyin_hits):.1f}% "
            "of pinyin hits highlight only Chinese characters of a word read that way"
        )


def did_you_mean_part(ix: object, lex: object, rng: random.Random) -> None:
    counts = lex.counts()  # type: ignore[attr-defined]
    chars = lex.chars()  # type: ignore[attr-defined]
    words = sorted(w for w, c in counts.items() if 2 <= len(w) <= 4 and _han(w) and c >= 5)
    rng.shuffle(words)
    from pypinyin import lazy_pinyin  # the bench reads; a search never does

    # A homophone typo is what an input method offers for the syllable the word has there: a
    # character whose own (first) reading is that syllable.
    by_sound: dict[str, list[str]] = {}
    for c in sorted(chars):
        by_sound.setdefault(lazy_pinyin(c)[0], []).append(c)
    typos: list[tuple[str, str]] = []
    for w in words:
        if len(typos) >= SAMPLE:
            break
        i = rng.randrange(len(w))
        options = [c for c in by_sound.get(lazy_pinyin(w)[i], ()) if c != w[i]]
        if not options:
            continue
        typo = w[:i] + rng.choice(options) + w[i + 1 :]
        if ix.search(f'"{typo}"', limit=1).total == 0:  # type: ignore[attr-defined]
            typos.append((w, typo))
    right = 0
    missed: list[str] = []
    for w, t in typos:
        got = ix.search(t, limit=10).suggestion  # type: ignore[attr-defined]
        if got == w:
            right += 1
        elif len(missed) < 8:
            missed.append(f"{t}→{got or '-'} ({w})")
    print(
        f"did-you-mean, homophone typos: the original suggested for {right}/{len(typos)} = "
        f"{100 * right / len(typos):.1f}% (target >= 90%); e.g. missed: {', '.join(missed)}"
    )
    sample = rng.sample(words, SAMPLE)
    offered = [w for w in sample if ix.search(w, limit=10).suggestion is not None]  # type: ignore[attr-defined]
    print(
        f"did-you-mean, words typed right: no suggestion for {SAMPLE - len(offered)}/{SAMPLE} = "
        f"{100 * (SAMPLE - len(offered)) / SAMPLE:.1f}% (target >= 98%); offered for: "
        f"{' '.join(offered[:8]) or 'none'}"
    )


def suggest_part(ix: object, lex: object, rng: random.Random) -> None:
    counts = lex.counts()  # type: ignore[attr-defined]
    readings = lex.readings()  # type: ignore[attr-defined]
    words = [w for w, c in counts.items() if 2 <= len(w) <= 4 and _han(w) and w in readings]
    sample = rng.sample(sorted(words), 250)
    prefixes = [w[: rng.randint(1, len(w) - 1)] for w in sample]
    prefixes += [readings[w][0][: rng.randint(2, len(readings[w][0]))] for w in sample]
    t = time.perf_counter()
    ix.suggest("工信")  # type: ignore[attr-defined]
    first = time.perf_counter() - t
    for p in prefixes:  # warm-up: the lexicon's sorted tables are built once per snapshot
        ix.suggest(p)  # type: ignore[attr-defined]
    times: list[float] = []
    peer: list[float] = []
    for p in prefixes:
        t = time.perf_counter()
        ix.suggest(p, limit=10)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        ix.search(p, limit=10)  # type: ignore[attr-defined]
        peer.append(time.perf_counter() - t)
    print(
        f"suggest: {len(prefixes)} prefixes (half Han, half pinyin): median "
        f"{1000 * statistics.median(times):.2f} ms, p95 {1000 * p95(times):.2f} ms "
        f"(target < 10 ms); first call on an index just opened {1000 * first:.0f} ms; "
        f"a search of the same text: p95 {1000 * p95(peer):.2f} ms, ratio "
        f"{p95(times) / p95(peer):.2f}x"
    )


def user_words_part(
    folder: Path, corpus: Path, jobs: int, rebuild: float, rng: random.Random
) -> None:
    import newsearch

    with newsearch.open_index(folder) as ix:
        from newsearch.lexicon import Lexicon

        counts = Lexicon.of(ix._snap).counts()  # noqa: SLF001
        words: list[str] = []
        held: set[str] = set()
        tried = 0
        posts = [p for _, p, _ in ix._snap.states()]  # noqa: SLF001
        while len(words) < 10 and tried < 2000:
            tried += 1
            text = ix.get(rng.choice(posts)).text
            runs = [r for r in _han_runs(text) if len(r) >= 6]
            if not runs:
                continue
            run = rng.choice(runs)
            n = rng.randint(4, 6)
            i = rng.randrange(len(run) - n + 1)
            w = run[i : i + n]
            if w in counts or w in words:
                continue
            got = holders(ix, w)
            if 3 <= len(got) <= 400:
                words.append(w)
                held |= got
    ud = folder.parent / "user-words.txt"
    ud.write_text("".join(f"{w} 100000 n\n" for w in words), encoding="utf-8")
    t = time.perf_counter()
    report = newsearch.build_index(corpus, folder, jobs=jobs, user_dict=ud)
    took = time.perf_counter() - t
    print(f"user words: {' '.join(words)}")
    print(
        f"user words: 10 words added: {report.reanalysed} posts redone (the posts holding them: "
        f"{len(held)}; of {report.total}), {took:.1f} s against {rebuild:.1f} s for the full "
        f"build: {took / rebuild:.2f}x"
    )


def _han_runs(text: str) -> list[str]:
    import re

    return re.findall("[\u4e00-\u9fff]+", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--index", type=Path, help="an index of the posts, built before")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--n", type=int, default=36_066, help="posts to index (first N)")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}",
        flush=True,
    )
    import newsearch
    from newsearch.lexicon import Lexicon

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="newsearch-qu-") as tmp:
        scratch = Path(tmp)
        with tarfile.open(TARBALL) as tar:
            tar.extractall(scratch, filter="data")
        corpus = scratch / "xwlb"
        for name in sorted(os.listdir(corpus))[args.n :]:
            os.remove(corpus / name)
        folder = scratch / "index"
        if args.index:
            shutil.copytree(args.index, folder)
            rebuild = float("nan")
        else:
            t = time.perf_counter()
            report = newsearch.build_index(corpus, folder, jobs=args.jobs)
            rebuild = time.perf_counter() - t
            print(f"full build: {report.total} posts in {rebuild:.1f} s", flush=True)
        with newsearch.open_index(folder) as ix:
            lex = Lexicon.of(ix._snap)  # noqa: SLF001
            pinyin_part(ix, lex, rng)
            did_you_mean_part(ix, lex, rng)
            suggest_part(ix, lex, rng)
        if rebuild == rebuild:  # a full build of this run to compare with
            user_words_part(folder, corpus, args.jobs, rebuild, rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
