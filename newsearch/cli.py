"""The ``newsearch`` command line: click parses options, rich draws the terminal, the library works.

Each command makes one library call and renders its result. The library, rich and most of the
standard library are imported inside the commands, so that a search starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import click

from . import __version__
from .models import MATCH_PINYIN, MATCH_SOME, MATCH_SYNONYM, SORTS

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from .engine import SearchIndex
    from .models import (
        CheckReport,
        Explanation,
        Hit,
        IndexInfo,
        IndexReport,
        Post,
        Progress,
        SearchResults,
        Sort,
    )

#: Exit code of an error that is a bug, not a bad input.
UNEXPECTED_EXIT = 1

# Styles of the terminal output (rich style strings; post text never becomes markup).
STYLES = {
    "head": "bold",
    "title": "bold",
    "title_hl": "bold underline red",
    "hl": "bold red",
    "meta": "dim",
    "url": "blue",
    "path": "dim",
    "key": "bold",
    "count": "cyan",
    "warn": "yellow",
    "problem": "red",
}

Seg = tuple[str, str]
"""A piece of a line: its text and a style name from STYLES ("" for none)."""


# --- making post text safe to print --------------------------------------------------------------

_TABLES: dict[bool, dict[int, str]] = {}


def _safe_table(one_line: bool) -> dict[int, str]:
    table = _TABLES.get(one_line)
    if table is None:
        table = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}  # ␀ ␁ … ␛ …
        table[0x7F] = "\u2421"  # ␡
        bad = "\ufffd"
        for c in range(0x80, 0xA0):  # C1 controls (0x9b is a CSI on some terminals)
            table[c] = bad
        for c in range(0xD800, 0xE000):  # lone surrogates cannot be encoded
            table[c] = bad
        for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)):  # bidi overrides
            table[c] = bad
        if one_line:
            table[9] = table[10] = " "
        _TABLES[one_line] = table
    return table


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character replaced by one visible character.

    The result has the same length as ``text``, so highlight offsets stay valid. Newlines and tabs
    are kept (or become spaces with ``one_line``); ``\\x1b`` becomes ``␛``, so nothing in a post
    reaches the terminal as an escape sequence.
    """
    return text.translate(_safe_table(one_line))


def marked(text: str, spans: Iterable[tuple[int, int]], style: str, hl: str) -> list[Seg]:
    """``text`` cut into plain and highlighted pieces (spans are clamped, overlaps merged)."""
    segs: list[Seg] = []
    pos = 0
    n = len(text)
    for s, e in sorted(spans):
        s, e = max(s, pos, 0), min(e, n)
        if e <= s:
            continue
        if s > pos:
            segs.append((text[pos:s], style))
        segs.append((text[s:e], hl))
        pos = e
    if pos < n:
        segs.append((text[pos:], style))
    return segs


# --- writers: plain text for pipes, rich for terminals -------------------------------------------


class PlainWriter:
    """Unstyled text, not wrapped: for pipes, files and ``grep``."""

    def __init__(self, err: bool = False):
        self.err = err

    def line(self, segs: Sequence[Seg] = ()) -> None:
        click.echo("".join(t for t, _ in segs), err=self.err)

    def items(self, rows: Sequence[tuple[str, list[list[Seg]]]]) -> None:
        """Numbered blocks: a label (``1.``) then lines indented under the first one."""
        width = max((len(label) for label, _ in rows), default=0)
        for i, (label, lines) in enumerate(rows):
            if i:
                self.line()
            for j, segs in enumerate(lines):
                lead = label.rjust(width) if j == 0 else " " * width
                self.line([(lead + " ", ""), *segs])

    def fields(self, rows: Sequence[tuple[str, list[Seg]]], indent: int = 0) -> None:
        """Key-value rows, the keys in a column."""
        width = max((cells(k) for k, _ in rows), default=0)
        for key, segs in rows:
            pad = " " * (width - cells(key) + 2)
            self.line([(" " * indent + key + pad, ""), *segs])

    def text(self, text: str) -> None:
        click.echo(text, err=self.err)


class RichWriter:
    """Styled and wrapped to the terminal's width by rich."""

    def __init__(self, console: Console):
        self.console = console

    @staticmethod
    def _text(segs: Sequence[Seg]) -> Any:
        from rich.text import Text

        out = Text(overflow="fold", no_wrap=False)
        for text, style in segs:
            out.append(text, STYLES.get(style, "") or None)
        return out

    def line(self, segs: Sequence[Seg] = ()) -> None:
        self.console.print(self._text(segs))

    def items(self, rows: Sequence[tuple[str, list[list[Seg]]]]) -> None:
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for i, (label, lines) in enumerate(rows):
            if i:
                grid.add_row("", "")
            body = self._text([])
            for j, segs in enumerate(lines):
                if j:
                    body.append("\n")
                body.append_text(self._text(segs))
            grid.add_row(label, body)
        self.console.print(grid)

    def fields(self, rows: Sequence[tuple[str, list[Seg]]], indent: int = 0) -> None:
        from rich.padding import Padding
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style=STYLES["key"], no_wrap=True)
        grid.add_column(overflow="fold")
        for key, segs in rows:
            grid.add_row(key, self._text(segs))
        self.console.print(Padding(grid, (0, 0, 0, indent)) if indent else grid)

    def text(self, text: str) -> None:
        self.line([(text, "")])


