"""The one error tree of newsearch.

Every failure a user can cause (a missing index, a locked index, a bad date option, an index built
with other analysis settings, a bad argument to a library call) is a NewsearchError subclass; the
CLI maps them to one line on stderr.
"""

from __future__ import annotations


class NewsearchError(Exception):
    """Base class of every error newsearch raises on purpose."""

    #: Exit code the command line uses for this error.
    exit_code = 1


class InvalidArgumentError(NewsearchError, ValueError):
    """A library call got an argument it cannot use: a limit below 1, an unknown time zone, a
    post path outside the corpus. The message names the argument."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """A library call got an argument of the wrong type (None or a number for a query, bytes
    for a path)."""


class CorpusError(NewsearchError):
    """The corpus folder cannot be used at all (missing, not a folder)."""


class IndexNotFoundError(NewsearchError):
    """There is no newsearch index at the given location."""


class NotAnIndexError(NewsearchError):
    """The folder exists but is not a newsearch index (foreign or corrupt); it is never deleted."""


class IndexDamagedError(NotAnIndexError):
    """A read met bytes that fail their checksum: ``newsearch check`` tells where; rebuild it."""


class RebuildRequiredError(NewsearchError):
    """The index was built by another newsearch version or with other analysis settings."""


class IndexLockedError(NewsearchError):
    """Another process is writing to the index."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class BuildError(NewsearchError):
    """An index build failed as a whole (a worker died); the last commit is left as it was."""


class IndexWriteError(BuildError):
    """The index folder cannot be written (a full disk, an I/O error, a read-only folder); the
    index keeps its last commit."""


class QueryError(InvalidArgumentError):
    """A search option is invalid (a bad date, an unknown sort order, a bad page)."""


class PostNotFoundError(NewsearchError):
    """No post with the given path is in the index."""


class IndexClosedError(NewsearchError):
    """The SearchIndex was closed; open the index again to use it."""


class PostError(NewsearchError):
    """A file that cannot be read as a post; ``reason`` is one line meant for the user.

    Reading a corpus reports such files as problems; only ``read_post`` raises it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
