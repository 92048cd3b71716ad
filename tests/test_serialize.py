"""The one JSON serialiser: the shape the README documents, built from the dataclasses, so that a
new field appears in --json, in the API and in its OpenAPI document at once."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from newsearch import serialize
from newsearch.models import Hit, IndexInfo, Post, SearchResults
from newsearch.serve.openapi import dataclass_schema, document

TZ = timezone(timedelta(hours=8))
WHEN = datetime(2022, 5, 27, 17, 34, 38, tzinfo=TZ)
HIT = Hit(
    path="finews/a.md",
    title="工信部召开会议",
    date=WHEN,
    categories=("cailianshe",),
    tags=("财联社新闻",),
    url="/cailianshe/2022/05/27/a.html",
    source_url=None,
    score=7.967512345,
    snippet="提振工业经济",
    highlights=((2, 6),),
    title_highlights=((0, 3),),
    rank=1,
    match="literal",
)


def test_a_hit_has_the_documented_keys_in_order() -> None:
    data = serialize.to_data(HIT)
    assert list(data) == [
        "rank", "path", "title", "date", "categories", "tags", "url", "source_url", "score",
        "match", "snippet", "highlights", "title_highlights",
    ]  # fmt: skip
    assert data["date"] == "2022-05-27T17:34:38+08:00"
    assert data["score"] == 7.9675  # rounded here, not in the engine
    assert data["highlights"] == [[2, 6]] and data["categories"] == ["cailianshe"]
    assert data["source_url"] is None  # null, not left out


def test_results_leave_out_what_was_not_asked_for() -> None:
    plain = serialize.to_data(SearchResults("工业", total=11, page=2, limit=10, hits=(HIT,)))
    assert list(plain) == ["query", "total", "page", "limit", "pages", "hits"]
    assert plain["pages"] == 2
    with_facets = SearchResults("工业", 1, 1, 10, (HIT,), facets={"category": {"a": 1}})
    assert serialize.to_data(with_facets)["facets"] == {"category": {"a": 1}}
    similar = SearchResults("工业 经济", 1, 1, 10, (HIT,), terms=("工业", "经济"))
    data = serialize.to_data(similar)
    assert data["terms"] == ["工业", "经济"] and "facets" not in data
    assert data["query"] == "工业 经济"
    assert serialize.to_data(SearchResults("x", 0, 1, 10, terms=()))["terms"] == []


def test_a_post_without_what_the_index_does_not_keep() -> None:
    post = Post("a.md", "标题", None, ("c",), (), "/a.html", None, "正文", recovered=True)
    assert serialize.to_data(post) == {
        "path": "a.md",
        "title": "标题",
        "date": None,
        "categories": ["c"],
        "tags": [],
        "url": "/a.html",
        "source_url": None,
        "text": "正文",
    }


def test_dumps_is_utf8_json_whatever_the_text() -> None:
    post = Post("bad-\udcff.md", "标题\x1b[31m", WHEN)
    raw = serialize.dumps(post)
    text = raw.decode("utf-8")  # valid UTF-8: the lone surrogate is written as its JSON escape
    assert "\\udcff" in text and "标题" in text
    assert json.loads(text)["path"] == "bad-\udcff.md"
    assert json.loads(serialize.dumps(HIT, indent=2))["rank"] == 1


def test_a_new_field_appears_in_json_and_in_the_openapi_document() -> None:
    @dataclasses.dataclass(frozen=True)
    class Hit2(Hit):
        reason: str | None = None

    Hit2.__name__ = "Hit"  # as if the field were added to Hit itself
    hit = Hit2(**{f.name: getattr(HIT, f.name) for f in dataclasses.fields(HIT)}, reason="x")
    data = serialize.to_data(hit)
    assert list(data)[-1] == "reason" and data["reason"] == "x"
    schema = dataclass_schema(Hit2, {})
    assert "reason" in schema["properties"] and "reason" in schema["required"]
    assert schema["additionalProperties"] is False


def test_the_openapi_schemas_are_the_serialised_fields() -> None:
    schemas = document()["components"]["schemas"]
    for cls in (Hit, SearchResults, Post, IndexInfo):
        props = schemas[cls.__name__]["properties"]
        assert list(props) == serialize.field_names(cls)
    assert set(schemas["SearchResults"]["required"]) == set(
        serialize.field_names(SearchResults)
    ) - {
        "facets",
        "terms",
        "suggestion",
    }
    assert schemas["SearchResults"]["properties"]["hits"]["items"] == {
        "$ref": "#/components/schemas/Hit"
    }


def test_enums_sets_and_other_values() -> None:
    import enum

    class Sort(enum.StrEnum):
        NEWEST = "newest"

    assert serialize.to_data({"sort": Sort.NEWEST, "n": 2.123456, "s": frozenset({1})}) == {
        "sort": "newest",
        "n": 2.1235,
        "s": [1],
    }
    assert json.loads(serialize.dumps([Sort.NEWEST])) == ["newest"]