Writer = PlainWriter | RichWriter


def cells(text: str) -> int:
    """Terminal columns of ``text``: Chinese characters take two."""
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _no_color() -> bool:
    """NO_COLOR set to anything but the empty string: no styling at all (no-color.org)."""
    return os.environ.get("NO_COLOR", "") != ""


def _force_color() -> bool:
    """FORCE_COLOR set to anything but the empty string, and no NO_COLOR (force-color.org)."""
    return os.environ.get("FORCE_COLOR", "") != "" and not _no_color()


def writer(err: bool = False) -> Writer:
    """rich on a terminal (or with FORCE_COLOR), plain text otherwise.

    With NO_COLOR a terminal keeps rich's layout (wrapped to its width) without any style:
    rich's own NO_COLOR removes colours only and keeps bold and dim.
    """
    stream = sys.stderr if err else sys.stdout
    if _force_color() or _isatty(stream):
        return RichWriter(_console(stream))
    return PlainWriter(err)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console(stream: Any) -> Console:
    """A rich console on a terminal or with FORCE_COLOR; the decision is ours, not rich's (it
    would read FORCE_COLOR= as "not a terminal" and NO_COLOR as "bold is fine")."""
    from rich.console import Console

    return Console(
        file=stream,
        force_terminal=True,
        color_system=None if _no_color() else "auto",
        highlight=False,
        markup=False,
        emoji=False,
    )


def _folder(path: str) -> str:
    return path if path.endswith(("/", os.sep)) else path + "/"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def _when(d: datetime | None) -> str:
    # Dates come in the corpus zone; years before 1000 keep four digits (0001-01-01).
    from .dates import minute_text

    return minute_text(d) if d else "no date"


def _day(d: datetime) -> str:
    from .dates import day_text

    return day_text(d)


# --- errors: one place maps them to exit codes ---------------------------------------------------


class Failure(click.ClickException):
    """A NewsearchError (or a bug) as click shows it: ``Error: ...`` on stderr."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares a ClassVar


def _debug(ctx: click.Context) -> bool:
    if os.environ.get("NEWSEARCH_DEBUG", "") not in ("", "0"):
        return True
    return bool(ctx.find_root().params.get("debug"))


def translate_error(exc: Exception, ctx: click.Context) -> click.ClickException:
    """The exception a user sees for ``exc``, raised from a command."""
    from .errors import InvalidArgumentError, NewsearchError

    if isinstance(exc, InvalidArgumentError):
        # A bad --since, --sort, --page or --timezone is a usage error, like any other bad option.
        return click.UsageError(str(exc), ctx)
    if isinstance(exc, NewsearchError):
        return Failure(str(exc), exc.exit_code)
    if isinstance(exc, OSError) and exc.strerror:
        # The system said no (a path under a file, no permission, a full disk): not a bug.
        where = f": {exc.filename}" if exc.filename else ""
        return Failure(f"{exc.strerror}{where}")
    return Failure(
        f"unexpected {type(exc).__name__}: {exc}\n"
        "This is a bug in newsearch; run again with --debug (or NEWSEARCH_DEBUG=1) "
        "to see the traceback, and please report it.",
        UNEXPECTED_EXIT,
    )


class Command(click.Command):
    """A command whose errors become one clear line on stderr and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            raise  # click silences it (the reader of a pipe went away)
        except Exception as exc:
            if _debug(ctx):
                raise
            raise translate_error(exc, ctx) from exc


class Group(click.Group):
    command_class = Command


def _drop_jieba_chatter(record: Any) -> bool:
    return bool(record.levelno >= 30)  # logging.WARNING


def quiet_jieba() -> None:
    """jieba logs "Building prefix dict..." at DEBUG level: show only its warnings.

    jieba sets its own logger to DEBUG when it is imported (inside the library, after this runs),
    so a level alone would not hold: a filter on the logger does.
    """
    import logging

    log = logging.getLogger("jieba")
    log.setLevel(logging.WARNING)
    log.addFilter(_drop_jieba_chatter)  # addFilter ignores a filter that is already there


# --- the commands --------------------------------------------------------------------------------

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
INDEX_OPTION = click.option(
    "--index",
    "index_dir",
    default="index",
    show_default=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="The index folder.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group("newsearch", cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show a traceback for unexpected errors.")
def cli(debug: bool) -> None:
    """Chinese full-text search for folders of Jekyll news posts.

    \b
    Index a folder of posts, then search it:
      newsearch index corpus/
      newsearch search 工业经济 --since 2022-05
      newsearch show finews/2022-05-27-NW202205272394760297.md
    """
    quiet_jieba()


