"""Where indexing time goes, stage by stage, for the usual recipe and for newsearch.

Both run in this one process, serially (no worker processes), on the first N posts (sorted file
names) of the 新闻联播 archive, so the stages compare like for like:

- usual recipe: reading (python-frontmatter), segmentation (jieba's ChineseAnalyzer run on its
  own over the same text), Whoosh's writer (add_document minus the segmentation it does inside),
  commit (sorting the postings pool and writing the segment);
- newsearch: reading (file bytes, SHA-1, front matter, Markdown/HTML to text), analysis
  (normalisation, rjieba, positions, sub-words, joins), collecting postings (SegmentBuilder.add),
  writing the segment (postings blocks, term table, stored fields, compound file), commit.

    .venv/bin/python tests/bench/stages.py [N]      # default 5000
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared"))


def naive(files: list[Path], folder: Path) -> dict[str, float]:
    import jieba
    from usual_recipe import read, schema
    from whoosh import index

    jieba.initialize()
    recipe = schema()
    analyzer = recipe["content"].analyzer
    ix = index.create_in(str(folder), recipe)
    writer = ix.writer()
    t = {"reading": 0.0, "segmentation": 0.0, "whoosh writer": 0.0, "commit": 0.0}
    for f in files:
        a = time.perf_counter()
        post = read(str(f))
        title, content = post["title"], post["content"]
        b = time.perf_counter()
        for text in (title, content):
            for _ in analyzer(text):
                pass
        c = time.perf_counter()
        writer.add_document(path=str(f), **post)
        d = time.perf_counter()
        t["reading"] += b - a
        t["segmentation"] += c - b
        # add_document segments the text again inside: count that as segmentation.
        t["whoosh writer"] += max(0.0, (d - c) - (c - b))
        t["segmentation"] += min(d - c, c - b)
    a = time.perf_counter()
    writer.commit()
    t["commit"] = time.perf_counter() - a
    return t


def newsearch_stages(files: list[Path], root: Path, folder: Path) -> dict[str, float]:
    from newsearch import corpus, store
    from newsearch.analysis import Analyzer, current_settings
    from newsearch.schema import FileState, IndexSettings, content_hash, make_document, make_schema

    settings = IndexSettings(current_settings(), corpus.DEFAULT_TIMEZONE)
    analyzer = Analyzer(settings.analysis)
    analyzer.terms("预热")  # load the segmenter outside the measurement
    storage = store.storage_for(str(folder))
    schema = make_schema(settings)
    store.write_marker(str(folder))
    builder = store.SegmentBuilder(storage, schema)
    t = {
        "reading": 0.0,
        "analysis": 0.0,
        "collecting postings": 0.0,
        "writing segment": 0.0,
        "commit": 0.0,
    }
    for f in files:
        a = time.perf_counter()
        data = f.read_bytes()
        st = f.stat()
        state = FileState(st.st_size, st.st_mtime_ns, content_hash(data))
        post = corpus.parse_post(data, f.relative_to(root).as_posix())
        b = time.perf_counter()
        doc = make_document(post, analyzer, state, corpus.DEFAULT_TIMEZONE)
        c = time.perf_counter()
        builder.add(doc)
        t["reading"] += b - a
        t["analysis"] += c - b
        t["collecting postings"] += time.perf_counter() - c
    a = time.perf_counter()
    segment = builder.finish()
    t["writing segment"] = time.perf_counter() - a
    a = time.perf_counter()
    store.write_commit(str(folder), store.Commit(schema, [segment], 0, store.new_index_id()))
    t["commit"] = time.perf_counter() - a
    return t


def show(name: str, stages: dict[str, float], mb: float) -> None:
    total = sum(stages.values())
    print(
        f"\n{name}: {total:.1f} s for {mb:.1f} MB of post files ({mb / total:.2f} MB/s, one core)"
    )
    for stage, seconds in stages.items():
        print(
            f"  {stage:<22} {seconds:7.2f} s  {seconds / total * 100:5.1f} %  "
            f"{mb / seconds if seconds else float('inf'):8.2f} MB/s"
        )


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    logging.getLogger("jieba").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="newsearch-stages-") as tmp:
        scratch = Path(tmp)
        with tarfile.open(SHARED / "data" / "xwlb-posts.tar.gz") as tar:
            tar.extractall(scratch / "all", filter="data")
        root = scratch / "corpus"
        (root / "xwlb").mkdir(parents=True)
        for name in sorted(os.listdir(scratch / "all" / "xwlb"))[:n]:
            shutil.copy2(scratch / "all" / "xwlb" / name, root / "xwlb" / name)
        files = sorted((root / "xwlb").iterdir())
        mb = sum(f.stat().st_size for f in files) / 1e6
        (scratch / "naive").mkdir()
        (scratch / "ns").mkdir()
        show("usual recipe", naive(files, scratch / "naive"), mb)
        show("newsearch", newsearch_stages(files, root, scratch / "ns"), mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
