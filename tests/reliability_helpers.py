"""Helpers of the reliability and kill tests: real ``newsearch`` subprocesses, what /proc says about
them (process groups, POSIX locks), corpora of real posts, and a catalogue of broken posts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from newsearch import open_index
from newsearch.errors import IndexNotFoundError

ROOT = Path(__file__).resolve().parents[1]
#: The console script of the venv running the tests (``python -m newsearch`` if there is none).
_SCRIPT = Path(sys.executable).with_name("newsearch")
NEWSEARCH = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "newsearch"]
#: Exit code of "another process is writing the index".
LOCKED_EXIT = 75

# The same command line in a fresh interpreter, with smaller index batches. With the defaults a
# build of a few MB is two batches (one per job), so two commits; smaller batches make a dozen
# commits and a merge, which gives a kill something to interrupt between and inside commits.
_SMALL_BATCHES = (
    "import sys\n"
    "from newsearch import indexer\n"
    "indexer.MAX_BATCH_BYTES = int(sys.argv[1])\n"
    "indexer.MIN_BATCH_BYTES = min(indexer.MIN_BATCH_BYTES, indexer.MAX_BATCH_BYTES)\n"
    "from newsearch.cli import main\n"
    "main(sys.argv[2:])\n"
)


#: ``python -c HOLD_MARKER index ...``: the CLI, held for HOLD_SECONDS (environment) inside the
#: few microseconds where a first build has written ``NEWSEARCH.tmp`` but not yet renamed it to
#: the marker; it creates ``.held`` in the index folder when it gets there.
HOLD_MARKER = (
    "import os, sys, time\n"
    "real = os.replace\n"
    "def held(src, dst, *a, **k):\n"
    "    if os.path.basename(os.fspath(dst)) == 'NEWSEARCH':\n"
    "        open(os.path.join(os.path.dirname(dst), '.held'), 'w').close()\n"
    "        time.sleep(float(os.environ['HOLD_SECONDS']))\n"
    "    return real(src, dst, *a, **k)\n"
    "os.replace = held\n"
    "from newsearch.cli import main\n"
    "main(sys.argv[1:])\n"
)


def newsearch_cmd(*args: object, batch_bytes: int | None = None) -> list[str]:
    """The argv of ``newsearch ARGS``: the console script, or the CLI with smaller batches."""
    if batch_bytes is None:
        return [*NEWSEARCH, *map(str, args)]
    return [sys.executable, "-c", _SMALL_BATCHES, str(batch_bytes), *map(str, args)]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a ``newsearch`` subprocess: UTF-8, no colour settings, no debug."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "NEWSEARCH_DEBUG")
    }
    env["PYTHONUTF8"] = "1"
    env.update(extra)
    return env


def run_newsearch(
    *args: object, timeout: float = 120, batch_bytes: int | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``newsearch ARGS`` to its end (a hang fails the test through the timeout)."""
    return subprocess.run(
        newsearch_cmd(*args, batch_bytes=batch_bytes),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        env=subprocess_env(**env),
        start_new_session=True,
    )


class Running:
    """A ``newsearch`` subprocess in its own process group (its workers join that group)."""

    def __init__(self, argv: list[str], out_dir: Path, **env: str):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = out_dir / f"out-{time.monotonic_ns()}.txt"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self._out = open(self.stdout_path, "wb")  # noqa: SIM115 - closed in finish()
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            env=subprocess_env(**env),
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.ended: float | None = None

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 120) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise
        self._finish()
        return code

    def kill_parent(self) -> bool:
        """SIGKILL the indexer alone; True if it was still running."""
        alive = self.running()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._finish()
        return alive

    def kill_group(self) -> bool:
        """SIGKILL the indexer and everything in its process group; True if it was running."""
        alive = self.running()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._finish()
        return alive

    def _finish(self) -> None:
        if self.ended is None:
            self.ended = time.monotonic()
        for fh in (self._out, self._err):
            if not fh.closed:
                fh.close()

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever happened in the test, nothing of this run survives it.
        with contextlib.suppress(Exception):
            self.kill_group()


