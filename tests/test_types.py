"""The Literal types of the API say what the code does: the words a type-checker accepts are the
words the library, the command line and the server accept and produce."""

from __future__ import annotations

import typing

import click
import pytest
from helpers import build, write_post

from newsearch import models, open_index, query
from newsearch.cli import cli
from newsearch.errors import QueryError


def test_the_sort_orders_are_one_list() -> None:
    assert models.SORTS == typing.get_args(models.Sort) == ("relevance", "newest", "oldest")
    command = cli.commands["search"]
    choice = next(p.type for p in command.params if p.name == "sort")
    assert isinstance(choice, click.Choice) and tuple(choice.choices) == models.SORTS
    for sort in models.SORTS:
        assert query.check_sort(sort) == sort
    with pytest.raises(QueryError, match="newset"):
        query.check_sort("newset")


def test_the_match_kinds_are_the_constants() -> None:
    constants = {getattr(models, n) for n in dir(models) if n.startswith("MATCH_")}
    assert constants == set(typing.get_args(models.MatchKind))
    hints = typing.get_type_hints(models.Hit)
    assert set(typing.get_args(hints["match"])) >= {models.MatchKind}


def test_the_clause_kinds_are_those_the_parser_makes() -> None:
    kinds = set(typing.get_args(query.ClauseKind))
    assert {query.TEXT, query.PHRASE, query.TITLE, query.CATEGORY, query.TAG} == kinds
    assert query.REQUIRED_KINDS == kinds - {query.TEXT}
    parsed = query.parse_query('经济 "工业 经济" title:新闻 category:财经 tag:汇率 -标签:外汇')
    made = {c.kind for c in parsed.clauses} | {c.kind for c in parsed.excluded}
    assert made == kinds


def test_hits_carry_only_match_kinds_of_the_type(tmp_path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_post(corpus, "2022-05-01-a.md", "工业经济", "工业经济稳定增长，制造业投资回升。")
    write_post(corpus, "2022-05-02-b.md", "农业", "农业和工业都在发展，制造业投资增长。")
    write_post(corpus, "2022-05-03-c.md", "服务", "经济的服务业。", categories="财经")
    write_post(corpus, "2022-05-04-d.md", "天气", "今天下雨。")
    build(corpus, index)
    kinds = set(typing.get_args(models.MatchKind))
    seen: set[str] = set()
    with open_index(index) as ix:
        for q in ("工业经济", "工业 增长", "工业 农业 服务", ""):
            results = ix.search(q, categories=None if q else ["财经"])
            seen.update(h.match for h in results)
        seen.update(h.match for h in ix.similar("2022-05-01-a.md"))
    assert seen <= kinds and {models.MATCH_FILTER, models.MATCH_SIMILAR} <= seen, seen
    assert len(seen) >= 4, seen
