from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.sqlcount import count_statements
from usageql.query import time
from usageql.query.model import Granularity, Scope
from usageql.query.time import (
    MAX_BUCKETS,
    TimeZoneError,
    bucket_end,
    bucket_start,
    buckets,
    install_zones,
    zone,
)

BERLIN = zone("Europe/Berlin")
KOLKATA = zone("Asia/Kolkata")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_days_start_at_local_midnight_and_last_23_or_25_hours_across_dst() -> None:
    spring = bucket_start(utc(2026, 3, 29, 12), Granularity.DAY, BERLIN)
    assert spring == utc(2026, 3, 28, 23)  # midnight CET
    assert bucket_end(spring, Granularity.DAY, BERLIN) - spring == timedelta(hours=23)
    autumn = bucket_start(utc(2026, 10, 25, 12), Granularity.DAY, BERLIN)
    assert autumn == utc(2026, 10, 24, 22)  # midnight CEST
    assert bucket_end(autumn, Granularity.DAY, BERLIN) - autumn == timedelta(hours=25)


def test_weeks_are_iso_weeks_from_monday() -> None:
    thursday = utc(2026, 10, 1, 9)
    start = bucket_start(thursday, Granularity.WEEK, BERLIN)
    assert start == utc(2026, 9, 27, 22)  # Monday 28 September, 00:00 in Berlin
    assert start.astimezone(BERLIN).weekday() == 0
    assert bucket_end(start, Granularity.WEEK, BERLIN) == utc(2026, 10, 4, 22)


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        (Granularity.MONTH, utc(2026, 1, 31, 23), utc(2026, 2, 28, 23)),
        (Granularity.QUARTER, utc(2025, 12, 31, 23), utc(2026, 3, 31, 22)),
        (Granularity.YEAR, utc(2025, 12, 31, 23), utc(2026, 12, 31, 23)),
    ],
)
def test_calendar_months_quarters_and_years(
    granularity: Granularity, start: datetime, end: datetime
) -> None:
    moment = utc(2026, 2, 14, 12)
    assert bucket_start(moment, granularity, BERLIN) == start
    assert bucket_end(start, granularity, BERLIN) == end


def test_hours_follow_local_hours_in_half_hour_zones() -> None:
    start = bucket_start(utc(2026, 5, 1, 10, 45), Granularity.HOUR, KOLKATA)
    assert start == utc(2026, 5, 1, 10, 30)  # 16:00 in Kolkata
    assert bucket_end(start, Granularity.HOUR, KOLKATA) == utc(2026, 5, 1, 11, 30)


def test_the_repeated_hour_of_a_dst_change_is_two_buckets() -> None:
    first = bucket_start(utc(2026, 10, 25, 0, 30), Granularity.HOUR, BERLIN)
    second = bucket_start(utc(2026, 10, 25, 1, 30), Granularity.HOUR, BERLIN)
    assert (first, second) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))


def test_buckets_cover_a_span_and_refuse_too_many() -> None:
    days = list(buckets(utc(2026, 3, 27, 12), utc(2026, 3, 31), Granularity.DAY, BERLIN))
    assert [d.astimezone(BERLIN).day for d in days] == [27, 28, 29, 30, 31]
    with pytest.raises(ValueError, match=f"more than {MAX_BUCKETS:,} hour buckets"):
        list(buckets(utc(2000, 1, 1), utc(2026, 1, 1), Granularity.HOUR, BERLIN))


def test_unknown_zones_are_named_in_the_error() -> None:
    with pytest.raises(TimeZoneError, match="timezone: 'Mars/Olympus' is not an IANA time zone"):
        zone("Mars/Olympus")


def test_scopes_default_to_utc() -> None:
    assert Scope().timezone == "UTC"


async def _errors(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    errors: list[dict[str, Any]] = response.json().get("errors", [])
    return errors


@pytest.fixture
async def one_event(client: httpx.AsyncClient) -> None:
    event = b'{"id": "m-1", "timestamp": "2026-11-21T10:00:00Z", "model": "gpt-4o"}'
    stored = await client.post("/v1/events", content=event)
    assert stored.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # Python loads these; PostgreSQL does not know them, or means something else by them.
        ("right/UTC", "timezone: 'right/UTC' is not an IANA time zone name known to both"),
        ("posixrules", "timezone: 'posixrules' is not an IANA time zone name known to both"),
        ("localtime", "timezone: 'localtime' is not an IANA time zone name known to both"),
        ("America", "timezone: 'America' is a group of zones, not one: name a zone in it, e.g."),
        ("x" * 300, "timezone: a name of 300 characters is not a time zone name (IANA names,"),
        ("europe/berlin", "timezone: 'europe/berlin' is not an IANA time zone name known to both"
         " usageql and PostgreSQL; did you mean 'Europe/Berlin'?"),
    ],
)  # fmt: skip
async def test_zones_that_both_python_and_postgresql_cannot_use_are_client_errors(
    client: httpx.AsyncClient, engine: AsyncEngine, one_event: None, name: str, message: str
) -> None:
    query = f'{{ usage(timezone: "{name}") {{ timeseries(granularity: DAY) {{ start }} }} }}'
    with count_statements(engine) as sql:
        (error,) = await _errors(client, query)
    assert sql.count == 0  # checked against the zones read at start
    assert error["message"].startswith(message)
    assert "code" not in error.get("extensions", {})  # not a masked internal error
    assert len(error["message"]) < 200


async def test_a_zone_both_know_answers(client: httpx.AsyncClient, one_event: None) -> None:
    query = (
        '{ usage(filter: {from: "2026-11-21T00:00:00Z", to: "2026-11-22T00:00:00Z"},'
        ' timezone: "America/New_York") { timeseries(granularity: DAY) { start } } }'
    )
    response = await client.post("/graphql", json={"query": query})
    series = response.json()["data"]["usage"]["timeseries"]
    assert [b["start"] for b in series] == [
        "2026-11-20T05:00:00+00:00",
        "2026-11-21T05:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("bound", "moment", "zone_name"),
    [
        ("from", "0001-01-01T00:00:00Z", "America/New_York"),
        ("from", "1899-12-31T23:59:59Z", "UTC"),
        ("to", "9999-12-31T23:00:00-05:00", "Pacific/Kiritimati"),
        ("to", "9000-01-01T00:00:01Z", "UTC"),
    ],
)
async def test_instants_beyond_what_every_zone_can_hold_are_client_errors(
    client: httpx.AsyncClient, one_event: None, bound: str, moment: str, zone_name: str
) -> None:
    query = (
        f'{{ usage(filter: {{{bound}: "{moment}"}}, timezone: "{zone_name}")'
        " { timeseries(granularity: DAY) { start } } }"
    )
    (error,) = await _errors(client, query)
    assert error["message"].startswith(f"filter.{bound}: ")
    assert error["message"].endswith(
        " is outside the instants usageql handles, 1900-01-01T00:00:00Z to 9000-01-01T00:00:00Z"
    )


def test_zones_are_those_the_database_installs_or_until_then_pythons_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "_database_zones", None)  # before the server has read them
    assert zone("America/New_York").key == "America/New_York"
    for name in ("right/UTC", "posixrules", "localtime", "America", "Mars/Olympus"):
        with pytest.raises(TimeZoneError, match=f"timezone: {name!r} is"):
            zone(name)
    install_zones(["Europe/Berlin", "Mars/Olympus", "localtime"])  # what a database could say
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    for name in ("America/New_York", "Mars/Olympus", "localtime"):
        with pytest.raises(TimeZoneError, match=f"timezone: {name!r} is not an IANA time zone"):
            zone(name)