def start_newsearch(
    *args: object, out_dir: Path, batch_bytes: int | None = None, **env: str
) -> Running:
    return Running(newsearch_cmd(*args, batch_bytes=batch_bytes), out_dir, **env)


# --- what /proc says ------------------------------------------------------------------------------


def _processes() -> list[tuple[int, list[str]]]:
    """(pid, fields of /proc/pid/stat after the command name) of every process."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        out.append((int(name), stat[stat.rindex(")") + 2 :].split()))
    return out


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, state) of the processes in a process group; state "Z" is a zombie (dead)."""
    return [(pid, fields[0]) for pid, fields in _processes() if int(fields[2]) == pgid]


def live_members(pgid: int) -> list[int]:
    return [pid for pid, state in group_members(pgid) if state not in ("Z", "X")]


def children_of(pid: int) -> list[int]:
    return [
        child
        for child, fields in _processes()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X")
    ]


def lock_holders(index: Path) -> set[int]:
    """Pids holding a POSIX lock on the index's lock file, from /proc/locks.

    Reading /proc/locks does not touch the lock: probing with lockf would take it for a moment
    and could make a starting indexer fail with "locked".
    """
    from newsearch.store import LOCK_FILE

    try:
        st = os.stat(index / LOCK_FILE)
    except FileNotFoundError:
        return set()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    with open("/proc/locks", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            # "1: POSIX  ADVISORY  WRITE 26447 fe:00:11411514 0 EOF" (blocked waiters: "->")
            if "->" in parts:
                continue
            if len(parts) >= 6 and parts[1] == "POSIX" and parts[5] == dev:
                holders.add(int(parts[4]))
    return holders


def wait_for(predicate: Callable[[], Any], timeout: float, poll: float = 0.005) -> Any:
    """Poll until ``predicate()`` is true; its value, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(poll)


# --- the index folder -----------------------------------------------------------------------------

_TOC = re.compile(r"_MAIN_(\d+)\.toc$")


def generations(index: Path) -> list[int]:
    """Generations of the tables of contents in the folder (the commits that exist now)."""
    try:
        names = os.listdir(index)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _TOC.match(n)))


def latest_generation(index: Path) -> int:
    return max(generations(index), default=-1)


def segment_files(index: Path) -> set[str]:
    """The segment files in the folder now (a rebuild writes them before its one commit)."""
    try:
        return {n for n in os.listdir(index) if n.endswith(".seg")}
    except FileNotFoundError:
        return set()


def listing(folder: Path) -> dict[str, tuple[int, str]]:
    """Each file under ``folder``: relative path -> size and SHA-1 (to see that nothing changed)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            out[str(path.relative_to(folder))] = (len(data), hashlib.sha1(data).hexdigest())
        else:
            out[str(path.relative_to(folder))] = (-1, "dir" if path.is_dir() else "other")
    return out


def index_files_problems(index: Path) -> list[str]:
    """What an index folder holds besides its marker, lock, one TOC and the segments it names."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    from newsearch.store import INDEX_NAME, LOCK_FILE, MARKER

    toc = TOC.read(FileStorage(str(index), readonly=True), INDEX_NAME)
    wanted = {MARKER, LOCK_FILE, f"_{INDEX_NAME}_{toc.generation}.toc"}
    wanted |= {f"{seg.segment_id()}.seg" for seg in toc.segments}
    present = set(os.listdir(index))
    return sorted(present - wanted) + [f"missing {n}" for n in sorted(wanted - present)]


# --- corpora --------------------------------------------------------------------------------------


def news_corpus(dest: Path, xwlb_dir: Path, finews_dir: Path, *, xwlb: int, step: int) -> Path:
    """``xwlb`` 新闻联播 posts (every ``step``-th, so all years) under ``xwlb/`` plus the finews
    posts under ``finews/``."""
    (dest / "xwlb").mkdir(parents=True)
    chosen = sorted(p.name for p in xwlb_dir.iterdir() if p.suffix == ".md")[::step][:xwlb]
    assert len(chosen) == xwlb
    for name in chosen:
        shutil.copyfile(xwlb_dir / name, dest / "xwlb" / name)
    shutil.copytree(finews_dir, dest / "finews")
    return dest


def corpus_paths(corpus: Path) -> list[str]:
    """The post paths of a corpus of plain, good posts, in the order the indexer sorts them."""
    return sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.md"))


#: Single words (one analysed word each), with 5 to 450 matches in the kill corpus: the posts that
#: match one of them are the same in any subset of the corpus, so a partial index must find
#: exactly the reference's matches among its own posts.
WORD_QUERIES = ["疫情", "人民币", "美元", "习近平", "会议", "工业", "股份", "基金", "冬奥", "港股"]
#: Queries whose matches may depend on the rest of the index (several words, ranking, filters).
OTHER_QUERIES = [
    "工业经济",
    "业经",
    '"人民币汇率"',
    "疫情 OR 防控",
    "新闻 -疫情",
    "title:习近平",
    "category:emnews 美元",
    "人民币兑美元中间价",
]


def results_state(index: Path, queries: list[str]) -> dict[str, Any]:
    """Everything a user could see of an index for ``queries``: paths, hits, info."""
    with open_index(index) as ix:
        out: dict[str, Any] = {"paths": ix.paths(), "len": len(ix)}
        info = ix.info()
        out["info"] = (info.posts, info.first_date, info.last_date, info.categories, info.tags)
        for q in queries:
            res = ix.search(q, limit=30)
            out[q] = (
                res.total,
                [
                    (
                        h.rank,
                        h.path,
                        h.match,
                        round(h.score, 9),
                        h.title,
                        h.snippet,
                        h.highlights,
                        h.title_highlights,
                    )
                    for h in res.hits
                ],
            )
    return out


def match_sets(index: Path, queries: list[str]) -> dict[str, frozenset[str]]:
    with open_index(index) as ix:
        return {q: frozenset(h.path for h in ix.search(q, limit=None).hits) for q in queries}


def check_partial_index(
    index: Path, sorted_paths: list[str], matches: dict[str, frozenset[str]]
) -> int | None:
    """What a killed build left: None (no commit yet) or a searchable index of the first N posts.

    Batches are committed in path order, so the posts of any commit are a prefix of the sorted
    paths; a word query finds exactly the reference's matches among them.
    """
    try:
        ix = open_index(index)
    except IndexNotFoundError:
        return None
    with ix:
        got = ix.paths()
        assert got == sorted_paths[: len(got)], "a commit holds posts that are not a prefix"
        have = set(got)
        for q, ref in matches.items():
            res = ix.search(q, limit=10)
            assert all(h.path in have for h in res.hits), q
            assert res.total == len(ref & have), (q, res.total, len(ref & have))
        return len(got)


# --- the catalogue of broken posts ----------------------------------------------------------------

FM = (
    '---\nlayout: post\ntitle: "{title}"\ndate: 2022-05-{day:02d} 10:00:00 +0800\n'
    "categories: news\n---\n"
)
FILLER = "国家统计局今天发布数据，一季度全国规模以上工业增加值同比增长，工业经济运行总体平稳。"


@dataclass(frozen=True)
class Kind:
    """One kind of (broken) file and what the reader decided to do with it.

    ``expect`` is "post" (read, perhaps recovered: found by its marker), "problem" (reported with
    a reason matching ``reason``) or "either" (random bytes: the build and the reader agree).
    """

    name: str
    expect: str
    why: str
    reason: str = ""


def _post(title: str, body: str, day: int = 1) -> str:
    return FM.format(title=title, day=day) + body + "\n"


def _big(marker: str, size: int, *, one_line: bool) -> bytes:
    sep = "" if one_line else "\n"
    unit = FILLER + sep
    count = max(1, size // len(unit.encode()))
    body = unit * (count // 2) + f"中段{marker}中段" + sep + unit * (count - count // 2)
    return _post("很长的新闻", body + f"结尾{marker}结尾").encode()


#: name -> (kind, writer). A writer gets the folder, a stem, the marker, the scale (1.0 = the
#: sizes of the issue: 5 MB bodies, 2 MB lines) and a payload (random bytes for "either" kinds);
#: it returns {relative path: expectation} for every file it made.
WRITERS: dict[str, tuple[Kind, Callable[[Path, str, str, float, bytes], dict[str, str]]]] = {}


def _kind(name: str, expect: str, why: str, reason: str = "") -> Callable[[Any], Any]:
    def register(fn: Callable[[Path, str, str, float, bytes], Any]) -> Any:
        kind = Kind(name, expect, why, reason)

        def write(folder: Path, stem: str, marker: str, scale: float, payload: bytes) -> Any:
            made = fn(folder, stem, marker, scale, payload)
            if isinstance(made, bytes):
                (folder / f"{stem}.md").write_bytes(made)
                return {f"{stem}.md": expect}
            return made

        WRITERS[name] = (kind, write)
        return fn

    return register


# Posts: read, maybe recovered, always searchable by their marker ----------------------------------


@_kind("good", "post", "a plain post")
def _good(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("普通新闻", f"今天{m}发布了一条新闻。{FILLER}").encode()


@_kind("good_in_title", "post", "a plain post, the marker in its title only")
def _good_title(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post(f"标题{m}新闻", FILLER).encode()


@_kind("bom_crlf", "post", "BOM and CRLF line ends are tolerated")
def _bom_crlf(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b"\xef\xbb\xbf" + _post(f"回车{m}", FILLER).replace("\n", "\r\n").encode()


@_kind("invalid_yaml", "post", "invalid YAML: fields recovered line by line (title kept)")
def _invalid_yaml(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    front = f"---\ntitle: 坏的{m}标题\ndate: [2022-05-01\ntags: {{a: b\n\t- x: : :\n---\n"
    return (front + FILLER + "\n").encode()


@_kind("unescaped_quotes", "post", 'title: "..."..." (the generator\'s bug): recovered')
def _unescaped(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post(f'他说"{m}"是"对的\\', FILLER).encode()


@_kind("unclosed_front_matter", "post", "--- never closed: leading key lines recovered")
def _unclosed(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return f"---\ntitle: 未闭合{m}\ndate: 2022-05-01 10:00:00 +0800\n{FILLER}\n".encode()


@_kind("unclosed_no_keys", "post", "--- never closed, no key lines: read without front matter")
def _unclosed_no_keys(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return f"---\n今天{m}的新闻。{FILLER}\n".encode()


@_kind("no_front_matter", "post", "no front matter: title from the text")
def _no_fm(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return f"{FILLER}\n今天{m}的新闻。\n".encode()


@_kind("gb18030", "post", "not UTF-8: read as GB18030")
def _gb(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("国标编码", f"编码{m}测试。{FILLER}").encode("gb18030")


@_kind("utf16", "post", "UTF-16 with a BOM")
def _utf16(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("十六位", f"编码{m}测试。{FILLER}").encode("utf-16")


@_kind("damaged_utf8", "post", "a few damaged UTF-8 bytes: replaced by U+FFFD, rest kept")
def _damaged(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    data = _post("损坏", FILLER * 3 + f"损坏{m}字节。" + FILLER * 3).encode()
    cut = len(data) // 3
    return data[:cut] + data[cut + 1 :]  # one byte of a character is gone


@_kind("stray_controls", "post", "a few NULs and control characters: removed")
def _controls(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("控制", f"{FILLER}\x00控\x07制\x1b[31m{m}\x00结束\x08。{FILLER}\x00").encode()


@_kind("big_body", "post", "a 5 MB body (under the 64 MB limit): read whole")
def _big_body(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _big(m, int(5_000_000 * scale), one_line=False)


@_kind("huge_line", "post", "a 2 MB single line: read whole")
def _huge_line(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _big(m, int(2_000_000 * scale), one_line=True)


@_kind("deep_html", "post", "<div> nested 10,000 deep: the text inside is kept")
def _deep_html(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("深层", "<div>" * 10_000 + f"深处{m}文字" + "</div>" * 10_000).encode()


@_kind("deep_unclosed_html", "post", "<div> nested 10,000 deep, never closed")
def _deep_unclosed(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("深层", "<p>开始</p>\n" + "<div><span>" * 10_000 + f"深处{m}文字").encode()


@_kind("deep_markdown", "post", "Markdown quotes nested 10,000 deep: read as HTML")
def _deep_md(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("深层", "> " * 10_000 + f"引用{m}文字\n\n" + "- " * 5_000 + "列表").encode()


@_kind("liquid_mess", "post", "unclosed Liquid tags: the text after them is kept")
def _liquid(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("液体", "{% raw %}开始 {{ 未闭合 {% comment %}注释\n" + f"液体{m}文字").encode()


@_kind("odd_name", "post", "a file name with spaces and Chinese characters")
def _odd_name(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    name = f"{stem} 新闻 稿件 (副本).md"
    (folder / name).write_bytes(_post("怪名", f"名字{m}奇怪。").encode())
    return {name: "post"}


# Problems: files that cannot be posts, reported with their path and a reason ----------------------


@_kind("binary", "problem", "binary bytes", r"binary file")
def _binary(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return bytes(range(256)) * 8 + m.encode()


@_kind("control_bytes", "problem", "over 10% control bytes", r"binary file")
def _control_bytes(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("控制", "\x01\x02\x03\x04\x05\x06" * 50 + m).encode()


@_kind("many_nuls", "problem", "more than four NUL bytes: binary", r"binary file")
def _many_nuls(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return _post("空字节", "\x00" * 5 + f"空字节{m}").encode()


@_kind("not_utf8_nor_gb18030", "problem", "invalid UTF-8, invalid GB18030", r"not valid UTF-8")
def _bad_encoding(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b"---\ntitle: x\n---\n" + b"\xff\x80\xfe" * 50 + m.encode()


@_kind("bad_utf16", "problem", "a UTF-16 BOM and a lone surrogate", r"not valid UTF-16")
def _bad_utf16(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b"\xff\xfe" + "标题".encode("utf-16-le") + b"\x00\xd8" + m.encode("utf-16-le")


@_kind("empty", "problem", "an empty file", r"empty file")
def _empty(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b""


@_kind("blank", "problem", "only whitespace", r"empty file")
def _blank(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b" \r\n\t\n \xef\xbb\xbf \n"


@_kind("no_title_no_text", "problem", "an empty title and no body", r"no title and no text")
def _no_title(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b'---\ntitle: ""\ndate: 2022-05-01\n---\n\n'


@_kind("too_large", "problem", "65 MB (sparse): over the 64 MB limit, never read", r"too large")
def _too_large(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    with open(folder / f"{stem}.md", "wb") as fh:
        fh.write(_post("巨大", f"巨大{m}文件").encode())
        fh.truncate(65 << 20)  # a hole: no disk space, NUL bytes if it were read
    return {f"{stem}.md": "problem"}


@_kind("symlink_loop", "problem", "a.md -> b.md -> a.md", r"symbolic link loop")
def _loop(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    a, b = f"{stem}-a.md", f"{stem}-b.md"
    os.symlink(b, folder / a)
    os.symlink(a, folder / b)
    return {a: "problem", b: "problem"}


@_kind("broken_symlink", "problem", "a link to nothing", r"broken symbolic link")
def _broken(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    os.symlink(f"{stem}-missing.md", folder / f"{stem}.md")
    return {f"{stem}.md": "problem"}


@_kind("fifo", "problem", "a FIFO named like a post (never opened)", r"not a regular file")
def _fifo(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    os.mkfifo(folder / f"{stem}.md")
    return {f"{stem}.md": "problem"}


@_kind("folder_symlink", "problem", "a link to a folder: not followed", r"link to a folder")
def _dir_link(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    target = folder.parent / f"{folder.name}-elsewhere-{stem}"
    target.mkdir()
    (target / "2022-05-01-hidden.md").write_text(_post("藏", f"藏{m}"), encoding="utf-8")
    os.symlink(target, folder / f"{stem}.md")
    return {f"{stem}.md": "problem"}


@_kind("undecodable_name", "problem", "a file name that is not UTF-8", r"not valid UTF-8")
def _bad_name(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> dict[str, str]:
    raw = os.fsencode(folder) + b"/" + os.fsencode(stem) + b"-\xff\xfe.md"
    with open(raw, "wb") as fh:
        fh.write(_post("名字", f"名字{m}").encode())
    return {f"{stem}-\ufffd\ufffd.md": "problem"}  # as the report shows it


# Either: the reader decides; the build must agree with it -----------------------------------------


@_kind("random_bytes", "either", "random bytes")
def _random_bytes(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return payload


@_kind("random_post", "either", "front matter around random bytes")
def _random_post(folder: Path, stem: str, m: str, scale: float, payload: bytes) -> bytes:
    return b"---\ntitle: " + payload[:40] + b"\n---\n" + payload[40:]


KINDS = sorted(WRITERS)
POST_KINDS = [k for k in KINDS if WRITERS[k][0].expect == "post"]
PROBLEM_KINDS = [k for k in KINDS if WRITERS[k][0].expect == "problem"]
#: Kinds whose files are large at scale 1.0.
BIG_KINDS = ("big_body", "huge_line")


def write_item(folder: Path, i: int, kind: str, marker: str, scale: float, payload: bytes = b""):
    """Write one file (or link pair) of ``kind``; returns {path: expectation}."""
    stem = f"2022-05-{1 + i % 28:02d}-{kind.replace('_', '-')}-{i}"
    return WRITERS[kind][1](folder, stem, marker, scale, payload)


def expected_reason(kind: str) -> re.Pattern[str]:
    return re.compile(WRITERS[kind][0].reason)


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail (instead of hanging) when the block takes longer than ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text
        assert "This is a bug in newsearch" not in text, text


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def skip_without_proc() -> None:
    if not os.path.exists("/proc/locks"):
        pytest.skip("needs Linux /proc")


#: Every kill made in this session: (test, moment, kind of kill, posts in the last commit); the
#: terminal summary lists them (conftest.py).
KILLS: list[tuple[str, str, str, int | None]] = []


# --- one corpus of real posts and its reference index, shared by the kill and concurrency tests ---

#: Index batches of this size make 17 commits, then a merge, on the shared corpus of 1,641 posts.
SMALL_BATCH = 160 * 1024


@dataclass
class News:
    corpus: Path
    #: A clean build with the console script and the default batches.
    reference: Path
    sorted_paths: list[str]
    state: dict[str, Any]
    matches: dict[str, frozenset[str]]
    #: The last generation and the duration of a clean build with SMALL_BATCH batches.
    small_generation: int
    small_seconds: float
    #: The duration of the reference build.
    reference_seconds: float


_SHARED: dict[tuple[str, int], News] = {}


def shared_news(root: Path, xwlb_dir: Path, finews_dir: Path, *, xwlb: int, step: int) -> News:
    """A corpus of ``xwlb`` 新闻联播 posts plus finews, and what a clean build of it gives.

    Built once per test session (this module is imported once): the kill tests and the
    concurrency tests share it.
    """
    key = (str(xwlb_dir), xwlb)
    if key in _SHARED:
        return _SHARED[key]
    folder = root / f"news-{xwlb}"
    corpus = news_corpus(folder / "corpus", xwlb_dir, finews_dir, xwlb=xwlb, step=step)
    reference = folder / "reference"
    started = time.monotonic()
    done = run_newsearch("index", corpus, "--index", reference, "--jobs", 2, "-q", timeout=600)
    reference_seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    queries = WORD_QUERIES + OTHER_QUERIES
    state = results_state(reference, queries)
    sorted_paths = corpus_paths(corpus)
    assert state["paths"] == sorted_paths
    # The same corpus in small batches (many segments, then a merge) gives the same index.
    small = folder / "small-batches"
    started = time.monotonic()
    done = run_newsearch(
        "index", corpus, "--index", small, "--jobs", 2, "-q", batch_bytes=SMALL_BATCH, timeout=600
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert results_state(small, queries) == state
    news = News(
        corpus,
        reference,
        sorted_paths,
        state,
        match_sets(reference, WORD_QUERIES),
        latest_generation(small),
        seconds,
        reference_seconds,
    )
    shutil.rmtree(small)
    _SHARED[key] = news
    return news
