"""Daily rollups: the same answers as raw events, at every edge a day piece has.

Each test runs from raw events and with rollups on (tests.ways), against plain Python over the
events of tests/test_correctness.py (March to April 2026: both daylight-saving changes, three
apps, 40 users, tags), computed with zoneinfo only. The edges: periods cut at whole UTC days, at
whole hours mid-day and inside hours; local days, weeks and months that are not UTC days (Berlin,
New York, across DST) and a zone half an hour off (Kolkata: raw events); rolling windows;
rows narrowed to a bucket; late events and duplicates; prune. The rollups way also proves which
table answered: a day table wherever a whole UTC day is inside the question.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

from tests.graphql_client import graphql
from tests.sqlcount import StatementLog, count_statements
from tests.test_correctness import (
    EVENTS,
    Event,
    expected_part,
    grouped,
    local_bucket,
    metrics,
    same,
    when,
)
from tests.ways import settings, way
from usageql.db.measures import MEASURES
from usageql.db.prune import prune
from usageql.db.tables import messages
from usageql.query import rollups
from usageql.query.model import (
    Dimension,
    Filter,
    Granularity,
    GroupKey,
    Metric,
    Question,
    TimeBucket,
)

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

Z = "+00:00"
PERIODS = {
    "whole days": ("2026-03-03T00:00:00Z", "2026-03-27T00:00:00Z"),
    "mid-day hours": ("2026-03-03T13:00:00Z", "2026-03-27T07:00:00Z"),
    "inside hours": ("2026-03-03T13:17:05Z", "2026-03-27T07:44:00.5Z"),
    "open end": ("2026-03-03T13:17:05Z", None),
    "open start": (None, "2026-03-27T07:44:00Z"),
}


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for start in range(0, len(EVENTS), 1000):
        response = await client.post("/v1/events", json=EVENTS[start : start + 1000])
        assert response.json()["rejected"] == []


def moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", Z))


def between(start: datetime | None, end: datetime | None) -> list[Event]:
    return [
        e for e in EVENTS if (start is None or when(e) >= start) and (end is None or when(e) < end)
    ]


def filter_argument(start: str | None, end: str | None) -> str:
    bounds = [f'{name}: "{value}"' for name, value in (("from", start), ("to", end)) if value]
    return "{%s}" % ", ".join(bounds)


def reads(sql: StatementLog, table: str) -> bool:
    """Whether a statement read `table` (a name followed by a space: not usage_daily_users
    for usage_daily)."""
    return any(
        f"{table} " in statement or f"{table}\n" in statement for statement in sql.statements
    )


SUMS = "messages requests spend unpricedRequests tokens { input output total } latencyMs { max }"


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(PERIODS))
async def test_periods_cut_at_days_hours_and_inside_hours(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, way: str
) -> None:
    start, end = PERIODS[name]
    query = """{ usage(filter: %s) {
        summary { users %s }
        users(first: 100) { totalCount edges { node { user { id } metrics { messages spend } } } }
        tags(limit: 100) { tag metrics { users %s } }
        tagSums: tags(limit: 100) { tag metrics { %s } }
        models(limit: 100) { model metrics { models %s } } } }""" % (
        filter_argument(start, end),
        SUMS,
        SUMS,
        SUMS,
        SUMS,
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 6, sql  # summary, users, their profiles, tags twice, models
    if way == "rollups":  # every period here holds whole UTC days
        # Distinct users from the day sets, sums from the tables without users; but where the
        # period holds whole UTC months (open ones), from rows per user (and month).
        users = ("usage_daily_users", "usage_daily_tag_users")
        sets = ("usage_daily_user_sets", "usage_daily_tag_user_sets")
        daily = (
            "usage_daily_users",
            *(users if start is None or end is None else sets),
            "usage_daily_tags",
            "usage_daily",
        )
        for table in daily:
            assert reads(sql, table), (table, sql)
    kept = between(moment(start), moment(end))
    summary = usage["summary"]
    same(summary, _part(summary, metrics(kept)), f"{name}: summary")
    per_user = grouped((e for e in kept if "user" in e), lambda e: [e["user"]])
    assert usage["users"]["totalCount"] == len(per_user)
    for edge in usage["users"]["edges"]:
        node = edge["node"]
        reference = _part(node["metrics"], metrics(per_user[node["user"]["id"]]))
        same(node["metrics"], reference, f"{name}: user {node['user']['id']}")
    per_tag = grouped(kept, lambda e: e["tags"])
    for tags in (usage["tags"], usage["tagSums"]):
        assert {row["tag"] for row in tags} == set(per_tag)
        for row in tags:
            reference = _part(row["metrics"], metrics(per_tag[row["tag"]]))
            same(row["metrics"], reference, row["tag"])
    per_model = grouped((e for e in kept if "model" in e), lambda e: [e["model"]])
    assert {row["model"] for row in usage["models"]} == set(per_model)
    for row in usage["models"]:
        reference = _part(row["metrics"], metrics(per_model[row["model"]]))
        same(row["metrics"], reference, row["model"])


def _part(actual: Any, expected: Any) -> Any:
    """The reference's values for the fields the answer holds."""
    if isinstance(expected, dict):
        return {key: _part(actual[key], expected[key]) for key in actual}
    return expected


