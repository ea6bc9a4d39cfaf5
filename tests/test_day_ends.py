"""The first and last hours of a UTC day read from the days' rows of users (pieces.day_ends).

A Berlin week starts at 22:00 or 23:00 UTC on a Sunday; a New York day at 04:00 or 05:00 UTC.
Distinct users over the UTC day's hours before such a boundary are the users whose first message
of the day came before it, and over the hours after it those whose last message came at or after
it (`first_hour`, `last_hour` of usage_daily_users and usage_daily_tag_users). Each test runs from
raw events and from rollups (tests.ways), against plain Python with zoneinfo, with users whose
only message is a second either side of a boundary, across the end of summer time, late
events that move a user's first or last hour, duplicates, and messages without a user.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.compacted import database_url, way
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import local_bucket
from tests.test_daily import post, reads
from tests.ways import settings
from usageql.query import pieces

__all__ = [
    "database_url",
    "settings",
    "way",
]  # fixtures: every test runs from raw events and from rollups

Event = dict[str, Any]
Row = tuple[str | None, str, list[str]]  # user, timestamp (UTC), tags
SPAN = ("2026-10-12T00:00:00Z", "2026-11-03T00:00:00Z")
# Berlin's Mondays start at 22:00 UTC on 18 October (summer time)
# and at 23:00 UTC on 25 October and 1 November; New York's days at 04:00 UTC until 1 November,
# then at 05:00.
MESSAGES: list[Row] = [
    ("before-summer-monday", "2026-10-18T21:59:59Z", ["ua:a"]),
    ("at-summer-monday", "2026-10-18T22:00:00Z", ["ua:a"]),
    ("sunday-evening", "2026-10-25T22:59:59Z", ["ua:a", "ua:b"]),
    ("after-midnight", "2026-10-25T23:30:00Z", ["ua:b"]),
    ("both-ends", "2026-10-25T00:10:00Z", ["ua:a"]),
    ("both-ends", "2026-10-25T23:10:00Z", ["ua:b"]),
    ("utc-monday", "2026-10-26T00:00:00Z", ["ua:a"]),
    ("late", "2026-10-25T20:00:00Z", ["ua:a"]),
    ("new-york-night", "2026-10-24T03:59:59Z", ["ua:a"]),
    ("new-york-morning", "2026-10-24T04:00:00Z", ["ua:b"]),
    ("new-york-winter", "2026-11-02T04:30:00Z", ["ua:b"]),
    ("every-day", "2026-10-13T12:00:00Z", ["ua:a"]),
    ("every-day", "2026-10-20T05:00:00Z", ["ua:a"]),
    ("every-day", "2026-11-01T23:00:00Z", ["ua:b"]),
    (None, "2026-10-25T23:40:00Z", ["ua:c"]),  # a message without a user
]
# Sent later: the first message of "late" moves to 01:00 and its last to 23:00 of 25 October.
LATE: list[Row] = [
    ("late", "2026-10-25T23:20:00Z", ["ua:a"]),
    ("late", "2026-10-25T01:00:00Z", ["ua:b"]),
]


def events(rows: list[Row], prefix: str) -> list[Event]:
    made = []
    for n, (user, at, tags) in enumerate(rows):
        event: Event = {"id": f"{prefix}{n}", "timestamp": at, "app": "a1", "role": "user"}
        made.append({**event, "tags": tags, **({"user": user} if user else {})})
    return made


def expected(sent: list[Event], zone: str, granularity: str, tag: str | None) -> dict[str, int]:
    """Distinct users per local bucket of the events in SPAN (with `tag`), by zoneinfo."""
    tz = ZoneInfo(zone)
    low, high = (datetime.fromisoformat(moment) for moment in SPAN)
    users: dict[datetime, set[str]] = {}
    for event in sent:
        at = datetime.fromisoformat(event["timestamp"])
        if not low <= at < high or (tag is not None and tag not in event["tags"]):
            continue
        found = users.setdefault(local_bucket(at, granularity, tz), set())
        found.update([event["user"]] if "user" in event else [])
    return {start.isoformat(): len(found) for start, found in users.items()}


QUERY = """{ usage(filter: {from: "%s", to: "%s"}, timezone: "%s") {
    activeUsers(period: %s) { start users }
    tags(filter: {tagContains: "ua:"}) { tag usage { activeUsers(period: %s) { start users } } }
} }"""


async def answers(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, granularity: str, way: str
) -> dict[str | None, dict[str, int]]:
    with count_statements(engine) as sql:
        usage = (await graphql(client, QUERY % (*SPAN, zone, granularity, granularity)))["usage"]
    assert sql.count == 3, sql  # active users, the tags, their active users
    if way == "rollups":
        # Both active users' statements read the days' sets, for the days inside weeks and for
        # the first (or last) hours of the days buckets start inside (their members' hours),
        # not the days' rows of users.
        assert reads(sql, "usage_daily_user_sets"), sql
        assert reads(sql, "usage_daily_tag_user_sets"), sql
        assert not reads(sql, "usage_daily_users"), sql
        assert not reads(sql, "usage_daily_tag_users"), sql

    def counted(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {datetime.fromisoformat(r["start"]).isoformat(): r["users"] for r in rows}

    found: dict[str | None, dict[str, int]] = {None: counted(usage["activeUsers"])}
    for row in usage["tags"]:
        found[row["tag"]] = counted(row["usage"]["activeUsers"])
    return found


@pytest.mark.parametrize(
    ("zone", "granularity"),
    [("Europe/Berlin", "WEEK"), ("Europe/Berlin", "DAY"), ("America/New_York", "DAY")],
)
async def test_users_either_side_of_a_boundary_inside_a_utc_day(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, granularity: str, way: str
) -> None:
    sent = events(MESSAGES, "m")
    await post(client, sent)
    found = await answers(client, engine, zone, granularity, way)
    assert_same(found, sent, zone, granularity)
    if (zone, granularity) == ("Europe/Berlin", "WEEK"):
        # The week of 26 October: its Sunday-night users and the user without an id's bucket.
        assert found[None]["2026-10-25T23:00:00+00:00"] == 3  # after-midnight, both, utc-monday
        assert found["ua:c"]["2026-10-25T23:00:00+00:00"] == 0
    # Late events move a user's first and last hour of the day; duplicates change nothing.
    late = events(LATE, "late")
    await post(client, late)
    await post(client, [*late, *sent[:3]])  # stored before: duplicates
    sent += late
    assert_same(await answers(client, engine, zone, granularity, way), sent, zone, granularity)


def assert_same(
    found: dict[str | None, dict[str, int]], sent: list[Event], zone: str, granularity: str
) -> None:
    """Every bucket with events has its users; the others (gaps filled) have none."""
    assert set(found) == {None, "ua:a", "ua:b", "ua:c"}
    for tag, buckets in found.items():
        wanted = expected(sent, zone, granularity, tag)
        assert set(wanted) <= set(buckets), tag
        assert buckets == {start: wanted.get(start, 0) for start in buckets}, tag


def test_the_first_and_last_hours_of_days_and_what_stays_hours() -> None:
    day = datetime.fromisoformat("2026-10-25T00:00:00+00:00")
    hour = timedelta(hours=1)
    monday = day + 23 * hour  # Berlin's, in UTC
    cut = pieces.Pieces(days=((day + 24 * hour, day + 72 * hour),), hours=((day, day + 24 * hour),))
    ends = pieces.day_ends(cut, frozenset({monday}))
    # The first 23 hours and the last hour, each from the day's set.
    assert ends.ends == ((day, monday), (monday, day + 24 * hour))
    assert ends.hours == ()
    assert ends.days == cut.days
    # A run over two days, cut at its midnight: the first day's last 6 hours and the second's
    # first 7 are ends; a run inside a day between two boundaries stays hours.
    run = pieces.Pieces(hours=((day + 18 * hour, day + 31 * hour),))
    assert pieces.day_ends(run, frozenset()).ends == (
        (day + 18 * hour, day + 24 * hour),
        (day + 24 * hour, day + 31 * hour),
    )
    middle = pieces.Pieces(hours=((day + 2 * hour, day + 20 * hour),))
    assert pieces.day_ends(middle, frozenset()) == middle
    unbounded = pieces.Pieces(hours=((None, day + 20 * hour),))
    assert pieces.day_ends(unbounded, frozenset()) == unbounded
    # More than MAX_BOUNDARIES boundaries (one inside each of as many days): hours, as before.
    many = pieces.MAX_BOUNDARIES + 1
    first = day - many * 24 * hour
    lates = frozenset(first + n * 24 * hour + 23 * hour for n in range(many))
    long_run = pieces.Pieces(hours=((first, day),))
    assert pieces.day_ends(long_run, lates) == long_run
    most = frozenset(sorted(lates)[1:])  # MAX_BOUNDARIES boundaries: each day's two ends
    assert len(pieces.day_ends(long_run, most).ends) == 2 * pieces.MAX_BOUNDARIES
    assert len(pieces.day_ends(long_run, frozenset(list(lates)[:10])).ends) == 20


async def test_hours_with_only_messages_without_a_user_are_a_row_with_no_users(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """A tag whose only messages in a day's first hours have no user is a row of the tags'
    list with 0 users, as over raw events: the day's end is a group even with no member."""
    await post(
        client,
        events(
            [
                (None, "2026-10-25T03:00:00Z", ["ua:lone"]),
                ("u1", "2026-10-25T21:00:00Z", ["ua:lone"]),  # the same day, after the period
                ("u2", "2026-10-25T02:00:00Z", ["ua:other"]),
            ],
            "lone",
        ),
    )
    query = """{ usage(filter: {from: "2026-10-24T00:00:00Z", to: "2026-10-25T20:00:00Z"}) {
        tags(orderBy: {metric: USERS}) { tag metrics { users messages } } } }"""
    with count_statements(engine) as sql:
        tags = (await graphql(client, query))["usage"]["tags"]
    assert sql.count == 1, sql
    assert tags == [
        {"tag": "ua:other", "metrics": {"users": 1, "messages": 1}},
        {"tag": "ua:lone", "metrics": {"users": 0, "messages": 1}},
    ]
    if way == "rollups":  # the day's first 20 hours from its sets (pieces.day_ends)
        assert reads(sql, "ends JOIN usage_daily_tag_user_sets"), sql