def main(argv: Sequence[str] | None = None) -> None:
    """The console script ``newsearch``."""
    for stream in (sys.stdout, sys.stderr):
        # A terminal that cannot show Chinese gets escapes instead of a UnicodeEncodeError.
        if (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    cli.main(args=argv, prog_name="newsearch")


# --- index ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("corpus", default="corpus", type=click.Path(file_okay=False))
@INDEX_OPTION
@click.option("--rebuild", is_flag=True, help="Build the index again from scratch.")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), metavar="N", help="Worker processes [default: CPUs]"
)
@click.option(
    "--user-dict",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="A jieba user dictionary (word [freq] [tag] per line), kept with the index; with "
    "another one, only the posts that hold its added, removed or changed words are analysed again.",
)
@click.option(
    "--no-user-dict",
    is_flag=True,
    help="Drop the index's user dictionary (the posts that hold its words are analysed again).",
)
@click.option(
    "--synonyms",
    "synonyms_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Synonym groups (one group of equivalent terms a line), kept with the index; applied "
    "by searches, nothing is analysed again.",
)
@click.option("--no-synonyms", is_flag=True, help="Drop the index's synonyms.")
@click.option(
    "--drafts/--no-drafts",
    default=None,
    help="Read a Jekyll site's _drafts too (kept with the index) [default: no].",
)
@click.option("--timezone", metavar="TZ", help="Time zone of dates without one (Asia/Shanghai).")
@click.option("--strict", is_flag=True, help="Exit 1 if any post could not be indexed.")
@click.option("--wait", is_flag=True, help="Wait for another process that is writing the index.")
@click.option(
    "--optimize", is_flag=True, help="Merge the index into one segment (smaller, faster searches)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary; only problems.")
@click.option("-v", "--verbose", is_flag=True, help="List the posts indexed with a warning.")
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: index again whenever a post is written, moved or deleted.",
)
def index(
    corpus: str,
    index_dir: str,
    rebuild: bool,
    jobs: int | None,
    user_dict: str | None,
    no_user_dict: bool,
    synonyms_file: str | None,
    no_synonyms: bool,
    drafts: bool | None,
    timezone: str | None,
    strict: bool,
    wait: bool,
    optimize: bool,
    quiet: bool,
    verbose: bool,
    watch: bool,
) -> None:
    """Build or update the index of a folder of posts.

    CORPUS is the folder of posts (default: corpus/), or a Jekyll site's root (a folder with
    _config.yml), read as Jekyll reads it. Only new and changed posts are read again; posts whose
    files are gone leave the index. Posts that cannot be read are listed at the end and skipped
    (exit 0; exit 1 with --strict). Another process writing the index: exit 75.

    \b
    Examples:
      newsearch index                      # corpus/ into index/
      newsearch index ~/blog/_posts --index ~/.cache/blog-index --jobs 4
      newsearch index --user-dict words.txt
      newsearch index --synonyms synonyms.txt
      newsearch index ~/blog --drafts        # a Jekyll site, its drafts too
      newsearch index --watch                # and again after every change, until Ctrl+C
    """
    if no_user_dict and user_dict:
        raise click.BadParameter("give --user-dict FILE or --no-user-dict, not both")
    if no_synonyms and synonyms_file:
        raise click.BadParameter("give --synonyms FILE or --no-synonyms, not both")
    synonyms: str | Literal[False] | None = False if no_synonyms else synonyms_file
    if watch:
        if strict:
            raise click.UsageError("--strict ends with an exit code: it cannot go with --watch")
        watch_index(
            corpus,
            index_dir,
            quiet=quiet,
            verbose=verbose,
            rebuild=rebuild,
            jobs=jobs,
            user_dict=False if no_user_dict else user_dict,
            synonyms=synonyms,
            drafts=drafts,
            timezone=timezone,
            optimize=optimize,
        )
        return
    report = run_build(
        corpus,
        index_dir,
        rebuild=rebuild,
        jobs=jobs,
        user_dict=False if no_user_dict else user_dict,
        synonyms=synonyms,
        drafts=drafts,
        timezone=timezone,
        wait=wait,
        optimize=optimize,
        show_progress=not quiet,
    )
    render_report(report, writer(), quiet=quiet, verbose=verbose)
    if strict and report.problems:
        raise Failure(f"{_plural(len(report.problems), 'post')} could not be indexed (--strict)")


def watch_index(corpus: str, index_dir: str, *, quiet: bool, verbose: bool, **options: Any) -> None:
    """``index --watch``: a build now and after every change, a summary after each, until Ctrl+C
    (or SIGTERM); a build that fails is reported and tried again at the next change."""
    from .errors import CorpusError
    from .watch import watch_corpus

    if not os.path.isdir(corpus):
        raise CorpusError(f"corpus folder not found: {os.path.abspath(corpus)}")
    out = writer()

    def report(r: IndexReport) -> None:
        if quiet and not r.problems:
            return
        render_report(r, out, quiet=quiet, verbose=verbose)

    def failed(exc: Exception) -> None:
        message = translate_error(exc, click.get_current_context()).format_message()
        click.echo(f"Error: {message} (trying again at the next change)", err=True)

    def ready() -> None:
        click.echo(f"Watching {_folder(corpus)} for changes (Ctrl+C to stop)...", err=True)

    try:
        watch_corpus(
            corpus,
            index_dir,
            on_report=report,
            on_error=failed,
            on_ready=ready,
            **options,
        )
    except KeyboardInterrupt:
        pass


