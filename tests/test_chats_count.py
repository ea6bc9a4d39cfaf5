"""Distinct chats counted by first appearance (usageql.query.chats_count) against a reference in
plain Python, from raw events and from the rollups (both must agree, and agree with it).

The data: tests/test_correctness.py's 3,000 random events (chat ids shared by three apps, sent
out of time order in batches, so many messages arrive older than their chat's first one), and
app `g`, whose chats sit on the edges of the periods asked: chats that are active before a
period, silent in it and active after it, and chats whose only message near a period's edge is in
the same hour as the edge but on either side of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import StatementLog, count_statements
from tests.test_correctness import EVENTS, local_bucket, when
from tests.ways import settings, way

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

Event = dict[str, Any]


def _at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).isoformat()


# App g: (chat, its messages' times). The period [4th 10:30, 5th 10:30) is asked below.
EDGES: dict[str, list[str]] = {
    "gap": [_at(3, 9, 30), _at(6, 12)],  # active before and after, silent in between
    "before-start": [_at(3, 8), _at(4, 10, 10), _at(6, 8)],  # in the start's hour, before it
    "after-start": [_at(3, 8), _at(4, 10, 40), _at(6, 8)],  # in the start's hour, after it
    "before-end": [_at(3, 8), _at(5, 10, 20), _at(6, 8)],  # in the end's hour, before it
    "after-end": [_at(3, 8), _at(5, 10, 40), _at(6, 8)],  # in the end's hour, after it
    "inside": [_at(4, 23), _at(5, 1)],  # first seen in the period
    "late": [_at(5, 9), _at(4, 9, 59)],  # its older message is sent second
}
EDGE_EVENTS: list[Event] = [
    {"id": f"g-{chat}-{n}", "app": "g", "chat_id": chat, "timestamp": at, "model": "m-a"}
    for chat, times in EDGES.items()
    for n, at in enumerate(times)
]


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for start in range(0, len(EVENTS), 1000):
        response = await client.post("/v1/events", json=EVENTS[start : start + 1000])
        assert response.json()["rejected"] == []
    for event in EDGE_EVENTS:  # one at a time: the late one after its chat's first
        assert (await client.post("/v1/events", json=[event])).json()["accepted"] == 1


pytestmark = pytest.mark.usefixtures("loaded")
ALL = [*EVENTS, *EDGE_EVENTS]


def chats(events: list[Event]) -> int:
    """The reference: distinct (app, chat id) pairs among `events`."""
    return len({(e["app"], e["chat_id"]) for e in events if "chat_id" in e})


def within(start: str | None, end: str | None, apps: list[str] | None = None) -> list[Event]:
    low = None if start is None else datetime.fromisoformat(start)
    high = None if end is None else datetime.fromisoformat(end)
    return [
        e
        for e in ALL
        if (low is None or when(e) >= low)
        and (high is None or when(e) < high)
        and (apps is None or e["app"] in apps)
    ]


def counted_by_first_appearance(sql: StatementLog) -> bool:
    return any("chat_firsts_hourly" in statement for statement in sql.statements)


def _filter(start: str | None, end: str | None, apps: list[str] | None) -> str:
    parts = [f'from: "{start}"'] if start else []
    parts += [f'to: "{end}"'] if end else []
    parts += [f"apps: {str(apps).replace(chr(39), chr(34))}"] if apps else []
    return ", ".join(parts)


PERIODS = [
    (None, None),
    ("2026-03-05T07:23:11Z", "2026-03-29T12:41:00.5Z"),  # both inside hours
    ("2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"),  # a whole UTC day
    ("2026-03-04T10:30:00Z", "2026-03-05T10:30:00Z"),  # app g's edges
    ("2026-03-04T10:00:00Z", "2026-03-05T11:00:00Z"),  # the same, on whole hours
    ("2026-03-10T00:00:00Z", None),
    (None, "2026-03-20T06:15:00Z"),
    ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"),  # Berlin's DST day, in UTC
]


@pytest.mark.parametrize("apps", [None, ["a1"], ["a2", "g"]])
async def test_summaries_over_periods(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, apps: list[str] | None
) -> None:
    for start, end in PERIODS:
        query = "{ usage(filter: {%s}) { summary { chats messages } } }" % _filter(start, end, apps)
        with count_statements(engine) as sql:
            summary = (await graphql(client, query))["usage"]["summary"]
        assert sql.count == 1
        assert counted_by_first_appearance(sql) == (way == "rollups"), (start, end)
        events = within(start, end, apps)
        assert summary == {"chats": chats(events), "messages": len(events)}, (start, end)


async def test_chats_at_the_edges_of_a_period(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    query = '{ usage(filter: {apps: ["g"], %s}) { summary { chats } } }'
    # Active in [4th 10:30, 5th 10:30): after-start, before-end, inside, late (its first message,
    # sent last, is at 9:59 on the 4th: before the period, so it is a chat that straddles it).
    edges = 'from: "2026-03-04T10:30:00Z", to: "2026-03-05T10:30:00Z"'
    assert (await graphql(client, query % edges))["usage"]["summary"] == {"chats": 4}
    # Whole hours [4th 10:00, 5th 11:00): before-start and after-end too, late too.
    hours = 'from: "2026-03-04T10:00:00Z", to: "2026-03-05T11:00:00Z"'
    assert (await graphql(client, query % hours))["usage"]["summary"] == {"chats": 6}
    # [4th 00:00, 5th 00:00): the gap chat (before and after, not in it) is not counted.
    day = 'from: "2026-03-04T00:00:00Z", to: "2026-03-05T00:00:00Z"'
    assert (await graphql(client, query % day))["usage"]["summary"] == {"chats": 4}
    # Late's first message moved to the 4th, where it is counted as new; on the 5th it is a chat
    # first seen before the day and active in it.
    series = """{ usage(filter: {apps: ["g"]}) {
      timeseries(granularity: DAY, fillGaps: false) { start metrics { chats } } } }"""
    with count_statements(engine) as sql:
        days = (await graphql(client, series))["usage"]["timeseries"]
    assert sql.count == 1
    assert counted_by_first_appearance(sql) == (way == "rollups")
    assert [(d["start"][8:10], d["metrics"]["chats"]) for d in days] == [
        ("03", 5),  # gap, before-start, after-start, before-end, after-end
        ("04", 4),  # before-start, after-start, inside, late
        ("05", 4),  # before-end, after-end, inside, late
        ("06", 5),  # as on the 3rd
    ]


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("granularity", ["DAY", "WEEK", "MONTH", "QUARTER", "YEAR"])
async def test_series_per_app(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, zone: str, granularity: str
) -> None:
    start, end = "2026-03-02T05:30:00Z", "2026-04-08T00:00:00Z"
    query = """{ usage(filter: {from: "%s", to: "%s"}, timezone: "%s") { apps { app usage {
      timeseries(granularity: %s, fillGaps: false) { start metrics { chats messages } } } } } }"""
    with count_statements(engine) as sql:
        apps = (await graphql(client, query % (start, end, zone, granularity)))["usage"]["apps"]
    assert sql.count == 2  # the apps, then every app's series
    # Local days in Kolkata start at half past a UTC hour: only raw events answer them.
    assert counted_by_first_appearance(sql) == (way == "rollups" and zone != "Asia/Kolkata")
    tz = ZoneInfo(zone)
    for app in apps:
        expected: dict[datetime, list[Event]] = {}
        for event in within(start, end, [app["app"]]):
            expected.setdefault(local_bucket(when(event), granularity, tz), []).append(event)
        answered = {
            datetime.fromisoformat(b["start"]): b["metrics"] for b in app["usage"]["timeseries"]
        }
        assert answered == {
            bucket: {"chats": chats(events), "messages": len(events)}
            for bucket, events in expected.items()
        }, (app["app"], zone, granularity)


async def test_each_day_of_a_series_narrowed(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    start, end = "2026-03-27T12:00:00+00:00", "2026-04-02T00:00:00+00:00"
    query = """{ usage(filter: {from: "%s", to: "%s"}, timezone: "Europe/Berlin") {
      timeseries(granularity: DAY) { start end metrics { chats }
        usage { summary { chats messages } } } } }""" % (start, end)
    with count_statements(engine) as sql:
        days = (await graphql(client, query))["usage"]["timeseries"]
    assert sql.count == 2  # the series, then every day's summary
    assert counted_by_first_appearance(sql) == (way == "rollups")
    # Local days from 27 March (from noon UTC) to 2 April (its first two hours); 29 March, the
    # day clocks go forward, lasts 23 hours.
    assert [d["start"][5:16] for d in days] == [
        "03-26T23:00", "03-27T23:00", "03-28T23:00", "03-29T22:00", "03-30T22:00",
        "03-31T22:00", "04-01T22:00",
    ]  # fmt: skip
    for day in days:
        events = within(max(day["start"], start), min(day["end"], end))
        assert day["usage"]["summary"] == {"chats": chats(events), "messages": len(events)}
        assert day["metrics"]["chats"] == chats(events)


async def test_apps_ordered_by_chats(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    query = """{ usage(filter: {from: "2026-03-04T10:30:00Z"}) {
      apps(orderBy: {metric: CHATS, direction: ASC}, limit: 3) { app metrics { chats } } } }"""
    with count_statements(engine) as sql:
        apps = (await graphql(client, query))["usage"]["apps"]
    assert sql.count == 1
    assert counted_by_first_appearance(sql) == (way == "rollups")
    expected = sorted(
        (chats(within("2026-03-04T10:30:00+00:00", None, [app])), app)
        for app in ("a1", "a2", "a3", "g")
    )
    assert [(a["metrics"]["chats"], a["app"]) for a in apps] == expected[:3]


# Chats filtered or grouped by anything but apps and time, and hourly buckets: as before.
OTHERS = {
    "models": ('{ usage(filter: {models: ["m-a"]}) { summary { chats } } }', "model", "m-a"),
    "users": ('{ usage(filter: {users: ["u1", "u2"]}) { summary { chats } } }', "user", "u1 u2"),
    "tags": ('{ usage(filter: {tags: ["beta"]}) { summary { chats } } }', "tags", "beta"),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
async def test_other_filters_count_chats_as_before(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, name: str
) -> None:
    query, field, values = OTHERS[name]
    with count_statements(engine) as sql:
        summary = (await graphql(client, query))["usage"]["summary"]
    assert sql.count == 1
    assert not counted_by_first_appearance(sql)
    wanted = set(values.split())
    events = [
        e
        for e in ALL
        if (wanted & set(e.get("tags", [])) if field == "tags" else e.get(field) in wanted)
    ]
    assert summary == {"chats": chats(events)}


async def test_hours_and_models_count_chats_as_before(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    query = """{ usage(filter: {from: "2026-03-05T00:00:00Z", to: "2026-03-06T00:00:00Z"}) {
      timeseries(granularity: HOUR, fillGaps: false) { start metrics { chats } }
      models { model metrics { chats } } } }"""
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 2
    assert not counted_by_first_appearance(sql)
    day = within("2026-03-05T00:00:00+00:00", "2026-03-06T00:00:00+00:00")
    for hour in usage["timeseries"]:
        start = datetime.fromisoformat(hour["start"])
        events = [e for e in day if local_bucket(when(e), "HOUR", ZoneInfo("UTC")) == start]
        assert hour["metrics"]["chats"] == chats(events)
    for row in usage["models"]:
        events = [e for e in day if e.get("model") == row["model"]]
        assert row["metrics"]["chats"] == chats(events), row["model"]
