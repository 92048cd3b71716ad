"""The usual recipe newsearch is measured against, defined once for both benchmark scripts:
Whoosh with ``jieba.analyse.ChineseAnalyzer`` for the title and the body, python-frontmatter to
read the posts, one writer."""

from __future__ import annotations

import logging
from typing import Any


def schema() -> Any:
    import jieba
    from jieba.analyse import ChineseAnalyzer
    from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema

    jieba.setLogLevel(logging.WARNING)
    analyzer = ChineseAnalyzer()
    return Schema(
        path=ID(stored=True, unique=True),
        title=TEXT(stored=True, analyzer=analyzer),
        content=TEXT(stored=True, analyzer=analyzer),
        categories=KEYWORD(stored=True, commas=True),
        date=DATETIME(stored=True),
    )


def read(path: str) -> dict[str, str]:
    """A post as the recipe indexes it: title, raw body, categories."""
    import frontmatter

    post = frontmatter.load(path)
    return {
        "title": str(post.get("title", "")),
        "content": post.content,
        "categories": str(post.get("categories", "")),
    }
