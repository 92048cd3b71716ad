"""The corpus reader: find the Jekyll posts in a folder and turn each file into a clean ``Post``.

It parses front matter, dates, categories and permalinks, and renders bodies to plain text.

Decisions, for the cases the Jekyll format leaves open:

* Front matter may follow blank lines and a UTF-8 BOM, and may use CRLF. The YAML loader resolves
  nothing but ``null``: every other scalar, dates included, stays a string (``title: 2022`` is
  ``"2022"``, ``title: yes`` is ``"yes"``). When the YAML is invalid (the real generator writes
  ``title: "..."`` without escaping), the fields are recovered line by line, with
  ``recovered=True`` and a warning.
* A file without front matter is still read, as a post without metadata: its title comes from the
  first line of its text, with a warning. Dropping it would lose searchable text; the warning keeps
  it visible. A front matter opened by ``---`` but never closed is recovered from its leading
  ``key: value`` lines (``recovered=True``, a warning) and the rest is the body; with no such line
  after the ``---``, the file is read as one without front matter.
* Dates without a zone are in the site's zone, and every date is given in the site's zone (the
  instant of an explicit offset is kept): filters, facets, permalinks and display agree on its day
  (see ``dates``). A missing, empty or invalid date, or one that falls outside years 1 to 9999 in
  the site's zone, falls back to the file name's ``YYYY-MM-DD-`` prefix (midnight, site zone),
  else None, always with a warning: a date is never guessed silently.
* Text: Liquid tags go first (``{% raw %}`` keeps its content, ``{% comment %}`` drops it), then
  Markdown (CommonMark, raw HTML allowed) is rendered and the HTML turned into text. Every block
  element is one line: the text has no blank lines, no indentation and no leading or trailing
  whitespace, and each run of whitespace inside a line (U+3000 and NBSP too) is one space; inline
  elements join without a space (Chinese has none). Two fast paths skip Markdown
  where the result is provably the same (a body without any Markdown syntax, or one made only of
  HTML blocks); the tests check this on the real data.
* The trailing source link (``<http...>``, ``<>``, ``[查看原文](...)`` and the like) becomes
  ``source_url``; lines made only of ``[返回…](…)`` navigation links are removed wherever they are.
* Encodings: UTF-8 (BOM or not) and UTF-16 with a BOM; otherwise GB18030, with a warning. A UTF-8
  file with a few damaged bytes (say, cut inside a character) stays UTF-8, the bytes replaced by
  U+FFFD with a warning: read as GB18030 all of it would turn into nonsense.
* Binary: more than four NUL bytes in the first 8 KiB, or more than 10 % control bytes there. A few
  stray NULs and other control characters in a text file are removed, with a warning.
* Files larger than ``MAX_POST_BYTES`` are refused, so that one file cannot exhaust a worker's
  memory; FIFOs and other special files are refused without being opened for reading.
"""

from __future__ import annotations

import errno
import fnmatch
import html as _html
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as _fixed_zone
from pathlib import Path, PurePath
from typing import Any, Final, Literal
from urllib.parse import quote

import yaml
from markdown_it import MarkdownIt
from markdown_it.common.html_blocks import block_names as _MD_BLOCK_NAMES
from selectolax.lexbor import LexborHTMLParser

from newsearch import arguments
from newsearch.dates import CorpusZone, corpus_zone, day_text, from_timestamp, in_zone
from newsearch.errors import CorpusError, InvalidArgumentError, PostError
from newsearch.models import Post, Problem, ReadingMode, ReadResult

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_POST_BYTES",
    "POST_SUFFIXES",
    "FOLDER_MODE",
    "NotPublished",
    "PostError",
    "PostFile",
    "SITE_MODE",
    "Site",
    "discover",
    "file_kind",
    "file_path",
    "has_front_matter",
    "parse_post",
    "read_head",
    "read_bytes",
    "read_corpus",
    "read_post",
    "read_site",
    "site_timezone",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
POST_SUFFIXES = (".md", ".markdown", ".html")
#: Larger files are refused: no news post is that big, and a worker must not run out of memory.
MAX_POST_BYTES = 64 * 1024 * 1024
#: Bodies longer than this (in characters) are read as HTML without rendering Markdown:
#: markdown-it-py is pure Python: 64 K characters of dense inline syntax take it about a second.
MARKDOWN_LIMIT = 64 * 1024
#: A front matter longer than this is read line by line without YAML (no post has one so big).
FRONT_MATTER_LIMIT = 64 * 1024
#: Derived titles (from the text) are cut to this many characters.
TITLE_LENGTH = 60


class NotPublished(PostError):  # noqa: N818 - a reason to leave a file out, not a failure
    """A file of a Jekyll site that the site does not publish as a post or a page: not a
    problem (read_corpus and builds leave it out), but not a post either."""


@dataclass(frozen=True, slots=True)
class PostFile:
    """A post file found by :func:`discover`: enough to tell whether it changed since a build."""

    #: Relative to the corpus root, POSIX form: the post's identity.
    path: str
    abspath: str
    size: int
    mtime_ns: int


# --------------------------------------------------------------------------------------------------
# Jekyll sites

#: How a folder is read (``Site.mode``): a Jekyll site root, or a plain folder of posts.
SITE_MODE: Final = "jekyll site"
FOLDER_MODE: Final = "folder of posts"
#: Where a file is in a Jekyll site (see ``file_kind``).
FileKind = Literal["post", "draft", "page"]
#: Jekyll 4's default ``exclude`` list, to which a site's own ``exclude:`` is added.
JEKYLL_EXCLUDES = (
    ".sass-cache", ".jekyll-cache", ".ruby-lsp", "gemfiles", "Gemfile", "Gemfile.lock",
    "node_modules", "vendor/bundle/", "vendor/cache/", "vendor/gems/", "vendor/ruby/",
)  # fmt: skip
#: Jekyll's permalink styles, as templates (``date`` is the default).
PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
CONFIG_NAMES = ("_config.yml", "_config.yaml")
#: Jekyll's post and draft file names (``Document::DATE_FILENAME_MATCHER`` and the dateless one).
_POST_NAME = re.compile(r"\d{2,4}-\d{1,2}-\d{1,2}-[^/]*\.[^./]+")
_SPECIAL = ("_", ".", "#", "~")