def run_build(
    corpus: str,
    index_dir: str,
    *,
    rebuild: bool = False,
    jobs: int | None = None,
    user_dict: str | Literal[False] | None = None,
    timezone: str | None = None,
    wait: bool = False,
    optimize: bool = False,
    show_progress: bool = True,
    drafts: bool | None = None,
    synonyms: str | Literal[False] | None = None,
) -> IndexReport:
    """build_index with a progress bar on stderr when it is a terminal."""
    from .indexer import build_index

    with ProgressBar(enabled=show_progress and _isatty(sys.stderr)) as callback:
        return build_index(
            corpus,
            index_dir,
            rebuild=rebuild,
            jobs=jobs,
            user_dict=user_dict,
            progress=callback,
            timezone=timezone,
            wait_for_lock=wait,
            optimize=optimize,
            drafts=drafts,
            synonyms=synonyms,
        )


class ProgressBar:
    """A rich progress bar on stderr fed by build_index's ``progress`` callback.

    One bar per phase of the build (posts indexed, then segments merged, if any); it disappears
    when the build is done.
    """

    PHASES = {"index": ("Indexing", "posts"), "merge": ("Merging segments", "segments")}

    def __init__(self, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.console = console
        self._bar: Any = None
        self._task: Any = None
        self._phase = ""

    def __enter__(self) -> Callable[[Progress], None] | None:
        return self.update if self.enabled else None

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def update(self, p: Progress) -> None:
        if p.phase == "done":
            self.__exit__()
            return
        if not p.total:
            return
        if self._bar is None:
            self._start()
        if p.phase != self._phase:
            if self._task is not None:
                self._bar.update(self._task, visible=False)
            label, unit = self.PHASES.get(p.phase, (p.phase.capitalize(), ""))
            self._task = self._bar.add_task(label, total=p.total, unit=unit)
            self._phase = p.phase
        self._bar.update(self._task, completed=p.done, total=p.total)
        if p.done >= p.total:
            self._bar.refresh()  # show each phase complete, whenever the timer would draw

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar
        from rich.text import Text

        class Speed(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                unit = task.fields.get("unit")
                text = f"{speed:,.0f} {unit}/s" if speed and unit == "posts" else ""
                return Text(text, style="progress.data.speed")

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Speed(),
            TimeRemainingColumn(),
            console=self.console or _console(sys.stderr),
            transient=True,
        )
        self._bar.start()


def render_report(
    report: IndexReport, out: Writer, *, quiet: bool = False, verbose: bool = False
) -> None:
    if not quiet:
        if (
            report.changed
            or report.rebuilt
            or report.user_dict_words is not None
            or report.settings_changed
        ):
            seconds = max(report.seconds, 1e-9)
            rows = [
                ("added", str(report.added)),
                ("updated", str(report.updated)),
                ("removed", str(report.removed)),
                ("unchanged", str(report.unchanged)),
                ("problems", str(len(report.problems))),
                ("posts in index", str(report.total)),
                ("seconds", f"{report.seconds:.2f}"),
                ("MB/s of post files", f"{report.file_bytes / 1e6 / seconds:.2f}"),
            ]
            out.line([(f"Indexed {report.corpus} into {report.index}", "head")])
            if report.rebuild_reason:
                out.line([(f"  rebuilt: {report.rebuild_reason}", "warn")])
            for note in report.settings_changed:
                out.line([(f"  {visible(note, one_line=True)}", "warn")])
            if report.user_dict_words is not None:
                words = report.user_dict_words
                shown = visible(
                    " ".join(words[:8]) + (" …" if len(words) > 8 else ""), one_line=True
                )
                out.line(
                    [
                        (
                            f"  user dictionary: {_plural(len(words), 'word')} added, removed or "
                            f"changed ({shown}); re-analysed "
                            f"{_plural(report.reanalysed, 'post')} that hold them",
                            "warn",
                        )
                    ]
                )
            out.fields([(k, [(v, "count")]) for k, v in rows], indent=2)
        else:
            out.line(
                [(f"index is up to date: {_plural(report.total, 'post')}, nothing changed", "")]
            )
    if report.problems:
        out.line([(f"{_plural(len(report.problems), 'post')} could not be indexed:", "problem")])
        for p in report.problems:
            out.line(
                [
                    ("  " + visible(p.path, one_line=True), "path"),
                    (": " + visible(p.reason, one_line=True), ""),
                ]
            )
    if report.warnings and not quiet:
        if verbose:
            out.line([(f"{_plural(len(report.warnings), 'warning')}:", "warn")])
            for p in report.warnings:
                out.line(
                    [
                        ("  " + visible(p.path, one_line=True), "path"),
                        (": " + visible(p.reason, one_line=True), ""),
                    ]
                )
        else:
            out.line(
                [
                    (
                        f"{_plural(len(report.warnings), 'warning')} "
                        "(posts indexed with a caveat; -v lists them)",
                        "warn",
                    )
                ]
            )


# --- search --------------------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True})  # -word excludes a word
@click.argument("query", nargs=-1)
@INDEX_OPTION
@click.option(
    "--corpus",
    "corpus_dir",
    default="corpus",
    show_default=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="The posts to index first when there is no index yet.",
)
@click.option(
    "-c",
    "--category",
    "categories",
    multiple=True,
    metavar="C",
    help="Only posts in this category (repeat for any of several).",
)
@click.option(
    "-t",
    "--tag",
    "tags",
    multiple=True,
    metavar="T",
    help="Only posts with this tag (repeat for any of several).",
)
@click.option("--since", metavar="DATE", help="Only posts from DATE on: 2022, 2022-05, 2022-05-27.")
@click.option("--until", metavar="DATE", help="Only posts up to DATE (included), same forms.")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="relevance",
    show_default=True,
    help="Order of the results.",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="Results per page.",
)
@click.option(
    "-p",
    "--page",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Page of results to show.",
)
@click.option("--facets", is_flag=True, help="Also count the matches by category and by month.")
@click.option(
    "--explain", is_flag=True, help="Show the parts of each hit's score (terms, fields, boosts)."
)
@click.option(
    "--no-pinyin",
    is_flag=True,
    help="Latin keywords find only their letters, not the words they read as in pinyin.",
)
@click.option(
    "--synonyms",
    "synonyms_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Synonym groups for this search (one group a line), instead of the index's.",
)
@click.option("--no-synonyms", is_flag=True, help="Use no synonyms for this search.")
@JSON_OPTION
def search(
    query: tuple[str, ...],
    index_dir: str,
    corpus_dir: str,
    categories: tuple[str, ...],
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    sort: Sort,
    limit: int,
    page: int,
    facets: bool,
    explain: bool,
    no_pinyin: bool,
    synonyms_file: str | None,
    no_synonyms: bool,
    as_json: bool,
) -> None:
    """Search the posts for QUERY.

    Words may match anywhere (more matching words rank higher); "an exact phrase" must appear as
    written; -word excludes (write -- before the query if that word starts with a Latin letter);
    A OR B matches either; title:X, category:X and tag:X look in one field. Without a query, the
    filters alone choose the posts. A Latin keyword also finds the words it reads as in pinyin
    (gongxinbu, gxb: 工信部); keywords find their synonyms. If there is no index yet, it is
    built from --corpus first.

    \b
    Examples:
      newsearch search 工业经济
      newsearch search gongxinbu
      newsearch search '"稳住经济大盘"' -c cailianshe --since 2022-05 --sort newest
      newsearch search 疫情 OR 防控 -新闻联播 --facets --json
      newsearch search 工信部为什么召开电视电话会议 --explain
    """
    text = " ".join(query).strip()
    if not text and not (categories or tags or since or until):
        raise click.UsageError("give a QUERY, or a filter such as --category or --since")
    if synonyms_file and no_synonyms:
        raise click.BadParameter("give --synonyms FILE or --no-synonyms, not both")
    synonyms: Any = not no_synonyms
    if synonyms_file:
        from .synonyms import read_file

        synonyms = read_file(synonyms_file)
    with open_or_build(index_dir, corpus_dir) as ix:
        results = ix.search(
            text,
            limit=limit,
            page=page,
            categories=categories,
            tags=tags,
            since=since,
            until=until,
            sort=sort,
            facets=facets,
            explain=explain,
            pinyin=not no_pinyin,
            synonyms=synonyms,
        )
    if as_json:
        emit_json(results)
    else:
        render_results(results, writer())


