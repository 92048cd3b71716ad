"""Shared test fixtures: where the real data lives, and one unpacked copy of the 新闻联播 posts."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Read-only real data beside the clone (``../shared``); NEWSEARCH_SHARED overrides it.
SHARED = Path(os.environ.get("NEWSEARCH_SHARED", ROOT.parent / "shared")).resolve()
FINEWS = SHARED / "corpus" / "finews"
XWLB_TAR = SHARED / "data" / "xwlb-posts.tar.gz"
BUNDLED_CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def finews_dir() -> Path:
    assert FINEWS.is_dir(), f"real posts expected at {FINEWS}"
    return FINEWS


@pytest.fixture(scope="session")
def xwlb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 36,066 新闻联播 posts, unpacked once per session (about 1 s)."""
    assert XWLB_TAR.is_file(), f"real posts expected at {XWLB_TAR}"
    out = tmp_path_factory.mktemp("xwlb")
    with tarfile.open(XWLB_TAR) as tar:
        tar.extractall(out, filter="data")
    return out / "xwlb"
