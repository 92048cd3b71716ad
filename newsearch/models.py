"""Plain records that travel between the steps: posts, problems, hits, results, reports.

All are frozen dataclasses holding only plain Python values; nothing here holds an open file.
The closed sets of words they use (sort orders, how a hit matched, build phases) are ``Literal``
types, so that a misspelt one fails type-checking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, TypeGuard, get_args

#: The orders a search can sort its hits in.
Sort = Literal["relevance", "newest", "oldest"]
SORTS: Final[tuple[Sort, ...]] = get_args(Sort)


def is_sort(value: object) -> TypeGuard[Sort]:
    return value in SORTS


#: How a post matched: the query's literal text, all its words, some of them, a Latin keyword's
#: pinyin reading, a synonym of a keyword, filters only (no text query), or likeness to another
#: post (``SearchIndex.similar``).
MatchKind = Literal["literal", "all words", "some words", "pinyin", "synonym", "filter", "similar"]
MATCH_LITERAL: Final = "literal"
MATCH_ALL: Final = "all words"
MATCH_SOME: Final = "some words"
MATCH_PINYIN: Final = "pinyin"
MATCH_SYNONYM: Final = "synonym"
MATCH_FILTER: Final = "filter"
MATCH_SIMILAR: Final = "similar"

#: What a build is doing when it reports progress.
Phase = Literal["index", "merge", "done"]
#: How a corpus folder was read.
ReadingMode = Literal["jekyll site", "folder of posts"]


@dataclass(frozen=True)
class Problem:
    """A file that could not be read as a post (or was read with a caveat), with the reason."""

    path: str
    reason: str


@dataclass(frozen=True)
class Post:
    """One post of a corpus, as clean plain values.

    ``path`` is relative to the corpus root in POSIX form and is the post's identity. ``date`` is
    timezone-aware or None when neither the front matter nor the file name gives one.
    """

    path: str
    title: str
    date: datetime | None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    url: str = ""
    source_url: str | None = None
    text: str = ""
    #: True when the front matter was not valid YAML and its fields were recovered line by line.
    recovered: bool = False
    #: Caveats met while reading (recovered front matter, date taken from the file name, ...).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadResult:
    """What reading a folder gives: the good posts and the files that could not be read."""

    posts: tuple[Post, ...]
    problems: tuple[Problem, ...]

    def __iter__(self) -> Iterator[Post]:
        return iter(self.posts)

    def __len__(self) -> int:
        return len(self.posts)


@dataclass(frozen=True)
class IndexReport:
    """What one index build did."""

    corpus: str
    index: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    #: Files that could not be indexed, each with its path and reason.
    problems: tuple[Problem, ...] = ()
    #: Posts indexed with a caveat (recovered front matter, no date, ...).
    warnings: tuple[Problem, ...] = ()
    #: Documents in the index after the build.
    total: int = 0
    seconds: float = 0.0
    #: Plain text analysed (titles and bodies), and the size of the post files read.
    text_bytes: int = 0
    file_bytes: int = 0
    jobs: int = 1
    #: The index was built from scratch: asked for (``rebuild``), or because of ``rebuild_reason``.
    rebuilt: bool = False
    #: Why a build became a rebuild by itself (a folder now read as a Jekyll site, another
    #: permalink style, ...); None otherwise.
    rebuild_reason: str | None = None
    #: The words a changed user dictionary added, removed or changed (None: it did not change),
    #: and how many unchanged posts were analysed again because they hold one of them.
    user_dict_words: tuple[str, ...] | None = None
    reanalysed: int = 0
    #: Settings kept with the index that the build changed without analysing any post again
    #: (synonyms, drafts), in words.
    settings_changed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class Explanation:
    """Why a post scored what it did, as a tree (like Elasticsearch's explain API).

    ``value`` is this part's contribution; the ``details`` of a node add up to its ``value``
    when ``description`` says "sum of", and otherwise show what the value was computed from.
    """

    value: float
    description: str
    details: tuple[Explanation, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One search result: a post's metadata, its score and a highlighted snippet.

    ``highlights`` are ``(start, end)`` character offsets into ``snippet``.
    """

    path: str
    title: str
    date: datetime | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    url: str
    source_url: str | None
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    #: Highlight offsets into ``title``.
    title_highlights: tuple[tuple[int, int], ...] = ()
    rank: int = 0
    #: How the post matched (see ``MatchKind``).
    match: MatchKind | Literal[""] = ""
    #: The parts of ``score``, when the search asked for them (``explain=True``).
    explain: Explanation | None = None


@dataclass(frozen=True)
class SearchResults:
    """A page of hits, the total number of matching posts, and optional facet counts."""

    query: str
    total: int
    page: int
    limit: int | None
    hits: tuple[Hit, ...] = ()
    #: ``{"category": {name: count}, "month": {"2022-05": count}}`` when facets were asked for.
    facets: dict[str, dict[str, int]] | None = field(default=None)
    #: The key terms searched for, for ``SearchIndex.similar`` (None for a search).
    terms: tuple[str, ...] | None = None
    #: A query that finds many more posts, when this one finds none or few ("did you mean"):
    #: the query with a keyword replaced by an indexed word that reads the same (or, when no
    #: post holds the keyword, differs in one character). Never searched instead.
    suggestion: str | None = None

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    @property
    def pages(self) -> int:
        if not self.limit:
            return 1 if self.total else 0
        return -(-self.total // self.limit)


@dataclass(frozen=True)
class Suggestion:
    """One completion of what is being typed: the text to search, and how many posts hold it."""

    text: str
    posts: int
    #: "word" (an indexed word that starts with the text), "pinyin" (one whose reading does),
    #: or "title" (a post's title that starts with the text).
    kind: Literal["word", "pinyin", "title"]


@dataclass(frozen=True)
class Suggestions:
    """Completions of a prefix, most posts first (``SearchIndex.suggest``)."""

    prefix: str
    suggestions: tuple[Suggestion, ...] = ()

    def __iter__(self) -> Iterator[Suggestion]:
        return iter(self.suggestions)

    def __len__(self) -> int:
        return len(self.suggestions)


@dataclass(frozen=True)
class IndexInfo:
    """What ``newsearch info`` shows."""

    path: str
    posts: int
    segments: int
    size_bytes: int
    first_date: datetime | None
    last_date: datetime | None
    categories: dict[str, int]
    tags: dict[str, int]
    timezone: str
    analysis: dict[str, object]
    generation: int
    #: How the corpus folder was read; drafts included?
    mode: ReadingMode = "folder of posts"
    drafts: bool = False


@dataclass(frozen=True)
class Progress:
    """Where a build is: posts and bytes done of those that need indexing."""

    phase: Phase
    done: int
    total: int
    bytes_done: int = 0
    bytes_total: int = 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class CheckProblem:
    """One thing ``newsearch check`` found wrong: the file, the part of it, what is wrong."""

    file: str
    part: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """What ``newsearch check`` found: ``sound`` when nothing is wrong, else ``problems``."""

    index: str
    sound: bool
    problems: tuple[CheckProblem, ...] = ()
    #: The commit checked (None when there is no readable commit).
    generation: int | None = None
    index_id: str | None = None
    segments: int = 0
    #: Live posts and deleted (not yet merged away) documents.
    posts: int = 0
    deleted: int = 0
    #: Segment files whose every byte was checked against its checksum, and their bytes.
    files: int = 0
    bytes_verified: int = 0
    #: Terms and postings decoded, stored posts decoded.
    terms: int = 0
    postings: int = 0
    stored: int = 0
    #: Files of newsearch that the commit does not use (the next ``newsearch index`` removes
    #: them), and files of other programs (left alone).
    leftovers: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