def open_or_build(index_dir: str, corpus_dir: str) -> SearchIndex:
    """The index in ``index_dir``; built from ``corpus_dir`` first if there is none yet."""
    from .engine import SearchIndex
    from .errors import IndexNotFoundError

    try:
        return SearchIndex(index_dir)
    except IndexNotFoundError as exc:
        if not os.path.isdir(corpus_dir):
            raise IndexNotFoundError(
                f"{exc}; there is no corpus folder {_folder(corpus_dir)} to build it from "
                "(give one with --corpus)"
            ) from exc
    click.echo(
        f"No index in {_folder(index_dir)} yet: building it from {_folder(corpus_dir)} "
        "(first use)...",
        err=True,
    )
    # Another process may be building the same first index: wait for it, then find it done.
    report = run_build(corpus_dir, index_dir, wait=True)
    note = f"Indexed {_plural(report.total, 'post')} in {report.seconds:.1f} s."
    if report.problems:
        note += (
            f" {_plural(len(report.problems), 'post')} could not be indexed "
            "(newsearch index lists them)."
        )
    click.echo(note, err=True)
    return SearchIndex(index_dir)


def hit_lines(hit: Hit, *, match: bool = True) -> list[list[Seg]]:
    """A hit as lines: title, date and labels, snippet, url, path."""
    lines = [
        marked(
            visible(hit.title, one_line=True) or "(no title)",
            hit.title_highlights,
            "title",
            "title_hl",
        )
    ]
    meta = [_when(hit.date)]
    if hit.categories:
        meta.append(", ".join(hit.categories))
    if hit.tags:
        meta.append(" ".join("#" + t for t in hit.tags))
    if match and hit.match in (MATCH_SOME, MATCH_PINYIN, MATCH_SYNONYM):
        meta.append(hit.match)
    lines.append([(visible(" · ".join(meta), one_line=True), "meta")])
    if hit.snippet:
        lines.append(marked(visible(hit.snippet, one_line=True), hit.highlights, "", "hl"))
    if hit.url:
        lines.append([(visible(hit.url, one_line=True), "url")])
    lines.append([(visible(hit.path, one_line=True), "path")])
    if hit.explain is not None:
        lines.extend(explain_lines(hit.explain))
    return lines


