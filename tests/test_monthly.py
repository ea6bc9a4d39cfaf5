"""Monthly rollups: the same answers as raw events, at every edge a month piece has.

Each test runs from raw events and with rollups on (tests.ways), against plain Python over the
events of tests/test_correctness.py (1 March to 9 April 2026). The edges: all time; periods
cut at a whole month, at whole days, at hours and inside hours on both sides of one; open at
either end; a year's last month; calendar months, quarters and rows narrowed to a month in UTC
(which read months) and in Berlin, weeks and rolling windows (which could cut a month, so never
read one); late events and duplicates; prune. The rollups way also proves which table answered:
a month table wherever a whole UTC month is inside a question that no bucket cuts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.compacted import database_url, way
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import EVENTS, grouped, local_bucket, metrics, same, when
from tests.test_daily import (
    _part,
    between,
    daily_matches_messages,
    filter_argument,
    loaded,
    moment,
    post,
    reads,
)
from tests.ways import settings
from usageql.db.prune import prune
from usageql.ingest.compact import compact
from usageql.query import pieces, rollups
from usageql.query.model import (
    Dimension,
    Filter,
    Granularity,
    Metric,
    Question,
    TimeBucket,
    Windows,
)

__all__ = ["database_url", "loaded", "settings", "way"]  # fixtures

PERIODS = {
    "all time": (None, None),
    "a month exactly": ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    "a month and days": ("2026-02-27T00:00:00Z", "2026-04-03T00:00:00Z"),
    "a month inside hours": ("2026-02-27T13:17:05Z", "2026-04-03T07:44:00.5Z"),
    "open end": ("2026-02-28T13:00:00Z", None),
    "open start": (None, "2026-04-02T07:44:00Z"),
}
FIELDS = "messages requests successfulRequests failedRequests spend tokens { total }"


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(PERIODS))
async def test_users_and_their_tags_over_months(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, way: str
) -> None:
    """LiteLLM's users list (each user's sums and user-agent tag) and the tags' users."""
    start, end = PERIODS[name]
    query = """{ usage(filter: %s) {
        summary { users %s }
        users(first: 100, orderBy: {metric: SUCCESSFUL_REQUESTS}) { totalCount edges { node {
          user { id } metrics { users %s }
          usage { tags(limit: 1, filter: {tagContains: "ua:"}) { tag metrics { requests } } }
        } } }
        tags(limit: 100) { tag metrics { users %s } } } }""" % (
        filter_argument(start, end),
        FIELDS,
        FIELDS,
        FIELDS,
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 5, sql  # summary, users, their profiles, their tags, the tags
    if way == "rollups":  # every period here holds March whole
        for table in ("usage_monthly_users", "usage_monthly_tag_users"):
            assert reads(sql, table), (table, sql)
    kept = between(moment(start), moment(end))
    same(usage["summary"], _part(usage["summary"], metrics(kept)), f"{name}: summary")
    per_user = grouped((e for e in kept if "user" in e), lambda e: [e["user"]])
    users = usage["users"]
    assert users["totalCount"] == len(per_user)
    ordered = sorted(per_user, key=lambda u: (-metrics(per_user[u])["successfulRequests"], u))
    assert [edge["node"]["user"]["id"] for edge in users["edges"]] == ordered
    for edge in users["edges"]:
        node = edge["node"]
        events = per_user[node["user"]["id"]]
        same(node["metrics"], _part(node["metrics"], metrics(events)), node["user"]["id"])
        per_tag = grouped(events, lambda e: [t for t in e["tags"] if "ua:" in t.lower()])
        top = sorted(per_tag, key=lambda t: (-metrics(per_tag[t])["requests"], t))[:1]
        assert [row["tag"] for row in node["usage"]["tags"]] == top, node
        for row in node["usage"]["tags"]:
            assert row["metrics"]["requests"] == metrics(per_tag[row["tag"]])["requests"]
    per_tag = grouped(kept, lambda e: e["tags"])
    assert {row["tag"] for row in usage["tags"]} == set(per_tag)
    for row in usage["tags"]:
        same(row["metrics"], _part(row["metrics"], metrics(per_tag[row["tag"]])), row["tag"])


# Periods that cover most of March (and of April's first days, none of April): sums per user
# read March less its other days. "edge" users have events only in those days.
MOSTLY = {
    "most of a month": ("2026-03-03T00:00:00Z", "2026-03-29T13:00:00Z"),
    "inside hours": ("2026-03-02T09:41:07Z", "2026-03-30T00:00:00Z"),
    "open start": (None, "2026-03-25T00:00:00Z"),
}
EDGE_EVENTS = [
    {
        "id": f"edge-{user}-{n}",
        "timestamp": stamp,
        "app": "a1",
        "role": "assistant",
        "user": user,
        "model": "m-a",
        "status": "success",
        "tags": ["ua:edge"],
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    for user, stamps in (
        ("edge-early", ["2026-03-01T05:00:00Z", "2026-03-02T08:00:00Z"]),
        ("edge-late", ["2026-03-30T12:00:00Z", "2026-03-31T23:59:59Z"]),
        ("edge-both", ["2026-03-01T01:00:00Z", "2026-03-15T12:00:00Z", "2026-03-31T02:00:00Z"]),
    )
    for n, stamp in enumerate(stamps)
]


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(MOSTLY))
async def test_sums_per_user_read_a_month_less_its_other_days(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, way: str
) -> None:
    """A users list of sums, and each user's tags: a user with events only in the days taken
    away is no row (nor counted in totalCount); one with events on both sides counts the
    period's."""
    await post(client, EDGE_EVENTS)
    start, end = MOSTLY[name]
    query = """{ usage(filter: %s) {
        users(first: 500, orderBy: {metric: REQUESTS}) { totalCount edges { node {
          user { id } metrics { %s }
          usage { tags(limit: 2) { tag metrics { requests tokens { total } } } }
        } } } } }""" % (filter_argument(start, end), FIELDS)
    with count_statements(engine) as sql:
        users = (await graphql(client, query))["usage"]["users"]
    assert sql.count == 3, sql  # users, their profiles, their tags
    if way == "rollups":
        for table in ("usage_monthly_users", "usage_monthly_tag_users"):
            assert reads(sql, table), (table, sql)
    low, high = moment(start), moment(end)
    kept = [
        e
        for e in [*EVENTS, *EDGE_EVENTS]
        if (low is None or when(e) >= low) and (high is None or when(e) < high)
    ]
    per_user = grouped((e for e in kept if "user" in e), lambda e: [e["user"]])
    assert "edge-both" in per_user
    assert "edge-late" not in per_user  # only in the days taken away, in every period here
    assert ("edge-early" in per_user) == (start is None)
    assert users["totalCount"] == len(per_user)
    ordered = sorted(per_user, key=lambda u: (-metrics(per_user[u])["requests"], u))
    assert [edge["node"]["user"]["id"] for edge in users["edges"]] == ordered
    for edge in users["edges"]:
        node = edge["node"]
        events = per_user[node["user"]["id"]]
        same(node["metrics"], _part(node["metrics"], metrics(events)), node["user"]["id"])
        per_tag = grouped(events, lambda e: e["tags"])
        top = sorted(per_tag, key=lambda t: (-metrics(per_tag[t])["requests"], t))[:2]
        assert [row["tag"] for row in node["usage"]["tags"]] == top, node
        for row in node["usage"]["tags"]:
            expected = metrics(per_tag[row["tag"]])
            assert row["metrics"]["requests"] == expected["requests"]
            assert row["metrics"]["tokens"]["total"] == expected["tokens"]["total"]


SERIES = "timeseries(granularity: %s) { start metrics { users messages } }"
CALENDAR = "activeUsers(period: MONTH) { start end users }"
NARROWED = "timeseries(granularity: MONTH) { start usage { summary { users messages } } }"
ROLLING = "activeUsers(period: MONTH, window: ROLLING) { start end users }"
SPAN = ("2026-02-20T00:00:00Z", "2026-04-05T00:00:00Z")
# (a field, its time zone, the bucket its rows are (None: windows with an end), the statements
# it runs, whether rollups read months for it, its period (None: all time))
BUCKETED = [
    (SERIES % "MONTH", "UTC", "MONTH", 1, True, SPAN),
    (SERIES % "MONTH", "UTC", "MONTH", 1, True, None),
    (SERIES % "QUARTER", "UTC", "QUARTER", 1, True, SPAN),
    (CALENDAR, "UTC", None, 1, True, SPAN),
    (NARROWED, "UTC", "MONTH", 2, True, SPAN),  # the months, then their summaries
    # Berlin's months start at 22:00 or 23:00 UTC on a month's last day, which is then no day
    # piece: no UTC month is whole. A quarter leaves the UTC months inside it whole (April).
    (SERIES % "MONTH", "Europe/Berlin", "MONTH", 1, False, SPAN),
    (SERIES % "MONTH", "Europe/Berlin", "MONTH", 1, False, None),
    (SERIES % "QUARTER", "Europe/Berlin", "QUARTER", 1, True, None),
    (CALENDAR, "Europe/Berlin", None, 1, False, SPAN),
    (SERIES % "WEEK", "UTC", "WEEK", 1, False, SPAN),
    (ROLLING, "UTC", None, 2, False, SPAN),  # the days, then their windows
]


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize(
    "case", BUCKETED, ids=lambda case: f"{case[0][:30]}-{case[1]}-{case[5] is None}"
)
async def test_months_are_read_only_where_no_bucket_can_cut_one(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    case: tuple[str, str, str | None, int, bool, tuple[str, str] | None],
    way: str,
) -> None:
    """Calendar months, quarters and rows narrowed to a month in UTC are made of whole UTC
    months, and a Berlin quarter holds some; Berlin's months, UTC weeks and rolling months cut
    them (they read days and hours). Every answer matches plain Python."""
    field, zone, bucket, statements, monthly, span = case
    low, high = (None, None) if span is None else (moment(span[0]), moment(span[1]))
    period = "" if span is None else f"filter: {filter_argument(*span)}, "
    query = '{ usage(%stimezone: "%s") { %s } }' % (period, zone, field)
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == statements, sql
    tables = ("usage_monthly_users", "usage_daily_users", "usage_daily_user_sets")
    read = {table for table in tables if reads(sql, table)}
    if way == "raw":
        assert not read, sql
    elif way == "rollups":  # deferred: March and April have no monthly rows yet
        assert ("usage_monthly_users" in read) == monthly, sql
        # Without whole months, distinct users come from the day sets.
        assert ("usage_daily_user_sets" in read) == (not monthly), sql
    rows = next(iter(usage.values()))
    assert rows
    kept = between(low, high)
    for row in rows:
        start = datetime.fromisoformat(row["start"])
        if bucket is None:  # a window: [start, end)
            end = datetime.fromisoformat(row["end"])
            events = [e for e in kept if start <= when(e) < end]
        else:
            tz = ZoneInfo(zone)
            events = [e for e in kept if local_bucket(when(e), bucket, tz) == start]
        found = row.get("metrics") or row.get("usage", {}).get("summary") or row
        assert found["users"] == len({e["user"] for e in events if "user" in e}), row
        if "messages" in found:
            assert found["messages"] == len(events), row
    assert kept


async def test_late_events_and_duplicates_keep_the_months_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    april = [e for e in EVENTS if when(e) >= datetime(2026, 4, 1, tzinfo=UTC)]
    march = [e for e in EVENTS if when(e) < datetime(2026, 4, 1, tzinfo=UTC)]
    await post(client, april)
    query = "{ usage { users(first: 3) { totalCount } summary { users messages } } }"
    before = (await graphql(client, query))["usage"]
    assert before["summary"]["messages"] == len(april)
    # March arrives after April, some of it twice, some with April's events again.
    assert (await post(client, march[:1500]))["duplicates"] == 0
    assert (await post(client, march[1000:] + april[:200]))["duplicates"] == 700
    if way == "deferred":  # the days from 25 March on are added once they have ended
        await compact(engine, until=datetime(2026, 5, 1, tzinfo=UTC))
    assert await daily_matches_messages(engine) > 100  # the month tables too
    with count_statements(engine) as sql:
        after = (await graphql(client, query))["usage"]
    assert sql.count == 2
    if way != "deferred":  # deferred: the months before March are compacted, empty
        assert reads(sql, "usage_monthly_users") == (way == "rollups"), sql
    users = len({e["user"] for e in EVENTS if "user" in e})
    assert after == {
        "users": {"totalCount": users},
        "summary": {"users": users, "messages": len(EVENTS)},
    }


@pytest.mark.usefixtures("loaded")
async def test_prune_keeps_the_months(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """After a prune at 1 April, a users list over all time keeps its answer from months (and
    the days after them); from raw events it fails, naming the horizon."""
    query = """{ usage { users(first: 100) { totalCount edges { node { user { id }
        metrics { requests spend } } } } } }"""
    before = (await graphql(client, query))["usage"]
    await prune(engine, datetime(2026, 4, 1, tzinfo=UTC), wait_seconds=0)
    await app.state.horizon.refresh(engine)
    if way == "raw":
        response = await client.post("/graphql", json={"query": query})
        assert "which were pruned" in response.json()["errors"][0]["message"]
        return
    with count_statements(engine) as sql:
        assert (await graphql(client, query))["usage"] == before
    assert sql.count == 2  # the users, their profiles
    assert reads(sql, "usage_monthly_users"), sql
    assert before["users"]["totalCount"] == len({e["user"] for e in EVENTS if "user" in e})


def test_which_questions_read_months() -> None:
    def chosen(
        metrics: set[Metric], *keys: Any, filter: Filter | None = None, zone: str = "UTC"
    ) -> tuple[str | None, str | None, tuple[pieces.Span, ...]]:
        question = Question(frozenset(metrics), keys)
        plan = rollups.plan(question, filter or Filter(), zone, (), ())
        assert plan is not None
        monthly = None if plan.monthly is None else plan.monthly.table.name
        daily = None if plan.daily is None else plan.daily.table.name
        return monthly, daily, plan.pieces.months

    everything = ((None, None),)
    users = "usage_daily_users"
    assert chosen({Metric.REQUESTS}, Dimension.USER) == ("usage_monthly_users", users, everything)
    assert chosen({Metric.USERS}, Dimension.TAG) == (
        "usage_monthly_tag_users",
        "usage_daily_tag_users",
        everything,
    )
    # The daily tables without a monthly one keep their days.
    assert chosen({Metric.REQUESTS}, Dimension.MODEL) == (None, "usage_daily", ())
    assert chosen({Metric.REQUESTS}, Dimension.TAG) == (None, "usage_daily_tags", ())
    # Months, quarters and years in UTC are whole UTC months.
    for granularity in (Granularity.MONTH, Granularity.QUARTER, Granularity.YEAR):
        bucket = TimeBucket(granularity)
        assert chosen({Metric.USERS}, bucket) == ("usage_monthly_users", users, everything)
        assert chosen({Metric.USERS}, bucket, zone="Etc/UTC")[0] == "usage_monthly_users"
    # A local month elsewhere starts inside the last UTC day of a month: none is whole.
    for zone in ("Europe/Berlin", "America/New_York"):
        assert chosen({Metric.USERS}, TimeBucket(Granularity.MONTH), zone=zone)[0] is None
    # A local quarter leaves whole the UTC months inside it, and only those: each month piece
    # lies between two of its starts.
    berlin = chosen({Metric.USERS}, TimeBucket(Granularity.QUARTER), zone="Europe/Berlin")
    assert berlin[0] == "usage_monthly_users"
    tz = ZoneInfo("Europe/Berlin")
    for start, end in berlin[2]:
        assert start is not None
        assert end is not None
        last = end - timedelta(microseconds=1)
        assert local_bucket(start, "QUARTER", tz) == local_bucket(last, "QUARTER", tz)
    # Any other bucket, and any window, could cut a month.
    for key in (
        TimeBucket(Granularity.DAY),
        TimeBucket(Granularity.WEEK),
        Windows(((datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),)),
    ):
        assert chosen({Metric.USERS}, key)[0] is None, key
    # Less than a whole month inside: days only, distinct users alone from the day sets.
    short = Filter(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC))
    assert chosen({Metric.USERS}, filter=short) == (None, "usage_daily_user_sets", ())
    # Distinct users alone read a monthly table only where its whole months hold at least
    # twice the period's other days (counted up to now): the 30 days before a whole month, and
    # the days of the month under way, read day sets; five whole months and 14 days, months.
    now = datetime(2026, 12, 4, 9, tzinfo=UTC)
    for start, months in (
        (datetime(2026, 10, 2, tzinfo=UTC), False),
        (datetime(2026, 6, 20, tzinfo=UTC), True),
    ):
        open_end = rollups.plan(
            Question(frozenset({Metric.USERS})), Filter(start), "UTC", (), (), now=now
        )
        assert open_end is not None
        assert (open_end.monthly is not None) == months, start
        assert open_end.reads_sets != months, start
    # Sums: each month that is mostly the period's days, less its other days.
    plan = rollups.plan(
        Question(frozenset({Metric.REQUESTS}), (Dimension.USER,)), short, "UTC", (), ()
    )
    assert plan is not None
    assert plan.monthly is not None
    assert plan.monthly.table.name == "usage_monthly_users"
    march, april, may = (datetime(2026, month, 1, tzinfo=UTC) for month in (3, 4, 5))
    assert plan.pieces.months == ((march, may),)
    assert plan.pieces.less == (
        (march, march + timedelta(days=1)),
        (april + timedelta(days=29), may),
    )
    assert plan.pieces.days == ()
    # Not with distinct users, nor per day.
    both = Question(frozenset({Metric.REQUESTS, Metric.USERS}), (Dimension.USER,))
    assert rollups.plan(both, short, "UTC", (), ()).pieces.less == ()  # type: ignore[union-attr]
    daily = Question(frozenset({Metric.REQUESTS}), (Dimension.USER, TimeBucket(Granularity.DAY)))
    assert rollups.plan(daily, short, "UTC", (), ()).pieces.less == ()  # type: ignore[union-attr]


def test_days_become_months_where_whole() -> None:
    def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)

    def cut(start: datetime | None, end: datetime | None) -> pieces.Pieces:
        return pieces.with_months(pieces.cut(start, end, frozenset()))

    assert cut(None, None) == pieces.Pieces(months=((None, None),))
    inside = cut(utc(2025, 11, 3, 13, 30), utc(2026, 2, 2, 7))
    assert inside.months == ((utc(2025, 12, 1), utc(2026, 2, 1)),)  # across a year's end
    assert inside.days == ((utc(2025, 11, 4), utc(2025, 12, 1)), (utc(2026, 2, 1), utc(2026, 2, 2)))
    assert inside.hours == (
        (utc(2025, 11, 3, 14), utc(2025, 11, 4)),
        (utc(2026, 2, 2), utc(2026, 2, 2, 7)),
    )
    assert inside.raw == ((utc(2025, 11, 3, 13, 30), utc(2025, 11, 3, 14)),)
    exact = cut(utc(2026, 12, 1), utc(2027, 1, 1))
    assert (exact.months, exact.days, exact.hours) == (
        ((utc(2026, 12, 1), utc(2027, 1, 1)),),
        (),
        (),
    )
    short = cut(utc(2026, 3, 2), utc(2026, 3, 31))
    assert (short.months, short.days) == ((), ((utc(2026, 3, 2), utc(2026, 3, 31)),))
    open_end = cut(utc(2026, 2, 28, 13), None)
    assert open_end.months == ((utc(2026, 3, 1), None),)
    assert (open_end.days, open_end.hours) == ((), ((utc(2026, 2, 28, 13), utc(2026, 3, 1)),))
    open_start = cut(None, utc(2026, 4, 2, 7, 44))
    assert open_start.months == ((None, utc(2026, 4, 1)),)
    assert open_start.days == ((utc(2026, 4, 1), utc(2026, 4, 2)),)
