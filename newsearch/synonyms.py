"""Synonyms: groups of equivalent terms (``工信部 工业和信息化部``), applied at query time.

A synonyms file has one group a line, its terms separated by spaces or commas; ``#`` starts a
comment. The groups are kept with the index settings (``newsearch index --synonyms FILE``, no
re-analysis) or given for one search; a keyword that is one of a group's terms also finds the
posts that hold any other term of the group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .errors import InvalidArgumentError, NewsearchError

Groups = tuple[tuple[str, ...], ...]

_SPLIT = re.compile(r"[\s,，、;；]+")
#: Bounds that keep a query's expansion small whatever a file holds.
MAX_GROUPS = 100_000
MAX_TERMS = 32
MAX_TERM_LENGTH = 100


def parse(text: str) -> Groups:
    """The groups of a synonyms file's text: each line's distinct terms, lines of one term or
    none left out."""
    groups: list[tuple[str, ...]] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        terms = tuple(dict.fromkeys(t for t in _SPLIT.split(line) if t))
        if len(terms) < 2:
            continue
        if len(terms) > MAX_TERMS or any(len(t) > MAX_TERM_LENGTH for t in terms):
            raise InvalidArgumentError(
                f"a synonym group has at most {MAX_TERMS} terms of at most {MAX_TERM_LENGTH} "
                f"characters: {line.strip()[:60]!r}"
            )
        groups.append(terms)
        if len(groups) > MAX_GROUPS:
            raise InvalidArgumentError(f"a synonyms file has at most {MAX_GROUPS} groups")
    return tuple(groups)


def read_file(path: str) -> Groups:
    """The groups of a synonyms file, with a clear error for a file that cannot be one."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(64 << 20)
    except OSError as exc:
        raise NewsearchError(f"cannot read synonyms file {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NewsearchError(f"synonyms file {path} is not UTF-8 text") from exc
    return parse(text)


def check_groups(groups: object, name: str = "synonyms") -> Groups:
    """Groups given by a caller: an iterable of iterables of strings."""
    if isinstance(groups, str | bytes) or not isinstance(groups, Iterable):
        raise InvalidArgumentError(f"{name} must be True, False or groups of terms")
    out: list[tuple[str, ...]] = []
    for g in groups:
        if isinstance(g, str | bytes) or not isinstance(g, Iterable):
            raise InvalidArgumentError(f"each group of {name} must be an iterable of strings")
        terms = tuple(g)
        if not all(isinstance(t, str) for t in terms):
            raise InvalidArgumentError(f"each group of {name} must be an iterable of strings")
        terms = tuple(dict.fromkeys(t.strip() for t in terms if t.strip()))
        if len(terms) > MAX_TERMS or any(len(t) > MAX_TERM_LENGTH for t in terms):
            raise InvalidArgumentError(
                f"a synonym group has at most {MAX_TERMS} terms of at most {MAX_TERM_LENGTH} "
                "characters"
            )
        if len(terms) >= 2:
            out.append(terms)
    return tuple(out)


class SynonymMap:
    """Terms by the form a query keyword has once normalised (``key``): term -> its group."""

    def __init__(self, groups: Groups, key: Callable[[str], str]):
        self.groups = groups
        self._by_key: dict[str, list[str]] = {}
        for group in groups:
            keys = [key(t) for t in group]
            for k in keys:
                if not k:
                    continue
                have = self._by_key.setdefault(k, [])
                for t, other in zip(group, keys, strict=True):
                    if other and other != k and t not in have:
                        have.append(t)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def others(self, keyed: str) -> list[str]:
        """The terms equivalent to a keyword (given normalised), itself left out."""
        return self._by_key.get(keyed, [])


__all__ = ["Groups", "SynonymMap", "check_groups", "parse", "read_file"]
