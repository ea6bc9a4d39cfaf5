"""User numbers and day sets (usageql.ingest.user_sets) under concurrent batches: each user id
gets one number whichever batch sees it first, no number is spent on a user already numbered,
and the sets stay equal to the users of each day's messages (tests/test_daily checks them against
every edge of the questions that read them, both ways)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import make_events
from tests.test_daily import daily_matches_messages, post, reads

LAST_NUMBER = "SELECT last_value FROM user_numbers_number_seq"


async def numbers(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT user_id, number FROM user_numbers"))
        return {user: number for user, number in rows}  # noqa: C416


async def test_concurrent_batches_number_each_user_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    events = make_events(1200, seed=5)
    # Six batches at once, every one with users no batch stored before (40 users in all).
    batches = [events[start : start + 200] for start in range(0, len(events), 200)]
    answers = await asyncio.gather(*(post(client, batch) for batch in batches))
    assert all(answer["rejected"] == [] for answer in answers)
    numbered = await numbers(engine)
    assert set(numbered) == {e["user"] for e in events if "user" in e}
    assert len(set(numbered.values())) == len(numbered)
    assert await daily_matches_messages(engine) > 100


async def test_no_number_is_spent_on_a_user_already_numbered(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first, again = make_events(600, seed=6), make_events(600, seed=7)
    await post(client, first)
    async with engine.connect() as connection:
        spent = await connection.scalar(text(LAST_NUMBER))
    known = {e["user"] for e in first if "user" in e}
    assert spent == len(known) == len(await numbers(engine))
    # The same 40 user ids in new events, and one new user.
    later: list[dict[str, Any]] = [{**e, "id": f"again-{e['id']}"} for e in again]
    later[0] = {**later[0], "user": "someone-new"}
    await post(client, later)
    async with engine.connect() as connection:
        assert await connection.scalar(text(LAST_NUMBER)) == spent + 1
    assert len(await numbers(engine)) == len(known) + 1
    assert await daily_matches_messages(engine) > 100


async def test_a_day_of_messages_without_users_is_a_bucket_with_none(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Its set is empty, and the day still has a row (0 users), as over raw events."""
    anonymous = [
        {"id": f"n{n}", "timestamp": f"2026-03-0{day}T12:00:00Z", "app": "a1", "role": "user"}
        for n, day in enumerate((2, 3, 3))
    ]
    named = {**anonymous[0], "id": "named", "user": "u1", "timestamp": "2026-03-04T12:00:00Z"}
    await post(client, [*anonymous, named])
    query = """{ usage(filter: {from: "2026-03-02T00:00:00Z", to: "2026-03-05T00:00:00Z"}) {
        summary { users messages }
        timeseries(granularity: DAY, fillGaps: false) { start metrics { users messages } } } }"""
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 2
    assert reads(sql, "usage_daily_user_sets"), sql
    assert usage["summary"] == {"users": 1, "messages": 4}
    assert [(row["start"][:10], row["metrics"]) for row in usage["timeseries"]] == [
        ("2026-03-02", {"users": 0, "messages": 1}),
        ("2026-03-03", {"users": 0, "messages": 2}),
        ("2026-03-04", {"users": 1, "messages": 1}),
    ]
    async with engine.connect() as connection:
        sets = await connection.execute(text("SELECT day, users FROM usage_daily_user_sets"))
        assert sorted((day.day, len(users)) for day, users in sets) == [(2, 0), (3, 0), (4, 1)]


async def test_a_bucket_of_one_set_counts_its_users_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A bucket read from one row of sets counts that set's size, not unnested: a whole day's
    set, a day's last hour from its set (the members whose last hour it is; a user with two
    models there has two hourly rows), and a partial hour from raw events (two messages at one
    time), each user once."""

    def event(n: int, at: str, user: str, model: str = "m1", app: str = "a1") -> dict[str, Any]:
        return {
            "id": f"e{n}",
            "timestamp": f"2026-03-{at}Z",
            "app": app,
            "role": "user",
            "user": user,
            "model": model,
        }

    events = [
        event(1, "02T23:10:00", "u1", "m1"),  # the first bucket: the day's last hour
        event(2, "02T23:20:00", "u1", "m2"),
        event(3, "02T23:30:00", "u2"),
        event(4, "03T08:00:00", "u1"),  # a whole day of one app: one set
        event(5, "03T09:00:00", "u2"),
        event(6, "03T10:00:00", "u3"),
        event(7, "04T08:00:00", "u1"),  # a whole day of two apps: two sets, u1 in both
        event(8, "04T09:00:00", "u1", app="a2"),
        event(9, "04T10:00:00", "u4", app="a2"),
        event(10, "05T10:10:00", "u1", "m1"),  # a partial hour: raw events at one time
        event(11, "05T10:10:00", "u1", "m2"),
        event(12, "05T10:10:00", "u3"),
    ]
    await post(client, events)
    query = """{ usage(filter: {from: "2026-03-02T23:00:00Z", to: "2026-03-05T10:45:00Z"}) {
        timeseries(granularity: DAY, fillGaps: false) { start metrics { users } } } }"""
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 1
    assert reads(sql, "usage_daily_user_sets"), sql
    assert not reads(sql, "usage_hourly_chats"), sql  # no hour of users but from the sets
    assert [(row["start"][:10], row["metrics"]["users"]) for row in usage["timeseries"]] == [
        ("2026-03-02", 2),
        ("2026-03-03", 3),
        ("2026-03-04", 2),
        ("2026-03-05", 2),
    ]
