"""How fast the corpus reader turns posts into text, next to what jieba needs for the same text.

Usage: .venv/bin/python tests/bench/read_corpus.py [N] [--dir FOLDER] [--jieba-posts K]

Reads the first N posts (sorted by path; all by default) of FOLDER (default: /tmp/xwlb/xwlb, else
the 新闻联播 posts unpacked from ../shared/data/xwlb-posts.tar.gz into a temporary folder), then
segments the text of K of those posts, spread evenly, with jieba's precise mode and compares.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from newsearch.corpus import PostError, discover, parse_post

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))
DEFAULT_DIR = Path("/tmp/xwlb/xwlb")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("n", nargs="?", type=int, default=None, help="posts to read (default all)")
    parser.add_argument("--dir", type=Path, default=None, help="folder of posts")
    parser.add_argument("--jieba-posts", type=int, default=2000, help="posts to segment (0: none)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.dir or DEFAULT_DIR
        if args.dir is None and not folder.is_dir():
            print(f"unpacking {SHARED / 'data' / 'xwlb-posts.tar.gz'} ...", file=sys.stderr)
            with tarfile.open(SHARED / "data" / "xwlb-posts.tar.gz") as tar:
                tar.extractall(scratch, filter="data")
            folder = Path(scratch) / "xwlb"
        return run(folder, args.n, args.jieba_posts)


def run(folder: Path, n: int | None, jieba_posts: int) -> int:
    files, problems = discover(folder)
    files = files[:n] if n is not None else files
    texts: list[str] = []
    seconds: list[float] = []
    file_bytes = 0
    failed = len(problems)
    clock = time.perf_counter
    start = clock()
    for file in files:
        began = clock()
        data = Path(file.abspath).read_bytes()
        try:
            post = parse_post(data, file.path)
        except PostError as exc:
            failed += 1
            print(f"problem: {file.path}: {exc.reason}", file=sys.stderr)
            continue
        seconds.append(clock() - began)
        texts.append(post.text)
        file_bytes += len(data)
    total = clock() - start
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"folder      {folder}")
    print(f"posts       {len(files)} read, {failed} problems, {total:.2f} s (one process)")
    print(f"reader      {len(files) / total:,.0f} posts/s")
    print(
        f"            {file_bytes / total / 1e6:.1f} MB/s of file bytes ({file_bytes / 1e6:.1f} MB)"
    )
    print(f"            {text_bytes / total / 1e6:.1f} MB/s of text ({text_bytes / 1e6:.1f} MB)")
    if jieba_posts <= 0 or not texts:
        return 1 if failed else 0

    import jieba  # only here: the reader itself must never need it

    jieba.setLogLevel(logging.WARNING)
    began = clock()
    jieba.initialize()
    print(f"jieba       initialize {clock() - began:.2f} s (not counted)")
    step = max(1, len(texts) // jieba_posts)
    sample = list(range(0, len(texts), step))[:jieba_posts]
    sample_bytes = sum(len(texts[i].encode("utf-8")) for i in sample)
    began = clock()
    for i in sample:
        for _ in jieba.cut(texts[i]):
            pass
    jieba_seconds = clock() - began
    reader_seconds = sum(seconds[i] for i in sample)
    print(
        f"same sample {len(sample)} posts, {sample_bytes / 1e6:.1f} MB of text: "
        f"jieba {jieba_seconds:.2f} s ({sample_bytes / jieba_seconds / 1e6:.2f} MB/s), "
        f"reader {reader_seconds:.2f} s ({sample_bytes / reader_seconds / 1e6:.1f} MB/s)"
    )
    print(f"ratio       the reader costs {reader_seconds / jieba_seconds:.1%} of jieba's time")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
