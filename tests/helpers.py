"""Small helpers shared by the analysis, indexing and search tests: writing posts, building
small indexes, copying subsets of the real posts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from newsearch.analysis import Analyzer, current_settings
from newsearch.indexer import build_index
from newsearch.models import IndexReport, SearchResults


@lru_cache(maxsize=1)
def analyzer() -> Analyzer:
    """The default analyzer (rjieba when installed), shared by the whole session."""
    return Analyzer(current_settings())


def post_text(
    title: str | None,
    body: str,
    *,
    date: str | None = "2022-05-27 10:00:00 +0800",
    categories: str | None = "news",
    tags: Iterable[str] | None = None,
) -> str:
    """The text of a Jekyll post with the given front matter and body."""
    lines = ["---", "layout: post"]
    if title is not None:
        lines.append(f'title: "{title}"')
    if date is not None:
        lines.append(f"date: {date}")
    if categories is not None:
        lines.append(f"categories: {categories}")
    if tags is not None:
        lines.append("tags: [" + ", ".join(tags) + "]")
    lines.append("---")
    return "\n".join(lines) + "\n" + body + "\n"


def write_post(folder: Path, name: str, title: str | None, body: str, **kwargs: object) -> Path:
    """Write one post into ``folder`` and return its file."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(post_text(title, body, **kwargs), encoding="utf-8")  # type: ignore[arg-type]
    return path


def build(corpus: Path, index: Path, **kwargs: object) -> IndexReport:
    """build_index with one job unless the test says otherwise."""
    kwargs.setdefault("jobs", 1)
    return build_index(corpus, index, **kwargs)  # type: ignore[arg-type]


def copy_posts(src: Path, dest: Path, *, first: int | None = None, step: int = 1) -> list[Path]:
    """Copy posts of ``src`` (sorted by name): the first ``first`` ones, every ``step``-th one."""
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.suffix == ".md")
    chosen = files[::step]
    if first is not None:
        chosen = chosen[:first]
    out = []
    for f in chosen:
        target = dest / f.name
        shutil.copyfile(f, target)
        out.append(target)
    return out


def paths(results: SearchResults) -> list[str]:
    return [h.path for h in results.hits]


def read_terminal(leader: int) -> str:
    """Everything written to a pseudo-terminal until its other side closes, as text; closes
    ``leader``."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@contextmanager
def tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``3m``) at ``tmp_path/disk`` (root only, as in CI); unmounted
    whatever the block does."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def cold_search_imports(index: Path, *query: str) -> tuple[dict[str, object], set[str]]:
    """A whole ``newsearch search --json`` command: its result, and every module it imported
    (from ``python -X importtime``)."""
    import json
    import sys

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "newsearch", "search", *query]
        + ["--index", str(index), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "newsearch.engine" in imported  # the report lists what was imported
    result: dict[str, object] = json.loads(done.stdout)
    return result, imported


def python_json(code: str) -> Any:
    """What a fresh Python process running ``code`` prints, read as JSON."""
    import json
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