def test_the_smallest_daily_table_that_is_exact_answers() -> None:
    def chosen(metrics: set[Metric], *keys: GroupKey) -> tuple[str | None, str]:
        plan = rollups.plan(Question(frozenset(metrics), keys), Filter(), "UTC", (), ())
        assert plan is not None
        return (None if plan.daily is None else plan.daily.table.name), plan.rollup.table.name

    assert chosen({Metric.MESSAGES}) == ("usage_daily_apps", "usage_hourly_apps")
    # The other hours from the narrowest hourly table that answers (rollups._hours_of).
    assert chosen({Metric.MESSAGES}, Dimension.MODEL) == ("usage_daily", "usage_hourly_models")
    assert chosen({Metric.MESSAGES}, Dimension.STATUS) == ("usage_daily", "usage_hourly")
    assert chosen({Metric.REQUESTS}, Dimension.TAG) == ("usage_daily_tags", "usage_hourly_tags")
    assert chosen({Metric.USERS}) == ("usage_daily_users", "usage_hourly_chats")
    assert chosen({Metric.USERS}, Dimension.TAG) == ("usage_daily_tag_users", "usage_hourly_tags")
    # No daily table has both users and models, nor chats: the hourly ones answer.
    assert chosen({Metric.USERS, Metric.MODELS}) == (None, "usage_hourly_chats")
    assert chosen({Metric.MESSAGES}, Dimension.USER, Dimension.MODEL) == (
        None,
        "usage_hourly_chats",
    )
    assert chosen({Metric.CHATS}) == (None, "usage_hourly_chats")

    # Over days that hold no whole UTC month, distinct users alone come from the day sets.
    days = Filter(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 27, tzinfo=UTC))

    def over_days(metrics: set[Metric], *keys: GroupKey) -> str | None:
        plan = rollups.plan(Question(frozenset(metrics), keys), days, "UTC", (), ())
        assert plan is not None
        return None if plan.daily is None else plan.daily.table.name

    assert over_days({Metric.USERS}) == "usage_daily_user_sets"
    assert over_days({Metric.USERS}, Dimension.TAG) == "usage_daily_tag_user_sets"
    assert over_days({Metric.USERS}, Dimension.USER) == "usage_daily_users"
    assert over_days({Metric.USERS, Metric.MESSAGES}) == "usage_daily_users"  # split by plans


