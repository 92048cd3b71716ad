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

import html as _html
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as _fixed_zone
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

import yaml
from markdown_it import MarkdownIt
from markdown_it.common.html_blocks import block_names as _MD_BLOCK_NAMES
from selectolax.lexbor import LexborHTMLParser

from newsearch import arguments
from newsearch.dates import CorpusZone, corpus_zone, day_text, in_zone
from newsearch.errors import CorpusError, InvalidArgumentError, PostError
from newsearch.models import Post, Problem, ReadResult

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_POST_BYTES",
    "POST_SUFFIXES",
    "PostError",
    "PostFile",
    "discover",
    "parse_post",
    "read_bytes",
    "read_corpus",
    "read_post",
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


@dataclass(frozen=True, slots=True)
class PostFile:
    """A post file found by :func:`discover`: enough to tell whether it changed since a build."""

    #: Relative to the corpus root, POSIX form: the post's identity.
    path: str
    abspath: str
    size: int
    mtime_ns: int


# --------------------------------------------------------------------------------------------------
# Discovery


def discover(
    root: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()
) -> tuple[list[PostFile], list[Problem]]:
    """Find the post files under ``root``, sorted by path, and the entries that could not be used.

    Hidden entries, Jekyll's ``_site`` folder and the folders in ``exclude`` are skipped.
    Symlinked folders are never followed (they are reported); symlinked files are read. Raises
    CorpusError only when ``root`` itself is missing or not a folder.
    """
    top = os.path.abspath(os.fspath(root))
    if not os.path.exists(top):
        raise CorpusError(f"corpus folder not found: {top}")
    if not os.path.isdir(top):
        raise CorpusError(f"corpus is not a folder: {top}")
    excluded: set[tuple[int, int]] = set()
    for path in exclude:
        try:
            st = os.stat(path)
        except OSError:
            continue  # an index folder that does not exist yet holds nothing to skip
        excluded.add((st.st_dev, st.st_ino))

    files: list[PostFile] = []
    problems: list[Problem] = []
    # An explicit stack rather than recursion: a deep folder tree cannot hit the recursion limit.
    stack: list[tuple[str, str]] = [("", top)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as exc:
            problems.append(
                Problem(_display(rel_dir or "."), f"cannot list folder: {_os_reason(exc)}")
            )
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            is_post_name = name.lower().endswith(POST_SUFFIXES)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name == "_site":
                        continue
                    st = entry.stat(follow_symlinks=False)
                    if (st.st_dev, st.st_ino) not in excluded:
                        stack.append((rel, entry.path))
                    continue
                if entry.is_symlink():
                    try:
                        target = os.stat(entry.path)
                    except OSError as exc:
                        if is_post_name:
                            problems.append(Problem(_display(rel), _link_reason(exc)))
                        continue
                    if stat.S_ISDIR(target.st_mode):
                        problems.append(
                            Problem(_display(rel), "symbolic link to a folder: not followed")
                        )
                        continue
                if not is_post_name:
                    continue
                st = entry.stat()
            except OSError as exc:
                problems.append(Problem(_display(rel), f"cannot read: {_os_reason(exc)}"))
                continue
            if (st.st_dev, st.st_ino) in excluded:
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(Problem(_display(rel), "not a regular file"))
                continue
            if not _is_utf8_name(rel):
                problems.append(Problem(_display(rel), "file name is not valid UTF-8"))
                continue
            files.append(
                PostFile(rel, os.path.join(top, *rel.split("/")), st.st_size, st.st_mtime_ns)
            )
    files.sort(key=lambda f: f.path)
    problems.sort(key=lambda p: p.path)
    return files, problems


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
    if exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError):
        return "broken symbolic link"
    return f"cannot follow symbolic link: {_os_reason(exc)}"


# --------------------------------------------------------------------------------------------------
# Reading


