"""Tests of the library's public functions given bad arguments: each one raises an error of the
tree (NewsearchError) that names the argument, and none silently does something else."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from helpers import build, paths, write_post

import newsearch
from newsearch import (
    ArgumentTypeError,
    CorpusError,
    IndexClosedError,
    IndexNotFoundError,
    InvalidArgumentError,
    NewsearchError,
    PostError,
    QueryError,
    SearchIndex,
    build_index,
    open_index,
    read_corpus,
    read_post,
)

A = "2022-05-01-a.md"
B = "2022-05-02-b.md"
C = "2022-05-03-c.md"
#: Posts with 工业 in them, of five.
INDUSTRY = 3


def write_small(corpus: Path) -> None:
    write_post(corpus, A, "工业经济", "工业经济稳定增长，形势良好。", categories="emnews")
    write_post(corpus, B, "芯片产业", "讨论芯片与半导体，工业发展。", categories="tech")
    write_post(corpus, C, "经济运行", "一季度工业经济运行总体平稳。", categories="news")
    write_post(corpus, "2022-05-04-d.md", "水果", "苹果和香蕉都很好吃。", categories="food")
    write_post(corpus, "2022-05-05-e.md", "天气", "今天天气晴朗。", categories="life")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    write_small(root / "corpus")
    build(root / "corpus", root / "index")
    return root


@pytest.fixture(scope="module")
def ix(small: Path) -> Iterator[SearchIndex]:
    with open_index(small / "index") as index:
        yield index


# --------------------------------------------------------------------------------------------------
# The error tree


def test_the_new_errors_belong_to_the_tree() -> None:
    assert issubclass(PostError, NewsearchError)
    assert newsearch.corpus.PostError is PostError  # type: ignore[attr-defined]
    # Argument errors are also the Python errors a caller may already catch.
    assert issubclass(InvalidArgumentError, NewsearchError) and issubclass(
        InvalidArgumentError, ValueError
    )
    assert issubclass(ArgumentTypeError, InvalidArgumentError) and issubclass(
        ArgumentTypeError, TypeError
    )
    assert issubclass(QueryError, InvalidArgumentError)
    assert issubclass(IndexClosedError, NewsearchError)
    for name in ("PostError", "InvalidArgumentError", "ArgumentTypeError", "IndexClosedError"):
        assert name in newsearch.__all__


def test_post_error_from_read_post_is_in_the_tree(small: Path) -> None:
    with pytest.raises(NewsearchError, match="cannot read file"):
        read_post(small / "corpus", "missing.md")
    # A folder given as a post is a bad post, not an IsADirectoryError.
    (small / "corpus" / "folder.md").mkdir(exist_ok=True)
    with pytest.raises(PostError, match="not a regular file"):
        read_post(small / "corpus", "folder.md")


def test_a_bad_time_zone_is_an_argument_error_not_a_corpus_error(small: Path) -> None:
    for call in (
        lambda: read_corpus(small / "corpus", timezone="Mars/Olympus"),
        lambda: read_post(small / "corpus", A, timezone="Mars/Olympus"),
        lambda: build_index(small / "corpus", small / "other", timezone="Mars/Olympus"),
    ):
        with pytest.raises(InvalidArgumentError, match="unknown time zone") as caught:
            call()
        assert not isinstance(caught.value, CorpusError)
    assert not (small / "other").exists()


# --------------------------------------------------------------------------------------------------
# The six arguments of the issue that did something else


def test_a_category_or_tag_given_as_a_string_is_one_value(ix: SearchIndex) -> None:
    one = ix.search("工业", categories="emnews", limit=None)
    assert paths(one) == [A]
    assert paths(ix.search("工业", categories=["emnews"], limit=None)) == [A]
    assert ix.search("工业", tags="nothing-like-this").total == 0
    # Every other iterable of strings works too; anything else is refused.
    assert paths(ix.search("工业", categories=("tech",), limit=None)) == [B]
    assert paths(ix.search("工业", categories=(c for c in ["tech"]), limit=None)) == [B]


def test_a_query_must_be_a_string(ix: SearchIndex) -> None:
    for bad in (None, 123, b"\xe5\xb7\xa5\xe4\xb8\x9a", ["工业"]):
        with pytest.raises(ArgumentTypeError, match="query must be a str"):
            ix.search(bad)  # type: ignore[arg-type]
    # "None" is a query like any other when it is one.
    assert ix.search("None").total == 0


def test_every_match_on_one_page_means_page_one(ix: SearchIndex) -> None:
    assert ix.search("工业", limit=None).total == INDUSTRY
    with pytest.raises(QueryError, match="page must be 1 when limit is None"):
        ix.search("工业", limit=None, page=2)


def test_similar_needs_a_positive_limit(ix: SearchIndex) -> None:
    for bad in (-1, 0):
        with pytest.raises(QueryError, match="limit must be at least 1"):
            ix.similar(A, limit=bad)
        with pytest.raises(QueryError, match="terms must be at least 1"):
            ix.similar(A, terms=bad)
    res = ix.similar(A, limit=1)
    assert paths(res) == [C] and res.pages == res.total >= 1


def test_a_bytes_path_is_refused_not_called_damaged(small: Path) -> None:
    with pytest.raises(ArgumentTypeError, match="index_dir .* not bytes .*os.fsdecode"):
        open_index(os.fsencode(small / "index"))  # type: ignore[arg-type]
    with open_index(os.fsdecode(os.fsencode(small / "index"))) as ix:
        assert len(ix) == 5


def test_info_after_the_folder_is_deleted(tmp_path: Path) -> None:
    write_small(tmp_path / "corpus")
    build(tmp_path / "corpus", tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        assert ix.info().posts == 5
        shutil.rmtree(tmp_path / "index")
        with pytest.raises(IndexNotFoundError, match="moved or deleted after it was opened"):
            ix.info()
        with pytest.raises(IndexNotFoundError):
            ix.refresh()


# --------------------------------------------------------------------------------------------------
# A closed index


def test_every_use_of_a_closed_index_is_a_clear_error(small: Path) -> None:
    index = open_index(small / "index")
    index.close()
    assert index.closed
    index.close()  # closing twice is fine
    uses: list[Callable[[], object]] = [
        lambda: index.search("工业"),
        lambda: index.get(A),
        lambda: index.similar(A),
        index.info,
        index.paths,
        index.refresh,
        lambda: len(index),
        index.__enter__,
    ]
    for use in uses:
        with pytest.raises(IndexClosedError, match="was closed; open it again"):
            use()
    with open_index(small / "index") as again:
        assert not again.closed and again.search("工业").total == INDUSTRY


# --------------------------------------------------------------------------------------------------
# Each bad argument of each public function


BAD_FOLDERS: list[tuple[object, type[Exception], str]] = [
    (None, ArgumentTypeError, "not None"),
    (5, ArgumentTypeError, "not int"),
    (b"corpus", ArgumentTypeError, "not bytes"),
    ("", InvalidArgumentError, "must not be empty"),
    ("a\0b", InvalidArgumentError, "NUL"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_FOLDERS)
def test_bad_folders(small: Path, bad: object, error: type[Exception], message: str) -> None:
    calls: list[tuple[str, Callable[[], object]]] = [
        ("index_dir", lambda: open_index(bad)),  # type: ignore[arg-type]
        ("index_dir", lambda: SearchIndex(bad)),  # type: ignore[arg-type]
        ("corpus_dir", lambda: build_index(bad, small / "x")),  # type: ignore[arg-type]
        ("index_dir", lambda: build_index(small / "corpus", bad)),  # type: ignore[arg-type]
        ("user_dict", lambda: build_index(small / "corpus", small / "x", user_dict=bad)),  # type: ignore[arg-type]
        ("root", lambda: read_corpus(bad)),  # type: ignore[arg-type]
        ("root", lambda: read_post(bad, A)),  # type: ignore[arg-type]
        ("exclude", lambda: read_corpus(small / "corpus", exclude=[bad])),  # type: ignore[list-item]
    ]
    for name, call in calls:
        if bad is None and name == "user_dict":
            continue  # no user dictionary: the default
        with pytest.raises(error, match=f"{name} .*{message}"):
            call()
    assert not (small / "x").exists()


def test_one_path_to_exclude_is_one_path(small: Path) -> None:
    everything = read_corpus(small / "corpus")
    assert len(read_corpus(small / "corpus", exclude=small / "corpus" / A).posts) == (
        len(everything.posts) - 1
    )
    with pytest.raises(ArgumentTypeError, match="exclude"):
        read_corpus(small / "corpus", exclude=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"jobs": 0}, InvalidArgumentError, "jobs must be at least 1, not 0"),
        ({"jobs": -2}, InvalidArgumentError, "jobs must be at least 1"),
        ({"jobs": "2"}, ArgumentTypeError, "jobs must be an int or None, not str"),
        ({"jobs": 1.5}, ArgumentTypeError, "jobs must be an int"),
        ({"jobs": True}, ArgumentTypeError, "jobs must be an int"),
        ({"rebuild": "no"}, ArgumentTypeError, "rebuild must be True or False"),
        ({"rebuild": 1}, ArgumentTypeError, "rebuild must be True or False"),
        ({"optimize": None}, ArgumentTypeError, "optimize must be True or False"),
        ({"wait_for_lock": "yes"}, ArgumentTypeError, "wait_for_lock must be True or False"),
        ({"progress": "print"}, ArgumentTypeError, "progress must be callable"),
        ({"timezone": 8}, ArgumentTypeError, "timezone must be a str"),
        ({"timezone": ""}, InvalidArgumentError, "unknown time zone"),
        ({"timezone": "../../etc/passwd"}, InvalidArgumentError, "unknown time zone"),
    ],
)
def test_bad_build_arguments(
    small: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build_index(small / "corpus", small / "x", **kwargs)
    # Refused before anything was written.
    assert not (small / "x").exists()


def test_bad_search_arguments(ix: SearchIndex) -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"limit": 0}, QueryError, "limit must be at least 1"),
        ({"limit": -5}, QueryError, "limit must be at least 1"),
        ({"limit": "5"}, ArgumentTypeError, "limit must be an int or None, not str"),
        ({"limit": 2.5}, ArgumentTypeError, "limit must be an int or None"),
        ({"limit": True}, ArgumentTypeError, "limit must be an int or None, not bool"),
        ({"page": 0}, QueryError, "page must be at least 1"),
        ({"page": None}, ArgumentTypeError, "page must be an int, not None"),
        ({"page": "2"}, ArgumentTypeError, "page must be an int"),
        ({"categories": 5}, ArgumentTypeError, "categories must be a str or an iterable"),
        ({"categories": b"emnews"}, ArgumentTypeError, "categories must be a str or an iterable"),
        ({"categories": ["emnews", 1]}, ArgumentTypeError, "categories must hold str values"),
        ({"tags": [None]}, ArgumentTypeError, "tags must hold str values, not None"),
        ({"since": 2022}, ArgumentTypeError, "since must be a str, date or datetime"),
        ({"until": [2022]}, ArgumentTypeError, "until must be a str, date or datetime"),
        ({"since": "yesterday"}, QueryError, "bad date"),
        ({"sort": "newset"}, QueryError, "unknown sort order"),
        ({"sort": None}, QueryError, "unknown sort order"),
        ({"facets": "no"}, ArgumentTypeError, "facets must be True or False"),
        ({"since": "2022-06", "until": "2022-05"}, QueryError, "after"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            ix.search("工业", **kwargs)
    # Good values of the same kinds still work.
    res = ix.search("工业", since=date(2022, 5, 1), until="2022-05", facets=True)
    assert res.total == INDUSTRY


def test_bad_post_paths(small: Path, ix: SearchIndex) -> None:
    corpus = small / "corpus"
    for bad in ("../x.md", "/etc/passwd", "", "a\0b.md", "sub/../../x.md"):
        with pytest.raises(InvalidArgumentError, match="relative to the corpus root"):
            read_post(corpus, bad)
    for bad in (None, 5, b"a.md"):
        with pytest.raises(ArgumentTypeError, match="path must be a str"):
            read_post(corpus, bad)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="path must be a str"):
            ix.get(bad)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="path must be a str"):
            ix.similar(bad)  # type: ignore[arg-type]
    # A path object is the path it holds.
    assert read_post(corpus, PurePosixPath(A)).path == A
    assert ix.get(PurePosixPath(A)).path == A  # type: ignore[arg-type]


def test_bad_similar_arguments(ix: SearchIndex) -> None:
    for kwargs, error in (
        ({"limit": None}, ArgumentTypeError),
        ({"limit": "3"}, ArgumentTypeError),
        ({"terms": 2.0}, ArgumentTypeError),
        ({"terms": -1}, QueryError),
    ):
        with pytest.raises(error):
            ix.similar(A, **kwargs)


@pytest.mark.parametrize(
    "bad", [None, 8, "", "Mars/Olympus", "../../etc/passwd", ["Asia/Shanghai"], "Asia/Shanghai\0"]
)
def test_bad_time_zones(small: Path, bad: object) -> None:
    for call in (
        lambda: read_corpus(small / "corpus", timezone=bad),  # type: ignore[arg-type]
        lambda: read_post(small / "corpus", A, timezone=bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidArgumentError, match="time zone|timezone"):
            call()


def test_any_bad_value_of_any_argument_stays_in_the_tree(small: Path, ix: SearchIndex) -> None:
    """Whatever a caller passes, a library call returns or raises an error of the tree."""
    junk: list[object] = [
        None,
        0,
        -1,
        1.5,
        True,
        "",
        "\0",
        "\udc80",
        b"x",
        [],
        [None],
        {},
        object(),
    ]
    corpus = small / "corpus"
    calls: list[Callable[[object], object]] = [
        lambda v: ix.search(v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", limit=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", page=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", categories=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", tags=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", since=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", until=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", sort=v),  # type: ignore[arg-type]
        lambda v: ix.search("工业", facets=v),  # type: ignore[arg-type]
        lambda v: ix.get(v),  # type: ignore[arg-type]
        lambda v: ix.similar(v),  # type: ignore[arg-type]
        lambda v: ix.similar(A, limit=v),  # type: ignore[arg-type]
        lambda v: ix.similar(A, terms=v),  # type: ignore[arg-type]
        lambda v: open_index(v),  # type: ignore[arg-type]
        lambda v: read_corpus(v),  # type: ignore[arg-type]
        lambda v: read_corpus(corpus, timezone=v),  # type: ignore[arg-type]
        lambda v: read_corpus(corpus, exclude=v),  # type: ignore[arg-type]
        lambda v: read_post(v, A),  # type: ignore[arg-type]
        lambda v: read_post(corpus, v),  # type: ignore[arg-type]
        lambda v: read_post(corpus, A, timezone=v),  # type: ignore[arg-type]
        lambda v: build_index(v, small / "x"),  # type: ignore[arg-type]
        lambda v: build_index(corpus, small / "x", jobs=v, timezone="Nowhere"),  # type: ignore[arg-type]
        lambda v: build_index(corpus, small / "x", rebuild=v, timezone="Nowhere"),  # type: ignore[arg-type]
        lambda v: build_index(corpus, small / "x", progress=v, timezone="Nowhere"),  # type: ignore[arg-type]
        lambda v: build_index(corpus, small / "x", user_dict=v, timezone="Nowhere"),  # type: ignore[arg-type]
        lambda v: build_index(corpus, small / "x", timezone=v, jobs=0),  # type: ignore[arg-type]
    ]
    escaped = []
    for k, call in enumerate(calls):
        for value in junk:
            try:
                call(value)
            except NewsearchError:
                pass
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                escaped.append((k, value, f"{type(exc).__name__}: {exc}"))
    assert escaped == []
    assert not (small / "x").exists()
