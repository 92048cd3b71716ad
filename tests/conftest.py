"""Shared test fixtures: where the real data lives, an index of the bundled corpus, and one
unpacked copy of the 新闻联播 posts."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Read-only real data beside the clone (``../shared``); NEWSEARCH_SHARED overrides it.
SHARED = Path(os.environ.get("NEWSEARCH_SHARED") or ROOT.parent / "shared").resolve()
FINEWS = SHARED / "corpus" / "finews"
XWLB_TAR = SHARED / "data" / "xwlb-posts.tar.gz"
BUNDLED_CORPUS = ROOT / "corpus"


def shared_data(path: Path) -> Path:
    """``path`` under the real data folder, or the test fails with one line that says where it
    looked and how to point newsearch's tests at the data."""
    if not path.exists():
        where = "NEWSEARCH_SHARED" if os.environ.get("NEWSEARCH_SHARED") else "../shared"
        pytest.fail(
            f"real data not found: no {path} (the data folder is {SHARED}, from {where}); "
            "set NEWSEARCH_SHARED to the folder that holds corpus/finews/ and data/",
            pytrace=False,
        )
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the 36,066 新闻联播 posts (unpacked and indexed by the hundred) is an
    integration test, like one that starts processes (those are marked where they are)."""
    for item in items:
        if "xwlb_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def finews_dir() -> Path:
    """The 141 real posts of a financial news site (``../shared/corpus/finews``)."""
    return shared_data(FINEWS)


@pytest.fixture(scope="session")
def xwlb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 36,066 新闻联播 posts, unpacked once per session (about 1 s)."""
    tar_path = shared_data(XWLB_TAR)
    out = tmp_path_factory.mktemp("xwlb")
    with tarfile.open(tar_path) as tar:
        tar.extractall(out, filter="data")
    return out / "xwlb"


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the bundled sample corpus (``corpus/``: 620 real posts), built once."""
    from helpers import build

    index = tmp_path_factory.mktemp("bundled") / "index"
    report = build(BUNDLED_CORPUS, index)
    assert report.total == 620
    assert report.problems == ()
    return index


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that killed builds (test_kill.py): each kill and what the last commit held;
    left out with -q."""
    helpers = sys.modules.get("reliability_helpers")
    kills = getattr(helpers, "KILLS", None)
    if kills and terminalreporter.verbosity >= 0:
        terminalreporter.section("kills")
        for test, moment, kind, posts in kills:
            held = "no commit" if posts is None else f"{posts} posts committed"
            terminalreporter.write_line(f"{test} at {moment} ({kind}): {held}")
