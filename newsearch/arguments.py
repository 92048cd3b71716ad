"""Checks of the arguments of newsearch's public functions, made where each call comes in.

A bad argument raises InvalidArgumentError (or ArgumentTypeError) naming it, instead of a wrong
result ("None" searched as text, a string iterated character by character) or a TypeError from
deep inside the library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import PurePath
from typing import Any, cast

from .errors import ArgumentTypeError, InvalidArgumentError


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


def fs_path(value: Any, name: str) -> str:
    """A path of the file system: ``str`` or ``os.PathLike`` (not bytes), not empty, no NUL."""
    if isinstance(value, bytes) or not isinstance(value, str | os.PathLike):
        hint = " (decode it with os.fsdecode)" if isinstance(value, bytes) else ""
        raise ArgumentTypeError(
            f"{name} must be a str or os.PathLike path, not {_kind(value)}{hint}"
        )
    path = os.fspath(value)
    if not isinstance(path, str):
        raise ArgumentTypeError(f"{name} must be a path of str, not {_kind(path)}")
    if not path:
        raise InvalidArgumentError(f"{name} must not be empty")
    if "\0" in path:
        raise InvalidArgumentError(f"{name} must not contain a NUL character: {path!r}")
    return path


def post_path(value: Any, name: str = "path") -> str:
    """The path of a post, relative to its corpus, in POSIX form (``str`` or a ``PurePath``)."""
    if isinstance(value, PurePath):
        return value.as_posix()
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, not {_kind(value)}")
    return value


def text(value: Any, name: str) -> str:
    """A str (a query: None or a number would be searched as its spelling)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, not {_kind(value)}")
    return value


def flag(value: Any, name: str) -> bool:
    # A truthy string ("no") must not turn on a rebuild.
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, not {_kind(value)}")
    return value


def count(
    value: Any, name: str, *, error: type[InvalidArgumentError] = InvalidArgumentError
) -> int:
    """A whole number of at least 1; ``error`` for a smaller one."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an int, not {_kind(value)}")
    if value < 1:
        raise error(f"{name} must be at least 1, not {value}")
    return value


def optional_count(
    value: Any, name: str, *, error: type[InvalidArgumentError] = InvalidArgumentError
) -> int | None:
    """None, or a whole number of at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an int or None, not {_kind(value)}")
    return count(value, name, error=error)


def values(value: Any, name: str) -> tuple[str, ...]:
    """None, one string (one value, not its characters), or an iterable of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bytes) or not hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a str or an iterable of str, not {_kind(value)}")
    out = tuple(value)
    for v in out:
        if not isinstance(v, str):
            raise ArgumentTypeError(f"{name} must hold str values, not {_kind(v)}")
    return out


def fs_paths(value: Any, name: str) -> tuple[str, ...]:
    """One path or an iterable of paths."""
    if isinstance(value, str | os.PathLike | bytes):
        return (fs_path(value, name),)
    if not hasattr(value, "__iter__"):
        raise ArgumentTypeError(
            f"{name} must be a path or an iterable of paths, not {_kind(value)}"
        )
    return tuple(fs_path(v, name) for v in value)


def date_bound(value: Any, name: str) -> str | date | None:
    """None, a str (checked when parsed), a date or a datetime."""
    if value is None or isinstance(value, str | date):
        return value
    raise ArgumentTypeError(f"{name} must be a str, date or datetime, not {_kind(value)}")


def callback(value: Any, name: str) -> Callable[..., Any] | None:
    """None or something to call."""
    if value is not None and not callable(value):
        raise ArgumentTypeError(f"{name} must be callable or None, not {_kind(value)}")
    return cast("Callable[..., Any] | None", value)


def timezone(value: Any, name: str = "timezone") -> str:
    """The IANA name of a time zone (checked against the zone database)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str such as 'Asia/Shanghai', not {_kind(value)}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgumentError(
            f"unknown time zone: {value!r} (use an IANA name such as Asia/Shanghai)"
        ) from exc
    return value