def explain_lines(e: Explanation, depth: int = 0) -> list[list[Seg]]:
    """An explanation tree, one part a line, indented by depth: value, then what it is."""
    head = "score " if depth == 0 else "  " * depth
    lines = [[(f"{head}{e.value:.4g}  ", "count"), (visible(e.description, one_line=True), "meta")]]
    for d in e.details:
        lines.extend(explain_lines(d, depth + 1))
    return lines


def render_hits(hits: Sequence[Hit], out: Writer, *, match: bool = True) -> None:
    out.items([(f"{h.rank}.", hit_lines(h, match=match)) for h in hits])


def render_results(results: SearchResults, out: Writer) -> None:
    q = visible(results.query, one_line=True)
    what = f"for {q}" if q else "(filters only)"
    total = _plural(results.total, "result")
    if not results.total:
        out.line([(f"No results {what}.", "head")])
    elif not results.hits:
        out.line(
            [
                (
                    f"No results on page {results.page}: {total} {what}, "
                    f"{_plural(results.pages, 'page')}.",
                    "head",
                )
            ]
        )
    else:
        head = f"{total} {what}"
        if results.pages > 1:
            head += f" · page {results.page} of {results.pages}"
        out.line([(head, "head")])
        out.line()
        render_hits(results.hits, out)
    if results.suggestion:
        out.line()
        out.line(
            [("您是不是要找：", "warn"), (visible(results.suggestion, one_line=True), "title")]
        )
    if results.facets:
        render_facets(results.facets, out)


def render_facets(facets: dict[str, dict[str, int]], out: Writer) -> None:
    for key, title in (("category", "By category"), ("month", "By month")):
        counts = facets.get(key) or {}
        if not counts:
            continue
        out.line()
        out.line([(title, "head")])
        out.fields(
            [(visible(name, one_line=True), [(str(n), "count")]) for name, n in counts.items()],
            indent=2,
        )


def emit_json(value: Any) -> None:
    """One JSON object on stdout (``serialize``: the same objects as the HTTP API's)."""
    from .serialize import dumps

    click.echo(dumps(value, indent=2 if _isatty(sys.stdout) else None) + b"\n", nl=False)


# --- suggest -------------------------------------------------------------------------------------


@cli.command()
@click.argument("prefix", nargs=-1, required=True)
@INDEX_OPTION
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1, max=100),
    default=10,
    show_default=True,
    metavar="N",
    help="How many completions.",
)
@JSON_OPTION
def suggest(prefix: tuple[str, ...], index_dir: str, limit: int, as_json: bool) -> None:
    """Complete PREFIX from the index: its words and titles, most posts first.

    A prefix of Chinese characters completes to the words and titles that start with it; a
    Latin one also to the words whose pinyin does (gongx: 工信部). Before the last keyword,
    the keywords typed are kept (华为 芯: 华为 芯片).

    \b
    Examples:
      newsearch suggest 工信
      newsearch suggest gongx --json
    """
    from .engine import SearchIndex

    text = " ".join(prefix)
    with SearchIndex(index_dir) as ix:
        found = ix.suggest(text, limit=limit)
    if as_json:
        emit_json(found)
        return
    out = writer()
    if not found.suggestions:
        out.line([(f"No completions of {visible(text, one_line=True)}.", "head")])
        return
    kinds = {"word": "", "pinyin": "pinyin", "title": "title"}
    out.fields(
        [
            (
                visible(s.text, one_line=True),
                [(_plural(s.posts, "post"), "count")]
                + ([(f"  {kinds[s.kind]}", "meta")] if kinds.get(s.kind) else []),
            )
            for s in found.suggestions
        ]
    )


# --- show ----------------------------------------------------------------------------------------


def lookup(ix: SearchIndex, path: str, fetch: Callable[[str], Any]) -> Any:
    """``fetch(path)``, also for a path given with its corpus folder (``corpus/finews/x.md``)."""
    from .errors import PostNotFoundError

    path = path.replace(os.sep, "/")
    while path.startswith("./"):
        path = path[2:]
    try:
        return fetch(path)
    except PostNotFoundError:
        parts = path.split("/")
        for i in range(1, len(parts)):
            try:
                return fetch("/".join(parts[i:]))
            except PostNotFoundError:
                continue
        raise


