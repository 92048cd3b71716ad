"""Dates at the edges (before 1970, before 1901, years 1 and 9999) and dates shown in the corpus
time zone, the zone filters and facets use: real tiny indexes, the library and the command line."""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
from click.testing import CliRunner, Result
from helpers import build, paths, write_post

from newsearch import open_index, read_post
from newsearch.cli import cli
from newsearch.query import parse_date_bound

# The dates module is imported where it is used: the other tests run on any version.
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: RFC 3339 date-time with a numeric offset of hours and minutes.
PLUS8 = timezone(timedelta(hours=8))
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}")

EDGE_POSTS = {
    "1960-01-02-a.md": ("六零年", "1960-01-02 00:00:00 +08:00"),
    "1959-12-31-b.md": ("五九年", "1959-12-31 23:59:59.5"),
    "9999-12-31-c.md": ("末日", "9999-12-31 12:00:00"),
    "1800-05-01-e.md": ("古代", "1800-05-01 19:00:00"),
    "2022-06-01-f.md": ("六月", "2022-05-31T20:00:00Z"),
}


def run(*args: object) -> Result:
    env = {"NO_COLOR": None, "FORCE_COLOR": None, "COLUMNS": None, "NEWSEARCH_DEBUG": None}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edges")
    for name, (title, when) in EDGE_POSTS.items():
        write_post(root / "corpus", name, title, f"经济社会发展。{title}", date=when)
    report = build(root / "corpus", root / "index")
    assert report.added == len(EDGE_POSTS)
    assert report.problems == ()
    return root / "index"


def search(index: Path, **kwargs: object) -> list[str]:
    with open_index(index) as ix:
        return sorted(paths(ix.search("经济", limit=None, **kwargs)))  # type: ignore[arg-type]


# --- before 1970 -----------------------------------------------------------------------------


def test_until_before_1970_excludes_the_next_day(edges: Path) -> None:
    # The last instant of 1960-01-01 is 0.000001 s before the post: int() rounded it up to it.
    assert "1960-01-02-a.md" not in search(edges, until="1960-01-01")
    assert "1960-01-02-a.md" in search(edges, until="1960-01-02")
    assert "1960-01-02-a.md" in search(edges, since="1960-01-02", until="1960-01-02")


def test_a_post_half_a_second_before_1960_is_stored_in_its_own_second(edges: Path) -> None:
    # Stored as a timestamp rounded down: int() put it in 1960-01-01 00:00:00.
    assert "1959-12-31-b.md" in search(edges, until="1959-12-31")
    assert "1959-12-31-b.md" not in search(edges, since="1960-01-01")
    with open_index(edges) as ix:
        assert ix.search("五九年", facets=True).facets["month"] == {"1959-12": 1}


def test_timestamps_round_down_before_1970() -> None:
    from newsearch.dates import timestamp

    moment = datetime(1960, 1, 1, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert timestamp(moment) == timestamp(datetime(1960, 1, 2, tzinfo=SHANGHAI)) - 1
    assert timestamp(datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)) == -1
    assert timestamp(datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)) == 0
    # Exact where a float is not: the last microsecond of year 9999.
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert timestamp(last) == timestamp(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


# --- year 9999 and year 1 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--until", "9999-12-31", set(EDGE_POSTS)),
        ("--until", "9999", set(EDGE_POSTS)),
        ("--since", "9999-12-31", {"9999-12-31-c.md"}),
        ("--since", "9999", {"9999-12-31-c.md"}),
        ("--since", "9999-12", {"9999-12-31-c.md"}),
        ("--until", "1800-05-01", {"1800-05-01-e.md"}),
    ],
)
def test_bounds_at_the_ends_of_the_calendar(
    edges: Path, option: str, value: str, expected: set[str]
) -> None:
    result = run("search", "经济", "--index", edges, option, value, "--json", "-n", "50")
    assert result.exit_code == 0, result.output
    assert {h["path"] for h in json.loads(result.stdout)["hits"]} == expected


