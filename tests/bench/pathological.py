"""How long the corpus reader takes on big and pathological posts, next to ordinary Markdown.

Usage: .venv/bin/python tests/bench/pathological.py [--repeat N]

The inputs are those of the robustness tests of tests/test_corpus.py (which bound each at a
ratio of the same peer): for each, the seconds of parsing it (the best of N) and that time as a
multiple of parsing the peer, a megabyte of ordinary Markdown. Before the tests bounded ratios,
they held each input under 3 seconds.
"""

from __future__ import annotations

import argparse
import time

from newsearch import corpus
from newsearch.corpus import parse_post

HEADER = "---\nlayout: post\ntitle: 标题\ndate: 2021-12-08 10:46:18\ncategories: emnews\n---\n"
PARAGRAPH = (
    "超低GWP制冷剂的**新能源**汽车来了！[链接](http://x) `代码` &amp; <span>新</span>能源\n\n"
)
PEER = HEADER + PARAGRAPH * 10_000

CASES = {
    "5 MB of plain lines": HEADER + "新闻联播的文字稿。\n" * 180_000,
    "5 MB of Markdown": HEADER + PARAGRAPH * 40_000,
    "2 MB on one line": HEADER + "一行" * 350_000,
    "2 MB of emphasis on one line": HEADER + "*强*_调_" * 250_000,
    "worst inline Markdown below the limit": HEADER + "![a" * (corpus.MARKDOWN_LIMIT // 3),
    "10,000 nested <div>, closed": HEADER + "<div>" * 10_000 + "深处" + "</div>" * 10_000,
    "10,000 nested <div>": HEADER + "<div>" * 10_000 + "深处",
    "10,000 nested <blockquote>": HEADER + "<blockquote>" * 10_000 + "深处",
    "10,000 nested '> '": HEADER + "> " * 10_000 + "深处",
    "10,000 nested '- '": HEADER + "- " * 10_000 + "深处",
    "500,000 '<'": HEADER + "正文" + "<" * 500_000,
    "60,000 '['": HEADER + "正文" + "[" * 60_000,
    "100,000 '{% raw %}'": HEADER + "正文" + "{% raw %}" * 100_000,
    "front matter of 200,000 lines": "---\ntitle: 大\n" + "key: value\n" * 200_000 + "---\n正文",
}


def best(data: bytes, repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        parse_post(data, "2021-12-08-post.md")
        out = min(out, time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the best counts)")
    args = parser.parse_args()
    peer = best(PEER.encode(), args.repeat)
    print(f"peer, 1 MB of ordinary Markdown: {peer:.3f} s")
    print(f"{'input':<40} {'bytes':>10} {'seconds':>8} {'x peer':>7}")
    for name, text in CASES.items():
        data = text.encode()
        seconds = best(data, args.repeat)
        print(f"{name:<40} {len(data):>10,} {seconds:>8.3f} {seconds / peer:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