@dataclass(frozen=True)
class Site:
    """How a corpus folder is read, from its ``_config.yml`` when it is a Jekyll site's root.

    A folder without ``_config.yml`` is a folder of posts: every Markdown/HTML file is a post.
    """

    mode: ReadingMode = FOLDER_MODE
    #: ``timezone:`` of the site (of the site around a ``_posts`` folder), if any.
    timezone: str | None = None
    #: ``permalink:`` as written (a style such as ``date`` or ``pretty``, or a template).
    permalink: str = "date"
    exclude: tuple[str, ...] = JEKYLL_EXCLUDES
    include: tuple[str, ...] = (".htaccess",)
    #: ``destination:``, relative to the site's root: the built site, never read.
    destination: str = "_site"
    #: A ``_config.yml`` that could not be read (read with Jekyll's defaults then).
    problems: tuple[Problem, ...] = ()

    @property
    def is_site(self) -> bool:
        return self.mode == SITE_MODE

    @property
    def post_template(self) -> str:
        """The posts' permalink template; "" for Jekyll's default (built without a template)."""
        if not self.is_site or self.permalink == "date":
            return ""
        return PERMALINK_STYLES.get(self.permalink, self.permalink)

    def reading(self) -> dict[str, str]:
        """What decides how unchanged files read: kept with the index, a change rebuilds it."""
        return {"mode": self.mode, "permalink": self.permalink if self.is_site else ""}


