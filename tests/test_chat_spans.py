"""Chat spans and hourly first appearances: kept exact by ingestion (late messages, duplicates,
concurrent batches of one chat), filled by migration 0008 from what is stored (pruned hours from
the chat rollup), and still answering for pruned periods."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.factories import message
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import EVENTS
from usageql.db.migrate import alembic_config, upgrade
from usageql.db.prune import prune
from usageql.ingest.records import Batch
from usageql.ingest.write import store_batch

SPANS = "SELECT app_id, chat_id, first_at, last_at FROM chat_spans"
FIRSTS = "SELECT app_id, hour, chats FROM chat_firsts_hourly WHERE chats <> 0"
# What they must hold: each chat's first and last message, and chats per hour of the first.
SPANS_OF_MESSAGES = """SELECT app_id, chat_id, min(ts), max(ts) FROM messages
  WHERE chat_id IS NOT NULL GROUP BY app_id, chat_id"""
FIRSTS_OF_MESSAGES = """SELECT app_id, hour, count(*) FROM (
  SELECT app_id, date_trunc('hour', min(ts), 'UTC') AS hour FROM messages
  WHERE chat_id IS NOT NULL GROUP BY app_id, chat_id) AS firsts GROUP BY app_id, hour"""


async def rows(engine: AsyncEngine, query: str) -> set[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return {tuple(row) for row in await connection.execute(text(query))}


async def spans_match_messages(engine: AsyncEngine) -> int:
    """Assert the spans and the counts are what `messages` says; returns the chats seen."""
    spans = await rows(engine, SPANS)
    assert spans == await rows(engine, SPANS_OF_MESSAGES)
    assert await rows(engine, FIRSTS) == await rows(engine, FIRSTS_OF_MESSAGES)
    return len(spans)


async def post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=events)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["rejected"] == []
    return body


async def test_late_messages_and_duplicates(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    # Random times over 40 days, in batches: most chats get messages older than their first.
    for start in range(0, 2000, 500):
        await post(client, EVENTS[start : start + 500])
    assert await spans_match_messages(engine) > 500
    # Sent again (all duplicates), then half stored and half new: only the new ones count.
    assert (await post(client, EVENTS[:1000]))["duplicates"] == 1000
    assert (await post(client, EVENTS[1500:3000]))["duplicates"] == 500
    assert await spans_match_messages(engine) > 500


async def test_concurrent_batches_of_one_chat(engine: AsyncEngine) -> None:
    """Eight batches at once, each with messages of chat c (some older than the others' first)
    and of chats of their own, three times over: no deadlock, and c counts once."""
    for round in range(3):
        batches = [
            Batch(
                messages=[
                    message(f"{round}-{n}-c", chat="c", minutes=(n * 37 + round * 500) % 900),
                    message(f"{round}-{n}-d", chat=f"d{n % 3}", minutes=n * 61 - round * 200),
                    message(f"{round}-{n}-own", chat=f"own-{round}-{n}", minutes=n * 7),
                ]
            )
            for n in range(8)
        ]
        results = await asyncio.gather(*(store_batch(engine, batch) for batch in batches))
        assert [result.messages for result in results] == [3] * 8
    assert await spans_match_messages(engine) == 1 + 3 + 24
    firsts = await rows(engine, "SELECT sum(chats) FROM chat_firsts_hourly")
    assert firsts == {(28,)}


WHOLE_HOURS = """{ usage(filter: {from: "2026-03-05T07:00:00Z", to: "2026-03-29T12:00:00Z"},
    timezone: "Europe/Berlin") { summary { chats }
    timeseries(granularity: DAY, fillGaps: false) { start metrics { chats } }
    apps { app metrics { chats } } } }"""
ALL_TIME = "{ usage { summary { chats messages } } }"


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def test_pruned_periods_keep_their_chats_and_the_migration_fills_them(
    app: Starlette,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for start in range(0, len(EVENTS), 1000):
        await post(client, EVENTS[start : start + 1000])
    before = await graphql(client, WHOLE_HOURS)
    chats = (await graphql(client, ALL_TIME))["usage"]["summary"]["chats"]
    spans = await rows(engine, SPANS)
    firsts = await rows(engine, FIRSTS)

    horizon = (
        await prune(engine, datetime(2026, 3, 20, 10, 30, tzinfo=UTC), wait_seconds=0)
    ).horizon
    await app.state.horizon.refresh(engine)
    # The spans outlive the pruned messages: every whole-hour question keeps its answer.
    with count_statements(engine) as sql:
        assert await graphql(client, WHOLE_HOURS) == before
    assert sql.count == 3  # the summary, the series, the apps
    assert (await graphql(client, ALL_TIME))["usage"]["summary"]["chats"] == chats
    # A period starting inside a pruned hour needs its raw events: refused, saying why.
    inside = '{ usage(filter: {from: "2026-03-10T10:30:00Z"}) { summary { chats } } }'
    response = await client.post("/graphql", json={"query": inside})
    assert (
        "needs raw events from before 2026-03-20T10:00:00Z"
        in response.json()["errors"][0]["message"]
    )

    # Filled again by the migration: pruned chats from the chat rollup's hours (each time the
    # start of its hour), the others from the messages kept.
    await downgrade(engine, "0007")
    with caplog.at_level(logging.INFO, logger="usageql.migrations"):
        await upgrade(engine)
    assert "migration 0008: chat spans from pruned hours, week 3 of 3" in caplog.text
    assert "migration 0008: chat spans from messages, week 3 of 3" in caplog.text
    refilled = await rows(engine, SPANS)

    def hour(moment: datetime) -> datetime:
        return moment.replace(minute=0, second=0, microsecond=0) if moment < horizon else moment

    assert refilled == {(a, c, hour(first), hour(last)) for a, c, first, last in spans}
    assert await rows(engine, FIRSTS) == firsts
    with count_statements(engine) as sql:
        assert await graphql(client, WHOLE_HOURS) == before
    assert sql.count == 3
    assert (await graphql(client, ALL_TIME))["usage"]["summary"]["chats"] == chats


async def test_statements_are_not_compiled_to_machine_code(engine: AsyncEngine) -> None:
    """The chat counts' subqueries are estimated far above what they read; compiling them
    would cost more than running them (docs/scaling.md)."""
    assert await rows(engine, "SHOW jit") == {("off",)}