@cli.command()
@click.argument("path")
@INDEX_OPTION
@JSON_OPTION
def show(path: str, index_dir: str, as_json: bool) -> None:
    """Show one post: its metadata and its full text.

    PATH is the path that search prints (relative to the corpus folder).

    \b
    Example:
      newsearch show finews/2022-05-27-NW202205272394760297.md
    """
    from .engine import SearchIndex

    with SearchIndex(index_dir) as ix:
        post = lookup(ix, path, ix.get)
    if as_json:
        emit_json(post)
    else:
        render_post(post, writer())


def render_post(post: Post, out: Writer) -> None:
    out.line([(visible(post.title, one_line=True) or "(no title)", "title")])
    rows: list[tuple[str, list[Seg]]] = [
        ("date", [(post.date.isoformat(" ") if post.date else "no date", "")]),
        ("categories", [(visible(", ".join(post.categories), one_line=True), "")]),
        ("tags", [(visible(", ".join(post.tags), one_line=True), "")]),
        ("url", [(visible(post.url, one_line=True), "url")]),
    ]
    if post.source_url:
        rows.append(("source", [(visible(post.source_url, one_line=True), "url")]))
    rows.append(("path", [(visible(post.path, one_line=True), "path")]))
    out.fields(rows)
    out.line()
    out.text(visible(post.text))


# --- info ----------------------------------------------------------------------------------------


@cli.command()
@INDEX_OPTION
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="How many categories and tags to list.",
)
@JSON_OPTION
def info(index_dir: str, top: int, as_json: bool) -> None:
    """Describe the index: posts, dates, categories, tags, size, analysis.

    \b
    Example:
      newsearch info --index index/ --top 5
    """
    from .engine import SearchIndex

    with SearchIndex(index_dir) as ix:
        about = ix.info()
    if as_json:
        emit_json(about)
    else:
        render_info(about, writer(), top=top)


def _top(counts: dict[str, int], n: int) -> Iterator[tuple[str, list[Seg]]]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, count in items[:n]:
        yield "  " + visible(name, one_line=True), [(str(count), "count")]
    if len(items) > n:
        yield "  …", [(f"{len(items) - n} more", "meta")]


def render_info(about: IndexInfo, out: Writer, *, top: int = 10) -> None:
    dates = "no dated posts"
    if about.first_date and about.last_date:
        dates = f"{_day(about.first_date)} … {_day(about.last_date)}"
    rows: list[tuple[str, list[Seg]]] = [
        ("index", [(visible(about.path, one_line=True), "path")]),
        ("posts", [(str(about.posts), "count")]),
        ("segments", [(str(about.segments), "")]),
        ("dates", [(dates, "")]),
        ("size", [(f"{about.size_bytes / 1e6:.1f} MB", "")]),
        ("time zone", [(about.timezone, "")]),
        ("read as", [(about.mode + (", drafts included" if about.drafts else ""), "")]),
        ("categories", [(str(len(about.categories)), "count")]),
        *_top(about.categories, top),
        ("tags", [(str(len(about.tags)), "count")]),
        *_top(about.tags, top),
        ("analysis", []),
        *(
            ("  " + str(k), [(visible("none" if v is None else str(v), one_line=True), "")])
            for k, v in about.analysis.items()
        ),
    ]
    out.fields(rows)


# --- similar -------------------------------------------------------------------------------------


@cli.command()
@click.argument("path")
@INDEX_OPTION
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="How many posts to list.",
)
@JSON_OPTION
def similar(path: str, index_dir: str, limit: int, as_json: bool) -> None:
    """List the posts most like the post at PATH.

    The key terms of the post (its most distinctive words) are searched for and shown.

    \b
    Example:
      newsearch similar finews/2022-05-27-NW202205272394760297.md -n 5
    """
    from .engine import SearchIndex

    with SearchIndex(index_dir) as ix:
        results = lookup(ix, path, lambda p: ix.similar(p, limit=limit))
    if as_json:
        emit_json(results)
        return
    out = writer()
    terms = visible(" ".join(results.terms or ()), one_line=True)
    out.line([(f"Posts like {visible(path, one_line=True)}", "head")])
    out.line([("key terms: ", "meta"), (terms or "(none)", "")])
    out.line()
    if results.hits:
        render_hits(results.hits, out, match=False)
    else:
        out.line([("No similar posts.", "")])


# --- serve ---------------------------------------------------------------------------------------