def read_site(root: str | os.PathLike[str]) -> Site:
    """How to read the folder ``root``: a Jekyll site when it holds ``_config.yml``.

    A config that is not valid YAML is searched for a ``timezone:`` line and otherwise read
    with Jekyll's defaults, with a problem that says so. A ``_posts`` folder is a folder of posts
    that takes its time zone from the site around it.
    """
    folder = Path(root)
    for name in CONFIG_NAMES:
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return _site_from_config(name, text)
    if folder.name == "_posts":
        for name in CONFIG_NAMES:
            try:
                text = (folder.parent / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            return Site(FOLDER_MODE, timezone=_site_from_config(name, text).timezone)
    return Site(FOLDER_MODE)


def _site_from_config(name: str, text: str) -> Site:
    problems: list[Problem] = []
    config: Any = None
    try:
        config = _load_yaml(text) if text.strip() else {}
    except Exception as exc:  # a broken config: the time zone is searched line by line
        problems.append(
            Problem(name, f"not valid YAML ({type(exc).__name__}): read as Jekyll's defaults")
        )
        match = re.search(r"^timezone[ \t]*:[ \t]*[\"']?([^\"'\s#]+)", text, re.M)
        config = {"timezone": match.group(1)} if match else {}
    if not isinstance(config, dict):
        problems.append(Problem(name, "not a mapping: read as Jekyll's defaults"))
        config = {}
    zone = config.get("timezone")
    timezone = zone.strip() if isinstance(zone, str) and zone.strip() else None
    if timezone is not None:
        try:
            _zone(timezone)
        except ValueError:
            timezone = None
    permalink = config.get("permalink")
    user_exclude = _names(config.get("exclude"))
    include = _names(config.get("include")) if "include" in config else (".htaccess",)
    destination = config.get("destination")
    return Site(
        SITE_MODE,
        timezone=timezone,
        permalink=permalink.strip() if isinstance(permalink, str) and permalink.strip() else "date",
        exclude=tuple(dict.fromkeys((*user_exclude, *JEKYLL_EXCLUDES))),
        include=include,
        destination=destination.strip()
        if isinstance(destination, str) and destination.strip()
        else "_site",
        problems=tuple(problems),
    )


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(item.strip() for item in items if isinstance(item, str) and item.strip())


def _glob_match(patterns: tuple[str, ...], rel: str, is_dir: bool) -> bool:
    """Jekyll's ``EntryFilter#glob_include?``: a glob, a prefix of the path, or the folder."""
    for pattern in patterns:
        pattern = pattern.lstrip("/")  # File.join(source, "/x") is source/x
        if fnmatch.fnmatchcase(rel, pattern) or rel.startswith(pattern):
            return True
        if is_dir and pattern == rel + "/":
            return True
    return False


def _admitted(site: Site, entry: str, rel: str, is_dir: bool) -> bool:
    """Jekyll's ``EntryFilter#filter`` for one entry: ``entry`` as Jekyll lists it (a name, or
    a path inside ``_posts``), ``rel`` its path from the site's root."""
    basename = entry.rsplit("/", 1)[-1]
    included = _glob_match(site.include, entry, is_dir) or _glob_match(
        site.include, basename, is_dir
    )
    excluded = _glob_match(tuple(p for p in site.exclude if p not in site.include), rel, is_dir)
    if excluded and not included:
        return False
    if included:
        return True
    return not (entry.startswith(_SPECIAL) or basename.startswith(_SPECIAL) or entry.endswith("~"))


def file_kind(path: str, site: Site) -> FileKind:
    """``post``, ``draft`` or ``page``: where the file is in the site (always ``post`` in a
    folder of posts)."""
    if not site.is_site:
        return "post"
    for part in path.split("/")[:-1]:
        if part == "_posts":
            return "post"
        if part == "_drafts":
            return "draft"
    return "page"


# --------------------------------------------------------------------------------------------------
# Discovery


def discover(
    root: str | os.PathLike[str],
    *,
    exclude: Iterable[str | os.PathLike[str]] = (),
    drafts: bool = False,
    site: Site | None = None,
) -> tuple[list[PostFile], list[Problem]]:
    """Find the post files under ``root``, sorted by path, and the entries that could not be used.

    A folder of posts: every Markdown/HTML file, except hidden entries and Jekyll's ``_site``.
    A Jekyll site's root (``site``, read from ``root`` when not given) as Jekyll reads it: posts
    from every ``_posts`` folder, drafts from ``_drafts`` when ``drafts`` is true, and the other
    Markdown/HTML files as candidate pages (those without front matter are static files, left
    out when read); the site's ``exclude:`` and ``include:``, Jekyll's default excludes and its
    ``destination`` honoured, entries starting with ``_ . # ~`` or ending with ``~`` skipped.

    The folders and files in ``exclude`` (the index) are skipped. Symlinked folders are never
    followed (they are reported); symlinked files are read. Raises CorpusError only when
    ``root`` itself is missing or not a folder.
    """
    top = os.path.abspath(os.fspath(root))
    if not os.path.exists(top):
        raise CorpusError(f"corpus folder not found: {top}")
    if not os.path.isdir(top):
        raise CorpusError(f"corpus is not a folder: {top}")
    if site is None:
        site = read_site(top)
    skip: set[tuple[int, int]] = set()
    places = list(exclude)
    if site.is_site:
        places.append(os.path.join(top, site.destination))
    for path in places:
        try:
            st = os.stat(path)
        except OSError:
            continue  # an index folder that does not exist yet holds nothing to skip
        skip.add((st.st_dev, st.st_ino))
    scan = _Scan(top, skip)
    scan.problems.extend(site.problems)
    if site.is_site:
        _discover_site(scan, site, drafts)
        _discover_included(scan, site)
    else:
        _discover_folder(scan)
    files = sorted(scan.files, key=lambda f: f.path)
    problems = sorted(scan.problems, key=lambda p: p.path)
    return files, problems


class _Scan:
    """What discovery finds: the files, the problems, and how one folder entry is looked at."""

    def __init__(self, top: str, skip: set[tuple[int, int]]):
        self.top = top
        self.skip = skip
        self.files: list[PostFile] = []
        self.problems: list[Problem] = []

    def listing(self, rel_dir: str, abs_dir: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(abs_dir) as it:
                return list(it)
        except OSError as exc:
            self.problems.append(
                Problem(_display(rel_dir or "."), f"cannot list folder: {_os_reason(exc)}")
            )
            return []

    def look(self, entry: os.DirEntry[str], rel: str, wanted: bool) -> str | None:
        """ "dir" for a folder to walk into, "file" once a wanted file is added, else None
        (an unwanted file, a skipped entry, or a problem, recorded)."""
        try:
            if entry.is_dir(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                return None if (st.st_dev, st.st_ino) in self.skip else "dir"
            if entry.is_symlink():
                try:
                    target = os.stat(entry.path)
                except OSError as exc:
                    if wanted:
                        self.problems.append(Problem(_display(rel), _link_reason(exc)))
                    return None
                if stat.S_ISDIR(target.st_mode):
                    self.problems.append(
                        Problem(_display(rel), "symbolic link to a folder: not followed")
                    )
                    return None
            if not wanted:
                return None
            st = entry.stat()
        except OSError as exc:
            self.problems.append(Problem(_display(rel), f"cannot read: {_os_reason(exc)}"))
            return None
        if (st.st_dev, st.st_ino) in self.skip:
            return None
        if not stat.S_ISREG(st.st_mode):
            self.problems.append(Problem(_display(rel), "not a regular file"))
            return None
        if not _is_utf8_name(rel):
            self.problems.append(Problem(_display(rel), "file name is not valid UTF-8"))
            return None
        self.files.append(PostFile(rel, file_path(self.top, rel), st.st_size, st.st_mtime_ns))
        return "file"


def file_path(top: str, rel: str) -> str:
    """The path on disk of the file ``rel`` (a ``PostFile.path``) under the corpus root ``top``
    (absolute, as ``discover`` makes it): its ``PostFile.abspath``."""
    return os.path.join(top, *rel.split("/"))


def _is_post_name(name: str) -> bool:
    return name.lower().endswith(POST_SUFFIXES)


def _discover_folder(scan: _Scan) -> None:
    # An explicit stack rather than recursion: a deep folder tree cannot hit the recursion limit.
    stack: list[tuple[str, str]] = [("", scan.top)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        for entry in scan.listing(rel_dir, abs_dir):
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if scan.look(entry, rel, _is_post_name(name)) == "dir" and name != "_site":
                stack.append((rel, entry.path))


def _discover_site(scan: _Scan, site: Site, drafts: bool) -> None:
    """Jekyll's ``Reader#read_directories``: pages in the folders it walks into, posts (and
    drafts) from the ``_posts`` (``_drafts``) folder of each."""
    stack: list[tuple[str, str]] = [("", scan.top)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        for entry in scan.listing(rel_dir, abs_dir):
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir and (name == "_posts" or (name == "_drafts" and drafts)):
                _discover_posts(scan, site, rel, entry.path)
                continue
            if not _admitted(site, name, rel, is_dir):
                continue
            if scan.look(entry, rel, _is_post_name(name)) == "dir":
                stack.append((rel, entry.path))


def _discover_included(scan: _Scan, site: Site) -> None:
    """Files named in ``include:`` by their path are read even where the walk did not go
    (Jekyll's ``read_included_excludes``): ``include: [_pages/about.md]``."""
    found = {f.path for f in scan.files}
    for pattern in site.include:
        rel = pattern.strip("/")
        if not rel or rel in found or not _is_post_name(rel) or ".." in rel.split("/"):
            continue
        if file_kind(rel, site) != "page":
            continue
        folder, _, name = rel.rpartition("/")
        abs_dir = os.path.join(scan.top, *folder.split("/")) if folder else scan.top
        for entry in scan.listing(folder, abs_dir) if os.path.isdir(abs_dir) else []:
            if entry.name == name:
                scan.look(entry, rel, True)


def _discover_posts(scan: _Scan, site: Site, base_rel: str, base_abs: str) -> None:
    """The posts (or drafts) under one ``_posts`` (``_drafts``) folder, at any depth."""
    dated = base_rel.rsplit("/", 1)[-1] == "_posts"
    stack: list[tuple[str, str]] = [("", base_abs)]
    while stack:
        inner_dir, abs_dir = stack.pop()
        for entry in scan.listing(f"{base_rel}/{inner_dir}".rstrip("/"), abs_dir):
            name = entry.name
            if name.startswith("."):  # Jekyll's Dir["**/*"] does not see hidden entries
                continue
            inner = f"{inner_dir}/{name}" if inner_dir else name
            rel = f"{base_rel}/{inner}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if scan.look(entry, rel, False) == "dir":
                    stack.append((inner, entry.path))
                continue
            if not _is_post_name(name) or not _admitted(site, inner, rel, False):
                continue
            if dated and not _POST_NAME.fullmatch(name):
                scan.problems.append(
                    Problem(
                        _display(rel),
                        "not a post: a post's file name starts with its date (YYYY-MM-DD-title)",
                    )
                )
                continue
            scan.look(entry, rel, True)


def _is_utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def _display(name: str) -> str:
    """A printable form of a path that may hold undecodable bytes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _link_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError):
        return "broken symbolic link"
    return f"cannot follow symbolic link: {_os_reason(exc)}"


# --------------------------------------------------------------------------------------------------
# Reading


def read_post(
    root: str | os.PathLike[str], path: str | PurePath, *, timezone: str = DEFAULT_TIMEZONE
) -> Post:
    """Read one post (``path`` relative to ``root``, POSIX form); PostError if it is bad.

    In a Jekyll site's root the file is read as the site has it (a post, a draft or a page);
    NotPublished (a PostError) when the site does not publish it.
    """
    top = arguments.fs_path(root, "root")
    path = arguments.post_path(path)
    parts = path.split("/")
    if not path or "\0" in path or os.path.isabs(path) or ".." in parts:
        raise InvalidArgumentError(f"post path must be relative to the corpus root: {path!r}")
    arguments.timezone(timezone)  # a bad zone is the caller's error, not the file's
    abspath = os.path.join(top, *parts)
    data = read_bytes(abspath)
    try:
        mtime_ns: int | None = os.stat(abspath).st_mtime_ns
    except OSError:
        mtime_ns = None
    return parse_post(data, path, timezone=timezone, site=read_site(top), mtime_ns=mtime_ns)


def read_bytes(abspath: str) -> bytes:
    """A post file's bytes, or PostError: never hangs on a FIFO, refuses huge files."""
    try:
        # O_NONBLOCK: a FIFO put in place of a post must not hang the reader on open().
        fd = os.open(abspath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise PostError(f"cannot read file: {_os_reason(exc)}") from exc
    try:
        fh = open(fd, "rb")
    except IsADirectoryError as exc:  # a folder opens read-only; the file object refuses it
        os.close(fd)
        raise PostError("not a regular file") from exc
    with fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PostError("not a regular file")
        if st.st_size > MAX_POST_BYTES:
            raise PostError(f"file too large: {st.st_size} bytes (limit {MAX_POST_BYTES})")
        try:
            data = fh.read(MAX_POST_BYTES + 1)
        except OSError as exc:
            raise PostError(f"cannot read file: {_os_reason(exc)}") from exc
    if len(data) > MAX_POST_BYTES:
        raise PostError(f"file too large: more than {MAX_POST_BYTES} bytes")
    return data


def read_corpus(
    root: str | os.PathLike[str],
    *,
    timezone: str = DEFAULT_TIMEZONE,
    exclude: Iterable[str | os.PathLike[str]] = (),
    drafts: bool = False,
) -> ReadResult:
    """Read every post under ``root``; a file that cannot be read is a Problem, not an exception.

    ``exclude`` is one path or several (folders or files to leave out). A Jekyll site's root
    is read as Jekyll reads it (see :func:`discover`); files the site does not publish are left
    out, and ``drafts`` reads its ``_drafts`` too.
    """
    root = arguments.fs_path(root, "root")
    arguments.timezone(timezone)
    exclude = arguments.fs_paths(exclude, "exclude")
    drafts = arguments.flag(drafts, "drafts")
    site = read_site(root)
    files, problems = discover(root, exclude=exclude, drafts=drafts, site=site)
    posts: list[Post] = []
    for file in files:
        try:
            data = read_bytes(file.abspath)
            posts.append(
                parse_post(data, file.path, timezone=timezone, site=site, mtime_ns=file.mtime_ns)
            )
        except NotPublished:
            continue
        except PostError as exc:
            problems.append(Problem(file.path, exc.reason))
        except Exception as exc:  # one bad file must not stop the rest; the reason is kept
            problems.append(Problem(file.path, f"unexpected {type(exc).__name__}: {exc}"))
    problems.sort(key=lambda p: p.path)
    return ReadResult(tuple(posts), tuple(problems))


def site_timezone(root: str | os.PathLike[str]) -> str | None:
    """The ``timezone:`` of the Jekyll site the corpus belongs to, or None.

    Looks for ``_config.yml`` in ``root`` and, when ``root`` is a ``_posts`` folder, in its
    parent. A config that is not valid YAML is searched for a ``timezone:`` line; an unknown zone
    name gives None.
    """
    return read_site(root).timezone


def _zone(name: str) -> CorpusZone:
    try:
        return corpus_zone(name)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"unknown time zone: {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from exc


# --------------------------------------------------------------------------------------------------
# Parsing one post


def parse_post(
    data: bytes,
    path: str,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    site: Site | None = None,
    mtime_ns: int | None = None,
) -> Post:
    """Turn the bytes of one file into a Post; ``path`` (relative, POSIX) is its name.

    A pure function of its arguments. Raises PostError when the bytes cannot be a post (binary,
    empty, an unknown encoding, neither a title nor any text), and NotPublished for a file of a
    Jekyll site (``site``) that the site does not publish as a post or page: ``published:
    false``, a file without front matter (a static file), a page with nothing to search.
    ``mtime_ns`` (the file's modification time) dates a draft that gives no date of its own.
    """
    zone = _zone(timezone)
    site = site or _FOLDER
    kind = file_kind(path, site)
    warnings: list[str] = []
    if kind == "page" and not has_front_matter(data):
        raise NotPublished("no front matter: a static file of the site")
    text = _decode(data, warnings)
    front, body, state = _split_front_matter(text)
    del text  # a long post: the body is a copy of most of it
    fields, recovered = _front_matter_fields(front, state, warnings)
    if site.is_site and "published" in fields and not _published(fields["published"]):
        raise NotPublished("published: false")

    basename = path.rsplit("/", 1)[-1]
    stem = basename.rsplit(".", 1)[0] if "." in basename else basename
    name_date, name_slug = _name_date(stem, zone)
    date = _date_of(kind, fields, name_date, mtime_ns, zone, warnings)
    if site.is_site:
        categories = _jekyll_categories(path, kind, fields)
    else:
        categories = _terms(fields.get("categories") or fields.get("category"))
    tags = _terms(fields.get("tags") or fields.get("tag"))

    body, source_url = _extract_links(_strip_liquid(body))
    body_text = _render_text(body, warnings)

    title = " ".join(_html.unescape(_scalar(fields.get("title"))).split())
    if not title:
        if not body_text:
            if kind == "page":
                raise NotPublished("a page without a title or any text")
            raise PostError("no title and no text")
        title = _derive_title(body_text)
        if state != "none":  # a file without front matter already has its warning
            warnings.append("title is empty: taken from the text")

    permalink = _scalar(fields.get("permalink")).strip()
    if kind == "page":
        url = _page_url(path, permalink, site)
    else:
        slug = _scalar(fields.get("slug")).strip() or name_slug
        template = permalink or site.post_template
        url = _permalink(template, categories, date, zone, slug)
    return Post(
        path=path,
        title=title,
        date=date,
        categories=categories,
        tags=tags,
        url=url,
        source_url=source_url,
        text=body_text,
        recovered=recovered,
        warnings=tuple(warnings),
    )


_FOLDER = Site()


def _front_matter_fields(
    front: str | None, state: Literal["closed", "unclosed", "none"], warnings: list[str]
) -> tuple[dict[str, Any], bool]:
    """The fields of a post's front matter, and whether they were recovered line by line."""
    if state == "closed":
        assert front is not None
        return _load_front_matter(front, warnings)
    if state == "unclosed":
        assert front is not None
        fields, _ = _load_front_matter(front, [])
        warnings.append("front matter is not closed by '---': fields recovered line by line")
        return fields, True
    warnings.append("no front matter: title taken from the text")
    return {}, False


def _date_of(
    kind: FileKind,
    fields: dict[str, Any],
    name_date: datetime | None,
    mtime_ns: int | None,
    zone: tzinfo,
    warnings: list[str],
) -> datetime | None:
    """A post's date: from its front matter, its file name, or (a draft) its file's time."""
    if kind == "page":
        # A page has the date of its front matter, if any: its name is not a post's.
        return _page_date(fields.get("date"), zone, warnings)
    if kind == "draft" and name_date is None:
        # Jekyll dates a draft without a date by its file's modification time.
        return _draft_date(fields.get("date"), mtime_ns, zone, warnings)
    return _post_date(fields.get("date"), "date" in fields, name_date, zone, warnings)


#: Jekyll's ``Utils.has_yaml_header?``: a page's file starts with ``---`` (a UTF-8 BOM allowed).
_PAGE_HEADER = re.compile(rb"(?:\xef\xbb\xbf)?---[ \t]*\r?\n")


def has_front_matter(head: bytes) -> bool:
    """Whether a file that starts with ``head`` (its first bytes: 64 are enough) has front
    matter as Jekyll sees it: without it, a file of a site that is not a post is static."""
    return _PAGE_HEADER.match(head) is not None


def read_head(abspath: str, size: int = 64) -> bytes:
    """The first bytes of a file (b"" if it cannot be read: reading it later will say why)."""
    try:
        fd = os.open(abspath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    try:
        return os.read(fd, size) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


#: Values of ``published:`` that Jekyll reads as false (YAML's false, and null).
_UNPUBLISHED = frozenset(("false", "no", "off", "n"))


def _published(value: Any) -> bool:
    if value is None:
        return False  # ``published:`` with no value is nil for Jekyll: not published
    return _scalar(value).strip().lower() not in _UNPUBLISHED


def _jekyll_categories(path: str, kind: str, fields: dict[str, Any]) -> tuple[str, ...]:
    """Jekyll's categories: the folders above ``_posts`` (posts and drafts), then the front
    matter's ``categories``, then its ``category``."""
    parts = path.split("/")
    above: list[str] = []
    if kind != "page":
        special = "_posts" if kind == "post" else "_drafts"
        above = parts[: parts.index(special)]
    found = (*above, *_terms(fields.get("categories")), *_terms(fields.get("category")))
    return tuple(dict.fromkeys(found))


# --- bytes -> str ---------------------------------------------------------------------------------

_BOM_UTF8 = b"\xef\xbb\xbf"
#: C0 control bytes except TAB, LF, VT, FF, CR (text files have those); ESC and DEL count.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32), 127])
#: Characters removed from decoded text: C0/C1 controls (NUL included) except TAB/LF/VT/FF/CR.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: Other line breaks become plain newlines before anything else looks at lines.
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\u2028\u2029]")


def _decode(data: bytes, warnings: list[str]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise PostError("not valid UTF-16 text despite its byte order mark") from exc
        warnings.append("decoded as UTF-16")
    else:
        if data.startswith(_BOM_UTF8):
            data = data[3:]
        sample = data[:8192]
        nuls = sample.count(0)
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if nuls > 4 or (sample and controls * 10 > len(sample)):
            what = f"{nuls} NUL bytes" if nuls > 4 else f"{controls} control bytes"
            raise PostError(f"binary file ({what} in the first {len(sample)} bytes)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_not_utf8(data, warnings)
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")  # a BOM in the middle: files glued together
    if not text or text.isspace():  # isspace: no copy of a long text
        raise PostError("empty file")
    if _CONTROL_CHARS.search(text):
        count = len(_CONTROL_CHARS.findall(text))
        text = _CONTROL_CHARS.sub("", text)
        warnings.append(f"removed {count} control character{'s' if count != 1 else ''}")
    if "\r" in text or "\x0b" in text or "\x0c" in text or "\u2028" in text or "\u2029" in text:
        text = _LINE_BREAKS.sub("\n", text)
    return text


def _decode_not_utf8(data: bytes, warnings: list[str]) -> str:
    lossy = data.decode("utf-8", "replace")
    bad = lossy.count("\ufffd")
    non_ascii = len(lossy) - len(lossy.encode("ascii", "ignore"))
    # GB18030 text read as UTF-8 fails on nearly every character; a few failures among many good
    # characters is damaged UTF-8, and GB18030 would turn all of it into nonsense.
    if bad * 20 < non_ascii:
        warnings.append(
            f"{bad} invalid UTF-8 byte sequence{'s' if bad != 1 else ''} replaced by U+FFFD"
        )
        return lossy
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise PostError("not valid UTF-8 or GB18030 text") from exc
    warnings.append("not valid UTF-8: decoded as GB18030")
    return text


# --- front matter ---------------------------------------------------------------------------------

_FM_OPEN = re.compile(r"(?:[ \t]*\n)*---[ \t]*(?:\n|\Z)")
_FM_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_FM_KEY = re.compile(r"([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*")
_FM_ITEM = re.compile(r"[ \t]*-(?:[ \t]+(.*?))?[ \t]*")
#: Lines that may belong to a front matter: ``key: value``, ``- item``, comments, blank lines.
_FM_LINE = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t].*)?|[ \t]*-(?:[ \t].*)?|[ \t]*#.*|[ \t]*")


_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))


class _FrontMatterLoader(_BaseLoader):
    """A safe YAML loader that resolves only ``null``: dates and numbers stay strings."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # Faster than the resolver tables and exactly what we want: a plain null is None, every
        # other scalar is text (dates are parsed here, ``title: 2022`` stays "2022").
        if kind is yaml.ScalarNode:
            return _NULL_TAG if implicit[0] and value in _NULLS else _STR_TAG
        # (types-PyYAML leaves Resolver.resolve unannotated)
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _load_yaml(text: str) -> Any:
    """YAML text -> None, str, list or dict, two levels deep at most.

    Walking the composed nodes ourselves is several times faster than PyYAML's constructor, and the
    depth bound makes a self-referencing alias harmless.
    """
    loader = _FrontMatterLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    return _node_value(node, 0)


def _node_value(node: Any, depth: int) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return None if node.tag == _NULL_TAG else node.value
    if depth >= 2 or node is None:
        return None
    if isinstance(node, yaml.SequenceNode):
        return [_node_value(item, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return {
            key.value: _node_value(value, depth + 1)
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode)
        }
    return None


def _split_front_matter(
    text: str,
) -> tuple[str | None, str, Literal["closed", "unclosed", "none"]]:
    """``(front matter, body, state)``; state is "closed", "unclosed" or "none"."""
    opening = _FM_OPEN.match(text)
    if opening is None:
        return None, text, "none"
    start = opening.end()
    closing = _FM_CLOSE.search(text, start)
    if closing is not None:
        front = text[start : closing.start()]
        return front, text[closing.end() + 1 :], "closed"
    lines = text[start:].split("\n")
    count = 0
    while count < len(lines) and _FM_LINE.fullmatch(lines[count]):
        count += 1
    if not any(_FM_KEY.fullmatch(line) for line in lines[:count]):
        return None, text, "none"
    return "\n".join(lines[:count]), "\n".join(lines[count:]), "unclosed"


def _load_front_matter(front: str, warnings: list[str]) -> tuple[dict[str, Any], bool]:
    """The fields of a front matter and whether they had to be recovered line by line."""
    if not front.strip():
        return {}, False
    if len(front) > FRONT_MATTER_LIMIT:
        warnings.append(
            f"front matter longer than {FRONT_MATTER_LIMIT} characters: read line by line"
        )
        return _recover_fields(front, parse_values=False), True
    problem: str
    try:
        loaded = _load_yaml(front)
    except yaml.MarkedYAMLError as exc:
        where = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
        problem = f"{exc.problem or exc.context or 'invalid'}{where}"
    except Exception as exc:  # libyaml's limits, recursion: recover all the same
        problem = type(exc).__name__
    else:
        if isinstance(loaded, dict):
            return loaded, False
        if loaded is None:
            return {}, False
        problem = "not a mapping"
    warnings.append(f"front matter is not valid YAML ({problem}): fields recovered line by line")
    return _recover_fields(front), True


def _recover_fields(front: str, *, parse_values: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    list_key: str | None = None
    for line in front.split("\n"):
        key_match = _FM_KEY.fullmatch(line)
        if key_match is not None:
            key, raw = key_match.group(1), key_match.group(2) or ""
            fields[key] = _recover_value(raw, parse_values) if raw else None
            list_key = None if raw else key
            continue
        item_match = _FM_ITEM.fullmatch(line)
        if item_match is not None and list_key is not None:
            items = fields.get(list_key)
            items = items if isinstance(items, list) else []
            items.append(_recover_value(item_match.group(1) or "", parse_values))
            fields[list_key] = items
    return fields


def _recover_value(raw: str, parse: bool) -> Any:
    if parse and raw[:1] in _YAML_INDICATORS:
        # A value valid on its own is read as YAML (escapes, quoting); only broken ones are cut.
        try:
            value = _load_yaml(f"v: {raw}")["v"]
        except Exception:  # any failure: take the text as it stands
            pass
        else:
            if value is None or isinstance(value, str | list):
                return value
    if raw.startswith("[") and raw.endswith("]"):
        return [_unquote(item.strip()) for item in raw[1:-1].split(",")]
    if raw[:1] not in "\"'" and " #" in raw:
        raw = raw[: raw.index(" #")].rstrip()  # a YAML comment after a plain value
    return _unquote(raw)


#: First characters that make a YAML value more than plain text (quotes, flow, anchors, ...).
_YAML_INDICATORS = frozenset("\"'[{&*!|>%@`~")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _scalar(value: Any) -> str:
    """A front matter value as text: ``None`` is empty, numbers and the like are their YAML text."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return " ".join(s for s in (_scalar(v) for v in value if not isinstance(v, list)) if s)
    return str(value)


def _terms(value: Any) -> tuple[str, ...]:
    """Categories or tags: a string is split on whitespace (as Jekyll does), a list item by item."""
    if value is None:
        return ()
    if isinstance(value, list):
        # One level only: a self-referencing YAML alias must not send us round in circles.
        items = [_scalar(v).strip() for v in value if not isinstance(v, list | dict)]
    else:
        items = _scalar(value).split()
    return tuple(dict.fromkeys(item for item in items if item))


# --- dates ----------------------------------------------------------------------------------------

_DATE = re.compile(
    r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"[ \t]*(?:(Z|z|UTC|GMT)|([+-])(\d{2}):?(\d{2})?)?"
)
_ZONE_ONLY = re.compile(r"(?:Z|z|UTC|GMT|[+-]\d{2}:?(?:\d{2})?)?")
_NAME_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})-(.+)")


def _parse_date(value: str, zone: tzinfo) -> datetime | None:
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    year, _, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: Any = zone
    if utc:
        tz = UTC
    elif sign:
        hours, minutes = int(off_h), int(off_m or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = _fixed_zone(-offset if sign == "-" else offset)
    try:
        date = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        return None
    return date


def _name_date(stem: str, zone: tzinfo) -> tuple[datetime | None, str]:
    """The date in a ``YYYY-MM-DD-slug`` file name (midnight, site zone) and the slug."""
    match = _NAME_DATE.fullmatch(stem)
    if match is None:
        return None, stem
    try:
        date = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=zone)
    except ValueError:
        return None, stem
    return date, match[4]


def _front_date(raw: Any, present: bool, zone: tzinfo) -> tuple[datetime | None, str]:
    """The front matter's date in the corpus zone, or None and what is wrong with it."""
    value = _scalar(raw).strip()
    if value and not _ZONE_ONLY.fullmatch(value):
        date = _parse_date(value, zone)
        # Dates are kept in the corpus zone: filters, facets, permalinks and display agree.
        local = in_zone(date, zone) if date is not None else None
        if local is not None:
            return local, ""
        if date is None:
            return None, f"date {value!r} is not a valid date"
        # 9999-12-31 23:00 Z is in year 10000 at +08:00
        return None, f"date {value!r} is out of range in time zone {zone}"
    return None, "date is empty" if present else "no date"


def _post_date(
    raw: Any, present: bool, name_date: datetime | None, zone: tzinfo, warnings: list[str]
) -> datetime | None:
    date, problem = _front_date(raw, present, zone)
    if date is not None:
        return date
    if name_date is not None:
        warnings.append(f"{problem}: used the file name's date {day_text(name_date)}")
        return name_date
    warnings.append(f"{problem} and the file name has none: the post has no date")
    return None


def _page_date(raw: Any, zone: tzinfo, warnings: list[str]) -> datetime | None:
    date, problem = _front_date(raw, raw is not None, zone)
    if date is None and raw is not None and _scalar(raw).strip():
        warnings.append(f"{problem}: the page has no date")
    return date


def _draft_date(
    raw: Any, mtime_ns: int | None, zone: tzinfo, warnings: list[str]
) -> datetime | None:
    date, problem = _front_date(raw, raw is not None, zone)
    if date is not None:
        return date
    if mtime_ns is None:
        warnings.append(f"{problem} and no modification time was given: the draft has no date")
        return None
    if raw is not None and _scalar(raw).strip():
        warnings.append(f"{problem}: used the file's modification time")
    return from_timestamp(mtime_ns // 1_000_000_000, zone)


# --- body -> text ---------------------------------------------------------------------------------

_LIQUID_NAME = re.compile(r"-?\s*(\w*)")
_NAV_LINK = r"\[返回[^\]\n]*\]\([^)\n]*\)"
_NAV_LINE = re.compile(
    rf"^[ \t]*{_NAV_LINK}(?:[ \t]*[｜|][ \t]*{_NAV_LINK})*[ \t]*[｜|]?[ \t]*(?:\n|\Z)", re.M
)
_AUTOLINK_LINE = re.compile(r"[ \t]*<((?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)?)>[ \t]*")
_SOURCE_LINE = re.compile(
    r"[ \t]*\[[ \t]*(?:查看原文|阅读原文|原文链接|原文|来源)[ \t]*\]"
    r"\([ \t]*<?([^\s<>()]*)>?(?:[ \t]+(?:\"[^\"]*\"|'[^']*'))?[ \t]*\)[ \t]*"
)


def _liquid_tags(body: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``{% name ... %}`` and ``{{ ... }}`` (name ""), in order.

    Plain ``find`` calls and never a second search for a closing mark that was not found: linear
    time, where a regex would rescan the rest of the text from every unclosed ``{%``.
    """
    next_tag = body.find("{%")
    next_out = body.find("{{")
    while next_tag >= 0 or next_out >= 0:
        if next_out < 0 or 0 <= next_tag < next_out:
            start = next_tag
            close = body.find("%}", start + 2)
            if close < 0:
                next_tag = -1  # no tag after this one can be closed either
                continue
            match = _LIQUID_NAME.match(body, start + 2)
            name = match.group(1) if match else ""
        else:
            start = next_out
            close = body.find("}}", start + 2)
            if close < 0:
                next_out = -1
                continue
            name = ""
        end = close + 2
        yield start, end, name
        if 0 <= next_tag < end:
            next_tag = body.find("{%", end)
        if 0 <= next_out < end:
            next_out = body.find("{{", end)


def _strip_liquid(body: str) -> str:
    if "{%" not in body and "{{" not in body:
        return body
    tags = list(_liquid_tags(body))
    out: list[str] = []
    pos = 0
    mode = ""  # "", "raw" or "comment"
    opened = 0
    for index, (start, end, name) in enumerate(tags):
        if mode == "raw":
            if name == "endraw":
                out.append(body[pos:start])
                mode, pos = "", end
            continue
        if mode == "comment":
            if name == "endcomment":
                mode, pos = "", end
            continue
        out.append(body[pos:start])
        pos = end
        if name in ("raw", "comment"):
            mode, opened = name, index
    if mode == "comment":
        # Never closed: Liquid itself would fail; keeping the text after it loses nothing.
        for start, end, _ in tags[opened + 1 :]:
            out.append(body[pos:start])
            pos = end
    out.append(body[pos:])
    return "".join(out)


def _extract_links(body: str) -> tuple[str, str | None]:
    """Remove navigation lines and the trailing source link; return the body and the source URL."""
    if "[返回" in body:
        body = _NAV_LINE.sub("", body)
    end = len(body)
    while end and body[end - 1].isspace():  # rstrip() without a copy of a long body
        end -= 1
    cut = body.rfind("\n", 0, end) + 1
    last = body[cut:end]
    if last.endswith((">", ")")):
        match = _AUTOLINK_LINE.fullmatch(last) or _SOURCE_LINE.fullmatch(last)
        if match is not None:
            return body[:cut], match.group(1) or None
    return (body if end == len(body) else body[:end]), None


_MD = MarkdownIt("commonmark", {"html": True})
#: Markdown drops what is nested deeper than maxNesting; nearing it, the body is read as HTML.
_DEEP = _MD.options.maxNesting - 2
#: Characters that may start Markdown inline syntax, an HTML tag or an entity, and line starts that
#: may open a Markdown block. Two patterns with a plain first character: the regex engine scans
#: for that character at C speed instead of trying an alternation at every position.
_MD_CHARS = re.compile(r"[\\`*_\[\]<&]")
_MD_LINE_START = re.compile(r"\n(?:[ \t]*(?:[-+>#=~]|\d{1,9}[.)](?:[ \t\n]|\Z))| {4}|\t)")
_HTML_BLOCK_START = re.compile(r"</?(?:" + "|".join(_MD_BLOCK_NAMES) + r")(?:[ \t\n]|/?>|$)", re.I)
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_CONTAINER_MARKS = re.compile(r"^[ \t]*(?:>[ \t]?|(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$))+", re.M)

_DROP_TAGS = [
    "script", "style", "noscript", "template", "img", "picture", "svg", "math", "canvas", "iframe",
    "object", "embed", "video", "audio", "rt", "rp",
]  # fmt: skip
_BLOCK_TAGS = frozenset(
    [
        "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
        "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "menu", "nav", "ol",
        "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "legend",
        "option",
    ]
)  # fmt: skip
#: Where a block element starts or ends in the markup, a newline goes in front of the tag, so that
#: the parser's text has a line break there. This is the same as inserting text nodes around each
#: block node after parsing, and a few times faster (lexbor's selector engine and one Python call
#: per node were most of the cost). Only the content of <textarea>/<title>-like elements could
#: differ, by line breaks. Lower-case markup takes the fast case-sensitive pattern.
_BLOCK_NAMES = "|".join(sorted(_BLOCK_TAGS, key=lambda tag: (-len(tag), tag)))
_BLOCK_TAG = re.compile(rf"<(?=/?(?:{_BLOCK_NAMES})[\s/>])")
_BLOCK_TAG_ANY_CASE = re.compile(_BLOCK_TAG.pattern, re.I)
_CELL_TAG = re.compile(r"<(?=t[dh][\s/>])", re.I)
_UPPER_TAG = re.compile(r"</?[A-Z]")
_DROP_TAG = re.compile(rf"<(?:{'|'.join(_DROP_TAGS)})[\s/>]", re.I)


def _render_text(body: str, warnings: list[str], *, fast: bool = True) -> str:
    """Markdown/HTML body -> plain text; ``fast=False`` always renders Markdown (for the tests)."""
    if not body.strip():
        return ""
    if (
        fast
        and _MD_CHARS.search(body) is None
        and _MD_LINE_START.match("\n" + body[:16]) is None
        and _MD_LINE_START.search(body) is None
    ):
        return _normalise(body)  # no Markdown syntax, no HTML, no entity: the text is the body
    if fast and _only_html_blocks(body):
        return _html_to_text(body)
    if len(body) > MARKDOWN_LIMIT:
        warnings.append(
            f"body longer than {MARKDOWN_LIMIT} characters: read as HTML without Markdown"
        )
        return _html_to_text(_CONTAINER_MARKS.sub("", body))
    env: dict[str, Any] = {}
    tokens = _MD.parse(body, env)
    if any(token.level >= _DEEP for token in tokens):
        warnings.append("Markdown nested too deeply: read as HTML without Markdown")
        return _html_to_text(_CONTAINER_MARKS.sub("", body))
    return _html_to_text(_MD.renderer.render(tokens, _MD.options, env))


def _only_html_blocks(body: str) -> bool:
    # CommonMark: a line starting with one of these tags opens an HTML block that runs, untouched,
    # to the next blank line. A body made only of such blocks renders to itself.
    if not body.startswith("<"):
        return False
    return all(_HTML_BLOCK_START.match(chunk) for chunk in _BLANK_LINES.split(body.strip()))


def _html_to_text(markup: str) -> str:
    if "<" not in markup and "&" not in markup:
        return _normalise(markup)
    block_tag = _BLOCK_TAG_ANY_CASE if _UPPER_TAG.search(markup) else _BLOCK_TAG
    markup = block_tag.sub("\n<", markup)
    if "<t" in markup or "<T" in markup:
        markup = _CELL_TAG.sub(" <", markup)  # table cells: a space, not a word glued to the next
    tree = LexborHTMLParser(markup)
    if _DROP_TAG.search(markup):
        tree.strip_tags(_DROP_TAGS, recursive=True)
    root = tree.body or tree.root
    if root is None:
        return ""
    if len(markup) <= _NORMALISE_PIECE:
        return _normalise(root.text())
    # A long body: the text of each child in turn is the same text (the text of a node is
    # that of its children, in order), without lexbor's copy of it all and its decoding.
    del markup
    return _normalise("".join([child.text() for child in root.iter(include_text=True)]))


def _normalise(text: str) -> str:
    """Trim every line, drop blank lines, make each run of spaces inside a line one space."""
    if len(text) <= _NORMALISE_PIECE:
        return _normalise_lines(text)
    # A long text a piece of lines at a time: a list of all its lines would cost several
    # times the text itself.
    out = []
    start = 0
    while start < len(text):
        end = text.find("\n", start + _NORMALISE_PIECE)
        end = len(text) if end < 0 else end
        out.append(_normalise_lines(text[start:end]))
        start = end + 1
    return "\n".join(filter(None, out))


def _normalise_lines(text: str) -> str:
    return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))


_NORMALISE_PIECE = 1 << 20


_SENTENCE_END = re.compile(r"[。！？!?]")


def _derive_title(text: str) -> str:
    line = text.split("\n", 1)[0]
    end = _SENTENCE_END.search(line, 1)
    if end is not None:
        line = line[: end.end()]
    if len(line) > TITLE_LENGTH:
        line = line[: TITLE_LENGTH - 1].rstrip() + "…"
    return line


# --- permalink ------------------------------------------------------------------------------------

#: A placeholder of a permalink template (Jekyll's ``UrlDrop``): a name of letters and ``_``.
_PLACEHOLDER = re.compile(r":([a-z_]+)")
#: Values that depend on the date: empty for a post without one.
_DATE_PLACEHOLDERS = (
    "year", "month", "day", "i_month", "i_day", "short_year", "hour", "minute", "second",
    "y_day", "short_month", "long_month", "short_day", "long_day", "week", "w_year", "w_day",
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: RFC 3986 path characters stay as they are (as in Jekyll); anything else is percent-encoded.
_URL_SAFE = "/!$&'()*+,;=:@~"
_SLUG_JUNK = re.compile(r"[^\w.~!$&'()+,;=@]+|_+")
_SLUG_DEFAULT_JUNK = re.compile(r"[^\w]+|_+")


def _slugify(value: str) -> str:
    """Jekyll's ``slugify(mode: "pretty", cased: true)``: unusual characters become ``-``."""
    return _SLUG_JUNK.sub("-", value).strip("-")


def _permalink(
    template: str, categories: tuple[str, ...], date: datetime | None, zone: tzinfo, slug: str
) -> str:
    local = in_zone(date, zone) if date is not None else None
    category_path = "/".join(dict.fromkeys(c.lower() for c in categories))
    title = _slugify(slug)
    if not template:
        # Jekyll's default, built directly: the template machinery below costs more than parsing.
        if local is None:
            url = f"/{_quote(category_path)}/{_quote(title)}.html"
        else:
            day = f"{local.year:04d}/{local.month:02d}/{local.day:02d}"
            url = f"/{_quote(category_path)}/{day}/{_quote(title)}.html"
        return _SLASHES.sub("/", url)
    values: dict[str, str] = dict.fromkeys(_DATE_PLACEHOLDERS, "")
    values.update(
        categories=category_path,
        slugified_categories="/".join(
            dict.fromkeys(_SLUG_DEFAULT_JUNK.sub("-", c).strip("-").lower() for c in categories)
        ),
        title=title,
        slug=title,
        output_ext=".html",
        collection="posts",
    )
    if local is not None:
        iso_year, iso_week, iso_day = local.isocalendar()
        values.update(
            year=f"{local.year:04d}",
            month=f"{local.month:02d}",
            day=f"{local.day:02d}",
            i_month=str(local.month),
            i_day=str(local.day),
            short_year=f"{local.year % 100:02d}",
            hour=f"{local.hour:02d}",
            minute=f"{local.minute:02d}",
            second=f"{local.second:02d}",
            y_day=f"{local.timetuple().tm_yday:03d}",
            short_month=_MONTHS[local.month - 1][:3],
            long_month=_MONTHS[local.month - 1],
            short_day=_DAYS[local.weekday()][:3],
            long_day=_DAYS[local.weekday()],
            week=f"{iso_week:02d}",
            w_year=f"{iso_year:04d}",
            w_day=str(iso_day),
        )
    return _fill(template, values)


def _fill(template: str, values: dict[str, str]) -> str:
    """A permalink template with its placeholders replaced (``:month_:day`` is ``:month``,
    ``_``, ``:day``), sanitised as Jekyll's ``URL#sanitize_url`` does."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return _quote(values[name])
        if name.endswith("_") and name[:-1] in values:
            return _quote(values[name[:-1]]) + "_"
        return match.group()  # not a placeholder Jekyll knows: left as written

    # The template's own text may hold escapes already (keep '%'); values are escaped whole.
    url = _PLACEHOLDER.sub(value, quote(template, safe=_URL_SAFE + "%"))
    url = ("/" + url).replace("..", "/").replace("./", "")
    return _SLASHES.sub("/", url)


def _page_url(path: str, permalink: str, site: Site) -> str:
    """A page's URL as Jekyll makes it: its ``permalink:``, else ``/folder/name.html``
    (``/folder/name/`` with the ``pretty`` style) and ``/folder/`` for an ``index`` page."""
    folder, _, name = path.rpartition("/")
    basename = name[: -len(name.rsplit(".", 1)[-1]) - 1] if "." in name else name
    basename = basename.rstrip(".")
    if permalink:
        template = permalink
    elif basename == "index":
        template = "/:path/"
    else:
        template = "/:path/:basename" + _page_suffix(site.permalink)
    return _fill(template, {"path": "/" + folder, "basename": basename, "output_ext": ".html"})


def _page_suffix(style: str) -> str:
    """Jekyll's ``Utils.add_permalink_suffix``: how the site's style ends a page's URL."""
    if style == "pretty":
        return "/"
    if style in ("date", "ordinal", "none"):
        return ":output_ext"
    if style.endswith("/"):
        return "/"
    return ":output_ext" if style.endswith(":output_ext") else ""


_SLASHES = re.compile(r"/{2,}")
_URL_PLAIN = re.compile(r"[A-Za-z0-9/._~-]*")


def _quote(value: str) -> str:
    return value if _URL_PLAIN.fullmatch(value) else quote(value, safe=_URL_SAFE)