def read_post(
    root: str | os.PathLike[str], path: str | PurePath, *, timezone: str = DEFAULT_TIMEZONE
) -> Post:
    """Read one post (``path`` relative to ``root``, POSIX form); PostError if it is bad."""
    top = arguments.fs_path(root, "root")
    path = arguments.post_path(path)
    parts = path.split("/")
    if not path or "\0" in path or os.path.isabs(path) or ".." in parts:
        raise InvalidArgumentError(f"post path must be relative to the corpus root: {path!r}")
    arguments.timezone(timezone)  # a bad zone is the caller's error, not the file's
    data = read_bytes(os.path.join(top, *parts))
    return parse_post(data, path, timezone=timezone)


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
) -> ReadResult:
    """Read every post under ``root``; a file that cannot be read is a Problem, not an exception.

    ``exclude`` is one path or several (folders or files to leave out).
    """
    root = arguments.fs_path(root, "root")
    arguments.timezone(timezone)
    exclude = arguments.fs_paths(exclude, "exclude")
    files, problems = discover(root, exclude=exclude)
    posts: list[Post] = []
    for file in files:
        try:
            posts.append(parse_post(read_bytes(file.abspath), file.path, timezone=timezone))
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
    folder = Path(root)
    folders = [folder, folder.parent] if folder.name == "_posts" else [folder]
    for place in folders:
        for name in ("_config.yml", "_config.yaml"):
            try:
                text = (place / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            value: Any = None
            try:
                config = _load_yaml(text)
                if isinstance(config, dict):
                    value = config.get("timezone")
            except Exception:  # a broken config is searched line by line below
                match = re.search(r"^timezone[ \t]*:[ \t]*[\"']?([^\"'\s#]+)", text, re.M)
                value = match.group(1) if match else None
            if isinstance(value, str) and value.strip():
                try:
                    _zone(value.strip())
                except ValueError:
                    return None
                return value.strip()
            return None
    return None


def _zone(name: str) -> CorpusZone:
    try:
        return corpus_zone(name)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"unknown time zone: {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from exc


# --------------------------------------------------------------------------------------------------
# Parsing one post


def parse_post(data: bytes, path: str, *, timezone: str = DEFAULT_TIMEZONE) -> Post:
    """Turn the bytes of one file into a Post; ``path`` (relative, POSIX) is its name.

    A pure function of its arguments. Raises PostError when the bytes cannot be a post (binary,
    empty, an unknown encoding, neither a title nor any text).
    """
    zone = _zone(timezone)
    warnings: list[str] = []
    front, body, state = _split_front_matter(_decode(data, warnings))

    recovered = False
    fields: dict[str, Any] = {}
    if state == "closed":
        assert front is not None
        fields, recovered = _load_front_matter(front, warnings)
    elif state == "unclosed":
        assert front is not None
        fields, _ = _load_front_matter(front, [])
        recovered = True
        warnings.append("front matter is not closed by '---': fields recovered line by line")
    else:
        warnings.append("no front matter: title taken from the text")

    basename = path.rsplit("/", 1)[-1]
    stem = basename.rsplit(".", 1)[0] if "." in basename else basename
    name_date, name_slug = _name_date(stem, zone)
    date = _post_date(fields.get("date"), "date" in fields, name_date, zone, warnings)
    categories = _terms(fields.get("categories") or fields.get("category"))
    tags = _terms(fields.get("tags") or fields.get("tag"))

    body, source_url = _extract_links(_strip_liquid(body))
    body_text = _render_text(body, warnings)

    title = " ".join(_html.unescape(_scalar(fields.get("title"))).split())
    if not title:
        if not body_text:
            raise PostError("no title and no text")
        title = _derive_title(body_text)
        if state != "none":  # a file without front matter already has its warning
            warnings.append("title is empty: taken from the text")

    slug = _scalar(fields.get("slug")).strip() or name_slug
    url = _permalink(_scalar(fields.get("permalink")).strip(), categories, date, zone, slug)
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
        return super().resolve(kind, value, implicit)


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


def _split_front_matter(text: str) -> tuple[str | None, str, str]:
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


def _post_date(
    raw: Any, present: bool, name_date: datetime | None, zone: tzinfo, warnings: list[str]
) -> datetime | None:
    value = _scalar(raw).strip()
    if value and not _ZONE_ONLY.fullmatch(value):
        date = _parse_date(value, zone)
        # Dates are kept in the corpus zone: filters, facets, permalinks and display agree.
        local = in_zone(date, zone) if date is not None else None
        if local is not None:
            return local
        if date is None:
            problem = f"date {value!r} is not a valid date"
        else:  # 9999-12-31 23:00 Z is in year 10000 at +08:00
            problem = f"date {value!r} is out of range in time zone {zone}"
    elif present:
        problem = "date is empty"
    else:
        problem = "no date"
    if name_date is not None:
        warnings.append(f"{problem}: used the file name's date {day_text(name_date)}")
        return name_date
    warnings.append(f"{problem} and the file name has none: the post has no date")
    return None


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
    return _normalise(root.text()) if root is not None else ""


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

_PLACEHOLDER = re.compile(
    r":(categories|year|month|day|i_month|i_day|short_year|hour|minute|second|title|slug|output_ext)"
)
#: RFC 3986 path characters stay as they are (as in Jekyll); anything else is percent-encoded.
_URL_SAFE = "/!$&'()*+,;=:@~"
_SLUG_JUNK = re.compile(r"[^\w.~!$&'()+,;=@]+|_+")


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
    values: dict[str, str] = {
        "categories": category_path,
        "title": title,
        "slug": title,
        "output_ext": ".html",
    }
    if local is not None:
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
        )
    # The template's own text may hold escapes already (keep '%'); values are escaped whole.
    url = _PLACEHOLDER.sub(
        lambda m: _quote(values.get(m.group(1), "")), quote(template, safe=_URL_SAFE + "%")
    )
    return _SLASHES.sub("/", "/" + url)


_SLASHES = re.compile(r"/{2,}")
_URL_PLAIN = re.compile(r"[A-Za-z0-9/._~-]*")


def _quote(value: str) -> str:
    return value if _URL_PLAIN.fullmatch(value) else quote(value, safe=_URL_SAFE)