def _origin(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from urllib.parse import urlsplit

    for value in values:
        parts = urlsplit(value)
        if value != "*" and (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
        ):
            raise click.BadParameter(
                f"{value!r} is not an origin: write it as https://blog.example.com", ctx, param
            )
    return tuple(v.rstrip("/") for v in values)


@cli.command()
@INDEX_OPTION
@click.option(
    "--corpus",
    "corpus_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="The posts to watch with --watch [default: corpus].",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    metavar="PORT",
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Also index the corpus now and whenever a post is written, moved or deleted.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    metavar="N",
    help="Serve from N processes (one per core is a good start).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    callback=_origin,
    help="Let pages of ORIGIN (https://blog.example.com) call the API; repeatable.",
)
@click.option(
    "--site-url",
    metavar="URL",
    help="Address of the site the posts belong to: results link to their pages there.",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), metavar="N", help="Indexing processes for --watch."
)
def serve(
    index_dir: str,
    corpus_dir: str | None,
    host: str,
    port: int,
    watch: bool,
    workers: int,
    cors_origins: tuple[str, ...],
    site_url: str | None,
    jobs: int | None,
) -> None:
    """Serve a search page and a JSON API over HTTP (read-only).

    The page is at http://127.0.0.1:8080/, the API under /api/ (search, posts, similar, info),
    described by /openapi.json. The server follows the index: a commit of newsearch index is
    seen by the next request. With --watch it also keeps the index up to date with --corpus.

    \b
    Examples:
      newsearch serve
      newsearch serve --watch --corpus ~/blog/_posts --index ~/.cache/blog-index
      newsearch serve --host 0.0.0.0 --workers 2 --cors-origin https://blog.example.com
    """
    from .serve import ServeConfig, run

    if corpus_dir is not None and not watch:
        raise click.UsageError("--corpus is the folder to watch: give it with --watch")
    corpus_dir = corpus_dir or "corpus"
    if watch and not os.path.isdir(corpus_dir):
        raise click.BadParameter(f"no folder {_folder(corpus_dir)}", param_hint="--corpus")
    if site_url is not None and not site_url.startswith(("http://", "https://", "/")):
        raise click.BadParameter(
            "give an address such as https://blog.example.com", param_hint="--site-url"
        )
    index_dir = os.path.abspath(index_dir)
    if not watch and not os.path.isdir(index_dir):
        click.echo(
            f"No index in {_folder(index_dir)} yet: the API answers 503 until one is built "
            "(newsearch index, or serve with --watch).",
            err=True,
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"Listening on {host}: anyone who can reach this machine can search the index.",
            err=True,
        )

    def announce(url: str) -> None:
        click.echo(f"Serving {_folder(index_dir)} at {url} (Ctrl+C to stop)")

    config = ServeConfig(
        index=index_dir, cors_origins=cors_origins, site_url=(site_url or "").rstrip("/") or None
    )
    try:
        started = run(
            config,
            host=host,
            port=port,
            workers=workers,
            watch_corpus=corpus_dir if watch else None,
            jobs=jobs,
            announce=announce,
        )
    except KeyboardInterrupt:
        return
    if not started:
        raise Failure("the server could not start (the message above says why)")


# --- check ---------------------------------------------------------------------------------------


@cli.command()
@INDEX_OPTION
@JSON_OPTION
def check(index_dir: str, as_json: bool) -> None:
    """Verify the whole index: every checksum, every posting list, column and stored post.

    Prints what is wrong (which file, which part of it) and exits 1, or says the index is
    sound. Searches check what they read as they read it; this reads everything.

    \b
    Example:
      newsearch check --index index/
    """
    from .store.check import check_index

    report = check_index(index_dir)
    if as_json:
        emit_json(report)
        if not report.sound:
            raise click.exceptions.Exit(1)
        return
    render_check(report, writer())
    if not report.sound:
        raise Failure(
            f"the index is damaged; rebuild it with: newsearch index --rebuild --index {index_dir}"
        )


def render_check(report: CheckReport, out: Writer) -> None:
    where = visible(_folder(report.index), one_line=True)
    if report.sound:
        out.line([(where, "path"), (" is sound", "head")])
    else:
        out.line(
            [
                (where, "path"),
                (f" is damaged: {_plural(len(report.problems), 'problem')}", "problem"),
            ]
        )
        for p in report.problems:
            out.line(
                [
                    (f"  {visible(p.file, one_line=True)}, {p.part}: ", "key"),
                    (visible(p.message, one_line=True), ""),
                ]
            )
    if report.generation is not None:
        out.line(
            [
                (
                    f"  commit {report.generation} of index {report.index_id}: "
                    f"{_plural(report.segments, 'segment')}, {report.posts:,} posts"
                    f" ({report.deleted:,} deleted documents)",
                    "meta",
                )
            ]
        )
    out.line(
        [
            (
                f"  verified {report.bytes_verified / 1e6:.1f} MB in "
                f"{_plural(report.files, 'segment file')}; decoded {report.terms:,} terms, "
                f"{report.postings:,} postings, {report.stored:,} stored posts",
                "meta",
            )
        ]
    )
    for files, what in (
        (report.leftovers, "of an interrupted build (the next newsearch index removes them)"),
        (report.foreign, "of other programs, left alone"),
    ):
        if files:
            names = ", ".join(files[:3]) + (", …" if len(files) > 3 else "")
            out.line(
                [
                    (
                        f"  {_plural(len(files), 'file')} {what}: {visible(names, one_line=True)}",
                        "meta",
                    )
                ]
            )
