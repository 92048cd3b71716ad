"""The README's commands work as written: the quick start, every ``$ newsearch ...`` line of its
console examples (run in order, in a copy of the bundled corpus), and its Python example."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: Every test here starts processes (the console script, Python itself).
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str, section: str | None = None) -> list[str]:
    text = README
    if section is not None:
        start = text.index(f"## {section}")
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def quick_start() -> list[str]:
    return [b.strip() for b in blocks("sh", "Quick start")]


def console_commands() -> list[str]:
    out = []
    for block in blocks("console"):
        out += [line[2:].strip() for line in block.splitlines() if line.startswith("$ ")]
    return out


def newsearch(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled corpus, with no index yet: a fresh checkout as the README sees it."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "corpus", work / "corpus")
    return work


def test_quick_start_is_two_commands_and_ci_runs_the_test_command() -> None:
    install_and_search, install_and_test = quick_start()
    assert "\n" not in install_and_search and "\n" not in install_and_test
    assert install_and_search.endswith("newsearch search 工业经济")
    assert "pip install" in install_and_search and "pip install" in install_and_test
    assert "pytest" in install_and_test
    lines = [
        line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ]
    steps = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]
    # CI runs the README's test command as written, first; the other checks come after it.
    assert steps[0] == install_and_test
    later = "\n".join(steps[1:])
    for check in ("ruff check newsearch tests", "ruff format --check newsearch tests", "mypy"):
        assert check in later, check


def test_quick_start_search_builds_the_index_then_finds_the_post(tmp_path: Path) -> None:
    # A checkout of its own: in the shared one another test may have built the index already.
    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    command = quick_start()[0].rsplit("&&", 1)[1].split()
    assert command[0].endswith("newsearch")
    result = newsearch(command[1:], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "building it from corpus/" in result.stderr
    assert "Traceback" not in result.stderr
    first = result.stdout.split("\n\n")[1]
    assert "工信部召开提振工业经济电视电话会议" in first
    assert (tmp_path / "index" / "NEWSEARCH").is_file()


def test_every_console_command_runs(workdir: Path) -> None:
    commands = console_commands()
    assert len(commands) >= 10
    # The index exists after the quick start; build it here too so that order never matters.
    assert newsearch(["index", "--quiet"], workdir).returncode == 0
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "newsearch", line
        result = newsearch(args[1:], workdir)
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        assert result.stdout.strip(), line
        assert "Traceback" not in result.stderr, line


def test_the_python_example_runs(workdir: Path) -> None:
    (example,) = blocks("python", "The library")
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "finews/2022-05-27-NW202205272394760297.md" in result.stdout


def test_the_benchmark_documented_exists_and_explains_itself() -> None:
    commands = blocks("sh", "Performance")
    assert any("tests/bench/benchmark.py" in command for command in commands), commands
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "benchmark.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--n" in result.stdout


def test_missing_real_data_fails_with_one_line_naming_newsearch_shared(tmp_path: Path) -> None:
    assert "NEWSEARCH_SHARED" in README
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        + ["tests/test_corpus.py::test_every_finews_post_is_read_right"],
        cwd=ROOT,
        env={**os.environ, "NEWSEARCH_SHARED": str(tmp_path / "nowhere")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    lines = [line for line in result.stdout.splitlines() if "real data not found" in line]
    assert lines and lines[0].startswith("real data not found: no "), result.stdout
    assert str(tmp_path / "nowhere" / "corpus" / "finews") in lines[0]
    assert "set NEWSEARCH_SHARED" in lines[0]
    assert "Traceback" not in result.stdout and "AssertionError" not in result.stdout