# Buckets in zones: which ones keep whole UTC days, and what the others take from hours.
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
GRANULARITIES = ["DAY", "WEEK", "MONTH"]
SPAN = ("2026-03-02T09:00:00Z", "2026-04-08T15:00:00Z")  # both DST changes inside


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("granularity", GRANULARITIES)
async def test_local_buckets_and_active_users_per_tag(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, granularity: str, way: str
) -> None:
    query = """{ usage(filter: %s, timezone: "%s") {
        timeseries(granularity: %s) { start metrics { users messages spend } }
        activeUsers(period: %s) { start users }
        tags(limit: 10) { tag usage { activeUsers(period: %s) { start users } } } } }""" % (
        filter_argument(*SPAN),
        zone,
        granularity,
        granularity,
        granularity,
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 4, sql  # the series, its active users, the tags, their active users
    # The tags alone (no buckets) come from days in any zone; the bucketed three from rollups
    # in whole-hour zones, from days where some UTC day is whole inside every bucket.
    from_rollups = [s for s in sql.statements if "usage_hourly" in s or "usage_daily" in s]
    from_days = [s for s in sql.statements if "usage_daily" in s]
    rollups = way == "rollups"
    kolkata = zone == "Asia/Kolkata"
    assert len(from_rollups) == (0 if not rollups else 1 if kolkata else 4), sql
    # Active users also read the first or last hours of days from the days' sets
    # (pieces.day_ends), where no UTC day is whole too (a Berlin day's first 23 hours); the
    # series' sums the UTC days a local day starts inside, less and plus their other hours
    # (pieces.shifted).
    in_days = 1 if kolkata else 4
    assert len(from_days) == (in_days if rollups else 0), sql
    # The hours around the period's days (its partial days at both ends, and the days a local
    # week or month starts inside) are a few short runs in five weeks: the hourly table is read
    # by their starts (rollups.listed_starts), or as the one short run left, not by the range
    # from the first to the last. The users per tag read none of them in UTC: the period's
    # partial days (15 hours each) are day ends, and so are a local week's or month's first or
    # last hours of a UTC day, however few. Local days read hours in the middle of a UTC day: the
    # period's first one runs from its start to the local midnight.
    hourly = [s for s in from_days if "FROM usage_hourly_tags" in s]
    middles = granularity == "DAY" and zone in ("Europe/Berlin", "America/New_York")
    assert len(hourly) == (0 if not rollups else 2 if middles else 1)
    listed = "usage_hourly_tags.hour = ANY"
    assert all(listed in s or s.count("usage_hourly_tags.hour >=") == 1 for s in hourly), hourly
    sets = [s for s in sql.statements if "usage_daily_tag_user_sets" in s]
    # The day ends come from the days' sets (their members' hours), not the rows of users.
    assert all("ends JOIN usage_daily_tag_user_sets" in s for s in sets), sets
    assert not any("usage_daily_tag_users" in s for s in sets), sets
    tz = ZoneInfo(zone)
    kept = between(moment(SPAN[0]), moment(SPAN[1]))
    per_bucket = grouped(kept, lambda e: [local_bucket(when(e), granularity, tz)])
    assert usage["timeseries"], usage
    for bucket in usage["timeseries"]:
        events = per_bucket.get(datetime.fromisoformat(bucket["start"]), [])
        same(bucket["metrics"], _part(bucket["metrics"], metrics(events)), bucket["start"])
    answer = {a["start"]: a["users"] for a in usage["activeUsers"]}
    assert answer == {b["start"]: b["metrics"]["users"] for b in usage["timeseries"]}
    for row in usage["tags"]:
        tagged = [e for e in kept if row["tag"] in e["tags"]]
        buckets = grouped(tagged, lambda e: [local_bucket(when(e), granularity, tz)])
        for active in row["usage"]["activeUsers"]:
            events = buckets.get(datetime.fromisoformat(active["start"]), [])
            assert active["users"] == len(_users(events)), (row["tag"], active)


def _users(events: Iterable[Event]) -> set[str]:
    return {e["user"] for e in events if "user" in e}


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
async def test_rows_narrowed_to_a_bucket(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, way: str
) -> None:
    """Each week's own users and tags (the week narrows them): one statement per field for all
    weeks; in New York the days its weeks start in come from hours (and day ends)."""
    span = ("2026-03-02T00:00:00Z", "2026-04-06T00:00:00Z")  # UTC Mondays
    query = """{ usage(filter: %s, timezone: "%s") { timeseries(granularity: WEEK) { start
        usage { users(first: 3, orderBy: {metric: REQUESTS}) { totalCount
                  edges { node { metrics { requests users } } } }
                tags(limit: 2) { tag metrics { users requests } } } } } }""" % (
        filter_argument(*span),
        zone,
    )
    with count_statements(engine) as sql:
        series = (await graphql(client, query))["usage"]["timeseries"]
    assert sql.count == 3, sql  # the weeks, their users, their tags
    if way == "rollups":
        assert reads(sql, "usage_daily_users"), sql
        # Each tag's users from the day sets, its requests from the sums per tag.
        assert reads(sql, "usage_daily_tag_user_sets"), sql
        assert reads(sql, "usage_daily_tags"), sql
        # In New York, the last 19 hours of the UTC Mondays its weeks start in from the days'
        # sets per tag (their members' hours: pieces.day_ends), their first 5 from hours.
        assert not reads(sql, "usage_daily_tag_users"), sql
        assert reads(sql, "usage_hourly_chats") == (zone != "UTC"), sql
    tz = ZoneInfo(zone)
    kept = between(moment(span[0]), moment(span[1]))
    weeks = grouped(kept, lambda e: [local_bucket(when(e), "WEEK", tz)])
    assert len(series) == len(weeks) == (5 if zone == "UTC" else 6)
    for week in series:
        events = weeks.get(datetime.fromisoformat(week["start"]), [])
        users = week["usage"]["users"]
        per_user = grouped((e for e in events if "user" in e), lambda e: [e["user"]])
        assert users["totalCount"] == len(per_user)
        requests = sorted((metrics(v)["requests"] for v in per_user.values()), reverse=True)
        assert [edge["node"]["metrics"] for edge in users["edges"]] == [
            {"requests": n, "users": 1} for n in requests[:3]
        ]
        per_tag = grouped(events, lambda e: e["tags"])
        top = sorted(per_tag, key=lambda tag: (-metrics(per_tag[tag])["requests"], tag))[:2]
        assert [row["tag"] for row in week["usage"]["tags"]] == top
        for row in week["usage"]["tags"]:
            expected = metrics(per_tag[row["tag"]])
            assert row["metrics"] == {k: expected[k] for k in ("users", "requests")}


@pytest.mark.usefixtures("loaded")
async def test_rolling_windows_in_utc_read_days(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """Rolling weeks ending at UTC midnights: whole days (test_active_users checks every zone
    and period against plain Python, both ways)."""
    query = """{ usage(filter: %s) { activeUsers(period: WEEK, window: ROLLING) {
        start end users } } }""" % filter_argument("2026-03-10T00:00:00Z", "2026-03-20T00:00:00Z")
    with count_statements(engine) as sql:
        windows = (await graphql(client, query))["usage"]["activeUsers"]
    assert sql.count == 2, sql  # the days, then their windows
    assert reads(sql, "usage_daily_user_sets") == (way == "rollups"), sql
    assert not reads(sql, "usage_hourly_chats"), sql
    assert len(windows) == 10
    for window in windows:
        events = between(moment(window["start"]), moment(window["end"]))
        assert window["users"] == len(_users(events)), window


async def daily_matches_messages(engine: AsyncEngine) -> int:
    """Assert every daily and monthly table equals a GROUP BY over `messages` per UTC day or
    month; returns the rows seen."""
    measures = ", ".join(
        str(measure.over_events(messages.c).compile(compile_kwargs={"literal_binds": True}))
        for measure in MEASURES
    )
    tagged = "messages, unnest(tags) AS tag"
    tables = {
        "usage_daily": ("day", "model, provider, source, role, status", "messages"),
        "usage_daily_apps": ("day", "", "messages"),
        "usage_daily_users": ("day", "user_id", "messages"),
        "usage_daily_tags": ("day", "tag", tagged),
        "usage_daily_tag_users": ("day", "tag, user_id", tagged),
        "usage_monthly_users": ("month", "user_id", "messages"),
        "usage_monthly_tag_users": ("month", "tag, user_id", tagged),
    }
    seen = 0
    async with engine.connect() as connection:
        for table, (unit, keys, source) in tables.items():
            coalesced = "".join(f"coalesce({key}, ''), " for key in keys.split(", ") if key)
            # The daily tables of users: the UTC hours of day of the first and last message.
            hours = "extract(hour FROM ts AT TIME ZONE 'UTC')::smallint"
            day_hours = f", min({hours}), max({hours})" if table.endswith("_users") else ""
            day_hours = day_hours if unit == "day" else ""
            grouped_sql = (
                f"SELECT app_id, date_trunc('{unit}', ts, 'UTC'), {coalesced}{measures}"  # noqa: S608
                f"{day_hours} FROM {source} GROUP BY app_id, 2, {coalesced.rstrip(', ') or 2}"
            )
            expected = {tuple(row) for row in await connection.execute(text(grouped_sql))}
            actual = {
                tuple(row)
                for row in await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            }
            assert actual == expected, table
            seen += len(actual)
        seen += await _sets_match_messages(connection)
    return seen


async def _sets_match_messages(connection: AsyncConnection) -> int:
    """Assert each day set (and tag's) holds the numbers of exactly the users of its UTC day's
    messages (an empty set for a day of messages without users), each user one number, sorted,
    with each one's first and last UTC hour of that day, and those of the messages without a
    user (null when there are none); returns the sets seen."""
    found = await connection.execute(text("SELECT user_id, number FROM user_numbers"))
    numbers: dict[str, int] = {user: number for user, number in found}  # noqa: C416
    assert len(set(numbers.values())) == len(numbers)
    hour = "extract(hour FROM ts AT TIME ZONE 'UTC')::int"
    seen = 0
    for table, keys, source in (
        ("usage_daily_user_sets", "", "messages"),
        ("usage_daily_tag_user_sets", "tag, ", "messages, unnest(tags) AS tag"),
    ):
        grouped_sql = (
            f"SELECT app_id, date_trunc('day', ts, 'UTC'), {keys}user_id,"  # noqa: S608
            f" min({hour}), max({hour}) FROM {source} GROUP BY app_id, 2, {keys}user_id"
        )
        days: dict[tuple[Any, ...], list[tuple[str | None, int, int]]] = {}
        for row in await connection.execute(text(grouped_sql)):
            *keyed, user, first, last = row
            days.setdefault(tuple(keyed), []).append((user, first, last))
        expected = set()
        for group, rows in days.items():
            named = sorted((numbers[user], first, last) for user, first, last in rows if user)
            unnamed = [(first, last) for user, first, last in rows if not user]
            expected.add(
                (
                    *group,
                    tuple(number for number, _, _ in named),
                    tuple(first for _, first, _ in named),
                    tuple(last for _, _, last in named),
                    unnamed[0][0] if unnamed else None,
                    unnamed[0][1] if unnamed else None,
                )
            )
        columns = f"app_id, day, {keys}users, first_hours, last_hours, unnamed_first, unnamed_last"
        stored = await connection.execute(text(f"SELECT {columns} FROM {table}"))  # noqa: S608
        actual = {
            (*row[:-5], tuple(row[-5]), tuple(row[-4]), tuple(row[-3]), row[-2], row[-1])
            for row in stored
        }
        assert actual == expected, table
        seen += len(actual)
    return seen


async def post(client: httpx.AsyncClient, events: list[Event]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=events)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["rejected"] == []
    return body


async def test_late_events_and_duplicates_keep_the_days_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    recent = [e for e in EVENTS if when(e) >= datetime(2026, 3, 20, tzinfo=UTC)]
    late = [e for e in EVENTS if when(e) < datetime(2026, 3, 20, tzinfo=UTC)]
    await post(client, recent)
    assert await daily_matches_messages(engine) > 100
    query = '{ usage(filter: {from: "2026-03-01T00:00:00Z"}) { summary { users messages } } }'
    before = (await graphql(client, query))["usage"]["summary"]
    assert before == {"users": len(_users(recent)), "messages": len(recent)}
    # Events of days already summed arrive late, some twice, some with stored ones.
    assert (await post(client, late[:1000]))["duplicates"] == 0
    assert (await post(client, late[500:] + recent[:300]))["duplicates"] == 800
    assert await daily_matches_messages(engine) > 100
    with count_statements(engine) as sql:
        after = (await graphql(client, query))["usage"]["summary"]
    assert sql.count == 1
    # From 1 March, open-ended: whole UTC months only.
    assert reads(sql, "usage_monthly_users") == (way == "rollups"), sql
    assert after == {"users": len(_users(EVENTS)), "messages": len(EVENTS)}


@pytest.mark.usefixtures("loaded")
async def test_prune_keeps_what_days_and_hours_hold(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """After a prune at 10:30 on 20 March (10:00, rounded), questions over whole hours before
    it keep their answers from days and hours; one whose period starts inside an hour before
    it fails, naming the horizon."""
    whole = filter_argument("2026-03-05T13:00:00Z", "2026-03-25T00:00:00Z")
    query = (
        """{ usage(filter: %s, timezone: "Europe/Berlin") { summary { users messages }
        activeUsers(period: WEEK) { start users }
        tags(limit: 3) { tag metrics { users } } } }"""
        % whole
    )
    before = (await graphql(client, query))["usage"]
    await prune(engine, datetime(2026, 3, 20, 10, 30, tzinfo=UTC), wait_seconds=0)
    await app.state.horizon.refresh(engine)
    if way == "raw":  # raw events were pruned: every question over them fails
        response = await client.post("/graphql", json={"query": query})
        assert "which were pruned" in response.json()["errors"][0]["message"]
        return
    with count_statements(engine) as sql:
        assert (await graphql(client, query))["usage"] == before
    assert sql.count == 3
    assert reads(sql, "usage_daily_user_sets"), sql
    kept = between(datetime(2026, 3, 5, 13, tzinfo=UTC), datetime(2026, 3, 25, tzinfo=UTC))
    assert before["summary"] == {"users": len(_users(kept)), "messages": len(kept)}
    inside = filter_argument("2026-03-05T13:30:00Z", "2026-03-25T00:00:00Z")
    response = await client.post(
        "/graphql", json={"query": "{ usage(filter: %s) { summary { users } } }" % inside}
    )
    error = response.json()["errors"][0]["message"]
    assert "needs raw events from before 2026-03-20T10:00:00Z, which were pruned" in error


def test_the_data_has_what_the_edges_need() -> None:
    """Events near the period edges and in every bucket, so that a piece read twice or missed
    would change an answer."""
    edges = [  # partial hours and edge hours of PERIODS, and the EU's DST day
        ("2026-03-03T13:00:00Z", "2026-03-04T00:00:00Z"),
        ("2026-03-27T00:00:00Z", "2026-03-27T07:00:00Z"),
        ("2026-03-03T13:17:05Z", "2026-03-03T14:00:00Z"),
        ("2026-03-27T07:00:00Z", "2026-03-27T07:44:00Z"),
        ("2026-03-29T00:00:00Z", "2026-03-29T22:00:00Z"),
    ]
    for start, end in edges:
        assert between(moment(start), moment(end)), (start, end)
    berlin = ZoneInfo("Europe/Berlin")
    sunday_evenings = [
        e for e in EVENTS if when(e).astimezone(berlin).weekday() == 0 and when(e).hour == 23
    ]
    assert sunday_evenings  # Monday in Berlin, still Sunday in UTC: a week's boundary day


def test_metrics_no_daily_table_holds_together_are_split_among_daily_tables() -> None:
    question = Question(frozenset({Metric.USERS, Metric.MODELS, Metric.MESSAGES}))
    whole_days = Filter(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 27, tzinfo=UTC))
    parts = rollups.plans(question, whole_days, "UTC", (), ())
    answered = {
        chosen.daily.table.name: metrics
        for metrics, chosen in parts
        if chosen is not None and chosen.daily is not None
    }
    assert len(answered) == len(parts)
    # The sums ride along with the distinct models (the smaller table); users apart.
    assert answered == {
        "usage_daily_user_sets": {Metric.USERS},
        "usage_daily": {Metric.MODELS, Metric.MESSAGES},
    }
    # One table answers: no split.
    users = replace(question, metrics=frozenset({Metric.USERS}))
    assert rollups.plans(users, whole_days, "UTC", (), ()) == (
        (users.metrics, rollups.plan(users, whole_days, "UTC", (), ())),
    )
    # No whole UTC day (local days in Berlin): the chats' hourly table answers them together.
    berlin_days = Question(question.metrics, (TimeBucket(Granularity.DAY),))
    (only,) = rollups.plans(berlin_days, whole_days, "Europe/Berlin", (), ())
    assert only[0] == berlin_days.metrics
    assert only[1] is not None
    assert only[1].rollup.table.name == "usage_hourly_chats"


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(PERIODS))
async def test_split_metrics_give_one_answer_per_key(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, way: str
) -> None:
    start, end = PERIODS[name]
    query = """{ usage(filter: %s) {
        summary { users models messages tokens { total } }
        tags(limit: 100) { tag metrics { users models requests } } } }""" % filter_argument(
        start, end
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 2, sql
    if way == "rollups" and name != "open start":
        months = name == "open end"  # whole UTC months: rows per user and month
        assert reads(sql, "usage_daily_users" if months else "usage_daily_user_sets"), sql
        assert reads(sql, "usage_daily"), sql
    kept = between(moment(start), moment(end))
    summary = usage["summary"]
    same(summary, expected_part(summary, metrics(kept)), f"{name}: summary")
    per_tag = grouped(kept, lambda e: e.get("tags") or [])
    assert {row["tag"] for row in usage["tags"]} == set(per_tag)
    for row in usage["tags"]:
        reference = expected_part(row["metrics"], metrics(per_tag[row["tag"]]))
        same(row["metrics"], reference, f"{name}: {row['tag']}")


@pytest.mark.usefixtures("loaded")
async def test_drilling_into_rows_without_a_key_counts_their_events(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """A row of a breakdown whose model or user is absent, drilled into: rollups hold those
    events under '' and must find them as raw events' NULL."""
    query = """{ usage(filter: {from: "2026-03-03T13:17:05Z", to: "2026-03-27T00:00:00Z"}) {
        breakdown(by: [MODEL, USER], limit: 1000) { keys { value }
          usage { summary { messages users requests } } } } }"""
    with count_statements(engine) as sql:
        rows = (await graphql(client, query))["usage"]["breakdown"]
    assert sql.count == 2, sql  # the rows, then every row's summary in one statement
    kept = between(moment("2026-03-03T13:17:05Z"), moment("2026-03-27T00:00:00Z"))
    per_key = grouped(kept, lambda e: [(e.get("model"), e.get("user"))])
    assert {(r["keys"][0]["value"], r["keys"][1]["value"]) for r in rows} == set(per_key)
    assert any(None in key for key in per_key)  # rows without a model, without a user
    for row in rows:
        key = (row["keys"][0]["value"], row["keys"][1]["value"])
        reference = metrics(per_key[key])
        summary = row["usage"]["summary"]
        assert summary == {name: reference[name] for name in summary}, key
