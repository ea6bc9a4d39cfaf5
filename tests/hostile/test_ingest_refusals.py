"""A record the database refuses costs only itself: it is rejected with PostgreSQL's words, the
rest of its batch is stored exactly once with the rollups exact, and a retry answers the same.

The refusals are real: each test adds a CHECK constraint to its own database, a stand-in for any
value validation might let through that PostgreSQL will not store.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql_counted
from tests.test_rollups import rollup_matches_messages
from usageql.cli import main
from usageql.db.engine import create_engine
from usageql.db.tables import feedback, messages, usage_hourly

NDJSON = {"content-type": "application/x-ndjson"}
MODELS = ("gpt-4o", "o3", "claude-sonnet-4-20250514", "my-finetune")
REFUSED = (
    'the database refused this record: new row for relation "messages" violates check'
    ' constraint "test_refuses"'
)


def good(n: int) -> dict[str, Any]:
    """One of 100 requests over 5 hours, 7 users, 9 chats and 4 models."""
    return {
        "id": f"g{n}",
        "timestamp": f"2026-03-01T{10 + n % 5:02}:{n % 60:02}:00Z",
        "model": MODELS[n % 4],
        "user": f"u{n % 7}",
        "chat_id": f"c{n % 9}",
        "usage": {"input_tokens": 100 + n, "output_tokens": n},
        "tags": [f"t{n % 3}"],
        "latency_ms": 10 * n,
    }


BAD = {**good(0), "id": "bad", "model": "refuse-me", "usage": {"input_tokens": 10**6}}
RECORDS = [good(n) for n in range(57)] + [BAD] + [good(n) for n in range(57, 100)]  # BAD: line 58


async def refuse(engine: AsyncEngine, table: str = "messages") -> None:
    """Make PostgreSQL refuse any row of `table` whose model is 'refuse-me'."""
    async with engine.begin() as connection:
        await connection.execute(
            text(f"ALTER TABLE {table} ADD CONSTRAINT test_refuses CHECK (model <> 'refuse-me')")
        )


async def totals(engine: AsyncEngine) -> tuple[int, int]:
    """(messages, input tokens) stored."""
    async with engine.connect() as connection:
        query = select(func.count(), func.coalesce(func.sum(messages.c.input_tokens), 0))
        count, tokens = (await connection.execute(query.select_from(messages))).one()
    return int(count), int(tokens)


GOOD_TOTALS = (100, sum(100 + n for n in range(100)))


async def test_post_events_stores_the_rest_and_a_retry_answers_the_same(
    client: httpx.AsyncClient, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await refuse(engine)
    body = b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS)
    rejection = {"line": 58, "id": "bad", "error": REFUSED}

    first = await client.post("/v1/events", content=body, headers=NDJSON)
    assert first.status_code == 200
    assert first.json() == {"accepted": 100, "duplicates": 0, "described": 0, "replaced": 0,
                            "rejected": [rejection], "conflicts": []}  # fmt: skip
    assert await totals(engine) == GOOD_TOTALS
    assert await rollup_matches_messages(engine) > 0
    (warning,) = [r for r in caplog.records if r.name == "usageql.ingest.write"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith("the database refused a record")
    assert (warning.__dict__["id"], warning.__dict__["refusal"]) == ("bad", REFUSED)

    again = await client.post("/v1/events", content=body, headers=NDJSON)
    assert again.json() == {"accepted": 0, "duplicates": 100, "described": 0, "replaced": 0,
                            "rejected": [rejection], "conflicts": []}  # fmt: skip
    assert await totals(engine) == GOOD_TOTALS
    assert await rollup_matches_messages(engine) > 0


async def test_what_depends_on_a_refused_record_follows_it(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await refuse(engine)
    rates_it = {"type": "feedback", "id": "f1", "timestamp": "2026-03-01T12:00:00Z",
                "message_id": "bad", "rating": 1}  # fmt: skip
    response = await client.post("/v1/events", json=[good(1), BAD, BAD, rates_it])
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"] == [
        {"index": 1, "id": "bad", "error": REFUSED},
        {"index": 2, "id": "bad", "error": "id: repeats the id of index 1, which was rejected;"
         " a batch stores one record per id"},
        {"index": 3, "id": "f1", "error": "model: required, and message_id 'bad' names no"
         " stored message with a model"},
    ]  # fmt: skip
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(feedback)) == 0
        users = await connection.scalar(text("SELECT array_agg(user_id) FROM users"))
    assert users == ["u1"]  # the refused record's user u0 was not described either


async def test_a_refusal_in_the_rollups_keeps_messages_and_rollups_together(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await refuse(engine, usage_hourly.name)
    response = await client.post("/v1/events", json=RECORDS)
    refused = REFUSED.replace('"messages"', '"usage_hourly"')
    assert response.json()["rejected"] == [{"index": 57, "id": "bad", "error": refused}]
    assert await totals(engine) == GOOD_TOTALS  # its message went with its rollup rows
    assert await rollup_matches_messages(engine) > 0


async def test_record_messages_stores_the_rest(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await refuse(engine)
    mutation = """mutation($m: [MessageInput!]!) { recordMessages(messages: $m) {
      accepted duplicates rejected { index id field error } } }"""
    batch = [
        {"id": r["id"], "timestamp": r["timestamp"], "model": r["model"],
         "usage": {"inputTokens": r["usage"]["input_tokens"]}}
        for r in RECORDS
    ]  # fmt: skip
    # The price book; then the batch and each half that holds BAD (101, 51, 25, 12, 6, 3, 2 and
    # 1 records: 8 attempts) fail at the COPY, 2 statements each (the savepoint, its rollback);
    # the other halves (50, 26, 13, 6, 3, 1 and 1 records) are stored, 5 statements each (the
    # savepoint and its release around the COPY, apps, the compaction lock, rollups).
    data = await graphql_counted(client, engine, mutation, 1 + 8 * 2 + 7 * 5, {"m": batch})
    assert data["recordMessages"] == {
        "accepted": 100,
        "duplicates": 0,
        "rejected": [{"index": 57, "id": "bad", "field": None, "error": REFUSED}],
    }
    assert await totals(engine) == GOOD_TOTALS
    assert await rollup_matches_messages(engine) > 0


def test_import_stores_the_rest_and_a_rerun_answers_the_same(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "refused.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))

    async def prepare() -> None:
        engine = create_engine(env, pool_size=1)
        try:
            await refuse(engine)
        finally:
            await engine.dispose()

    async def check() -> None:
        engine = create_engine(env, pool_size=1)
        try:
            assert await totals(engine) == GOOD_TOTALS
            assert await rollup_matches_messages(engine) > 0
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    for stored, already in ((100, 0), (0, 100)):
        assert main(["import", str(path), "--batch-size", "40"]) == 1  # a record was rejected
        err = capsys.readouterr().err
        summary = f": {stored} stored, {already} already stored, 0 chat records applied, 1 rejected"
        assert f"{summary}, 0 conflicting" in err
        assert f"  {path} line 58 (id bad): {REFUSED}" in err
        asyncio.run(check())