def test_date_bounds_are_the_first_and_last_instants() -> None:
    from newsearch.dates import corpus_zone

    tz, shanghai = "Asia/Shanghai", corpus_zone("Asia/Shanghai")
    assert parse_date_bound("9999", tz, end=True) == datetime(
        9999, 12, 31, 23, 59, 59, 999999, tzinfo=shanghai
    )
    assert parse_date_bound("2024-02", tz, end=True) == datetime(
        2024, 2, 29, 23, 59, 59, 999999, tzinfo=shanghai
    )
    assert parse_date_bound("0001", tz, end=False) == datetime(1, 1, 1, tzinfo=shanghai)
    assert parse_date_bound(date(9999, 12, 31), tz, end=True) == datetime(
        9999, 12, 31, 23, 59, 59, 999999, tzinfo=shanghai
    )


def test_a_post_dated_after_9999_in_the_corpus_zone_is_read_with_a_warning(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    write_post(corpus, "9999-12-31-end.md", "末日", "经济。", date="9999-12-31 23:00:00 Z")
    write_post(corpus, "late.md", "更晚", "经济。", date="9999-12-31 23:00:00 Z")
    report = build(corpus, tmp_path / "index")
    assert report.problems == ()
    assert report.added == 2
    reasons = {w.path: w.reason for w in report.warnings}
    assert "out of range in time zone Asia/Shanghai" in reasons["9999-12-31-end.md"]
    assert "file name's date 9999-12-31" in reasons["9999-12-31-end.md"]
    assert "the post has no date" in reasons["late.md"]
    with open_index(tmp_path / "index") as ix:
        assert ix.get("9999-12-31-end.md").date == datetime(9999, 12, 31, 0, tzinfo=PLUS8)
        assert ix.get("late.md").date is None


@pytest.fixture(scope="module")
def year_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("year-one")
    write_post(root / "corpus", "0001-01-01-d.md", "元年", "经济。", date="0001-01-01 00:00:00")
    write_post(root / "corpus", "2022-05-01-x.md", "今年", "经济。", date="2022-05-01 19:00:00")
    report = build(root / "corpus", root / "index")
    assert report.added == 2 and report.problems == ()
    return root / "index"


def test_info_shows_year_1_with_four_digits(year_one: Path) -> None:
    result = run("info", "--index", year_one)
    assert result.exit_code == 0, result.output
    assert re.search(r"^dates\s+0001-01-01 … 2022-05-01$", result.stdout, re.M)
    data = json.loads(run("info", "--index", year_one, "--json").stdout)
    assert data["first_date"] == "0001-01-01T00:00:00+08:00"


def test_year_1_at_the_terminal_in_json_and_in_filters(year_one: Path) -> None:
    result = run("search", "元年", "--index", year_one)
    assert result.exit_code == 0, result.output
    assert "0001-01-01 00:00" in result.stdout
    data = json.loads(run("search", "经济", "--index", year_one, "--json").stdout)
    assert {h["path"]: h["date"] for h in data["hits"]}["0001-01-01-d.md"] == (
        "0001-01-01T00:00:00+08:00"
    )
    assert search(year_one, until="0001-01-01") == ["0001-01-01-d.md"]
    assert search(year_one, since="0002") == ["2022-05-01-x.md"]


def test_info_shows_the_last_day_of_9999(edges: Path) -> None:
    data = json.loads(run("info", "--index", edges, "--json").stdout)
    assert data["last_date"] == "9999-12-31T12:00:00+08:00"
    assert re.search(
        r"^dates\s+1800-05-01 … 9999-12-31$", run("info", "--index", edges).stdout, re.M
    )


# --- before 1901: no local mean time ---------------------------------------------------------


def test_dates_before_1901_are_rfc3339_with_the_archive_offset(edges: Path) -> None:
    data = json.loads(run("search", "经济", "--index", edges, "--json", "-n", "50").stdout)
    dates = {h["path"]: h["date"] for h in data["hits"]}
    assert all(RFC3339.fullmatch(d) for d in dates.values()), dates
    assert dates["1800-05-01-e.md"] == "1800-05-01T19:00:00+08:00"
    with open_index(edges) as ix:  # read as +08:00, so it is on the day it says
        assert ix.search("古代", since="1800-05-01", until="1800-05-01").total == 1


def test_the_corpus_zone_has_whole_minute_offsets_in_every_zone() -> None:
    from newsearch.dates import corpus_zone

    moments = [datetime(1, 1, 2), datetime(1800, 1, 1), datetime(1890, 6, 1), datetime(1950, 7, 1)]
    moments += [datetime(2022, 1, 1), datetime(9999, 12, 30)]
    for name in sorted(available_timezones()):
        zone = corpus_zone(name)
        for moment in moments:
            offset = moment.replace(tzinfo=zone).utcoffset()
            assert offset is not None and offset % timedelta(minutes=1) == timedelta(0), name
            shown = moment.replace(tzinfo=UTC).astimezone(zone)
            assert RFC3339.fullmatch(shown.isoformat(timespec="seconds")), (name, shown)


def test_the_corpus_zone_is_tzdata_after_local_mean_time() -> None:
    from newsearch.dates import corpus_zone

    # Local mean time of Shanghai was +08:05:43 until 1901; the archive uses +08:00 throughout.
    shanghai = corpus_zone("Asia/Shanghai")
    assert datetime(1800, 1, 1, tzinfo=shanghai).utcoffset() == timedelta(hours=8)
    new_york, tzdata = corpus_zone("America/New_York"), ZoneInfo("America/New_York")
    start = datetime(2022, 11, 5, 12, tzinfo=UTC)
    for half_hours in range(96):  # across the end of summer time, with its repeated hour
        moment = start + timedelta(minutes=30 * half_hours)
        ours, theirs = moment.astimezone(new_york), moment.astimezone(tzdata)
        assert ours.replace(tzinfo=None) == theirs.replace(tzinfo=None)
        assert ours.utcoffset() == theirs.utcoffset() and ours.fold == theirs.fold
        assert ours.astimezone(UTC) == moment
    assert pickle.loads(pickle.dumps(datetime(1800, 1, 1, tzinfo=shanghai))).tzinfo is shanghai


def test_timestamps_at_the_ends_of_the_calendar_come_back() -> None:
    from newsearch.dates import corpus_zone, from_timestamp, in_zone, timestamp

    zone = corpus_zone("Asia/Shanghai")
    for moment in (datetime(1, 1, 1, tzinfo=zone), datetime(9999, 12, 31, 23, tzinfo=zone)):
        assert from_timestamp(timestamp(moment), zone) == moment
    assert in_zone(datetime(9999, 12, 31, 23, tzinfo=UTC), zone) is None


# --- shown in the corpus zone ----------------------------------------------------------------


def test_a_date_is_shown_on_the_day_its_filters_and_facets_use(edges: Path) -> None:
    name = "2022-06-01-f.md"  # dated 2022-05-31T20:00:00Z: 2022-06-01 04:00 in Shanghai
    assert name not in search(edges, until="2022-05-31")
    assert name in search(edges, since="2022-06-01", until="2022-06-01")
    with open_index(edges) as ix:
        hit = ix.search("六月", facets=True).hits[0]
        assert hit.date is not None and hit.date.isoformat() == "2022-06-01T04:00:00+08:00"
        assert hit.url == "/news/2022/06/01/f.html"
        assert ix.search("六月", facets=True).facets["month"] == {"2022-06": 1}
        assert ix.get(name).date == hit.date
    terminal = run("search", "六月", "--index", edges)
    assert "2022-06-01 04:00" in terminal.stdout and "2022-05-31" not in terminal.stdout
    data = json.loads(run("search", "六月", "--index", edges, "--json").stdout)
    assert data["hits"][0]["date"] == "2022-06-01T04:00:00+08:00"
    shown = run("show", name, "--index", edges)
    assert re.search(r"^date\s+2022-06-01 04:00:00\+08:00$", shown.stdout, re.M)
    assert json.loads(run("show", name, "--index", edges, "--json").stdout)["date"] == (
        "2022-06-01T04:00:00+08:00"
    )


def test_the_reader_gives_dates_in_the_site_zone(tmp_path: Path) -> None:
    write_post(tmp_path, "2022-06-01-f.md", "六月", "经济。", date="2022-05-31T20:00:00Z")
    post = read_post(tmp_path, "2022-06-01-f.md", timezone="Asia/Shanghai")
    assert post.date == datetime(2022, 5, 31, 20, tzinfo=UTC)
    assert post.date is not None and post.date.isoformat() == "2022-06-01T04:00:00+08:00"
    utc = read_post(tmp_path, "2022-06-01-f.md", timezone="UTC")
    assert utc.date is not None and utc.date.utcoffset() == UTC.utcoffset(None)
