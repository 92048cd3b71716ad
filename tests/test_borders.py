"""Borders: each library the package uses is imported by the one part of it whose field it is.

Read from the source (every ``import`` statement, lazy ones inside functions included), so that a
new import across a border fails here, and a new library fails until it is given a place.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "newsearch"

#: Each library and the files (or folders, ending in "/") of the package that may import it.
BORDERS: dict[str, tuple[str, ...]] = {
    "jieba": ("analysis.py",),
    "rjieba": ("analysis.py",),
    "opencc": ("analysis.py",),
    "click": ("cli.py",),
    "rich": ("cli.py",),
    # whoosh_import.py: Whoosh first imported without urllib.request (see there).
    "whoosh": ("store/", "schema.py", "whoosh_import.py"),
    "starlette": ("serve/",),
    "uvicorn": ("serve/",),
    "jinja2": ("serve/",),
    "markupsafe": ("serve/",),
    "watchfiles": ("serve/", "watch.py"),
    "pypinyin": ("pinyin.py",),
    # The ranking's passes over large scopes, from a process's second search on.
    "numpy": ("ranking.py",),
    # Reading posts: front matter, Markdown, HTML.
    "yaml": ("corpus.py",),
    "markdown_it": ("corpus.py",),
    "selectolax": ("corpus.py",),
}


def _imports() -> dict[str, set[str]]:
    """Each third-party library the package imports, and the files that import it."""
    found: dict[str, set[str]] = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "newsearch":
                    found.setdefault(top, set()).add(rel)
    return found


def _inside(rel: str, places: tuple[str, ...]) -> bool:
    return any(rel.startswith(p) if p.endswith("/") else rel == p for p in places)


def test_each_library_is_imported_only_inside_its_border() -> None:
    found = _imports()
    crossings = sorted(
        f"{rel} imports {lib}"
        for lib, files in found.items()
        for rel in files
        if lib in BORDERS and not _inside(rel, BORDERS[lib])
    )
    assert crossings == []


def test_every_library_has_a_border() -> None:
    assert sorted(set(_imports()) - set(BORDERS)) == []


def test_every_border_is_in_use() -> None:
    # The table cannot keep a library the package no longer uses (pypinyin only where the
    # pinyin module is there).
    found = _imports()
    expected = set(BORDERS) - (set() if (PACKAGE / "pinyin.py").exists() else {"pypinyin"})
    assert sorted(expected - set(found)) == []
    assert found["whoosh"] >= {"schema.py"} and any(f.startswith("store/") for f in found["whoosh"])
    assert found["jieba"] == {"analysis.py"} and found["click"] == {"cli.py"}


def test_the_border_check_sees_lazy_imports() -> None:
    # The check reads imports inside functions too: the segmenter's jieba is imported lazily.
    source = (PACKAGE / "analysis.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    lazy = [
        node
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import) and any(a.name == "jieba" for a in node.names)
    ]
    assert lazy and "analysis.py" in _imports()["jieba"]
