"""The GraphQL ingestion and price mutations: the same parser and writer as POST /v1/events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from usageql.db.tables import chats, feedback, messages

RECORD = """
mutation Record($messages: [MessageInput!]!) {
  recordMessages(messages: $messages) { accepted duplicates rejected { index id field error } }
}
"""
WHEN = "2026-03-01T12:00:00+00:00"


def message(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "timestamp": WHEN, "model": "gpt-4o", **fields}


async def _rows(engine: AsyncEngine, table: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(table))).all())


async def test_record_messages_stores_and_reports_per_record(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    batch = [
        message(
            "a",
            app="shop",
            role="ASSISTANT",
            chatId="c1",
            user={"id": "u1", "name": "Ana", "email": "ana@example.com"},
            provider="openai",
            usage={"inputTokens": 100, "outputTokens": 20, "cacheReadTokens": 40},
            latencyMs=900.0,
            ttftMs=200.0,
            tags=["User-Agent:test/1.0"],
            metadata={"team": "core", "tier": 2},
            content="hello there",
        ),
        message("b", chatId="c1", latencyMs=100.0, ttftMs=300.0),
        message("c", usage={"outputTokens": 5, "reasoningTokens": 9}),
    ]
    with count_statements(engine) as sql:
        data = await graphql(client, RECORD, {"messages": batch})
    report = data["recordMessages"]
    assert (report["accepted"], report["duplicates"]) == (1, 0)
    assert report["rejected"] == [
        {
            "index": 1,
            "id": "b",
            "field": "ttftMs",
            "error": "ttftMs: 300 is more than latency_ms 100",
        },
        {
            "index": 2,
            "id": "c",
            "field": "usage",
            "error": "usage: reasoning tokens (9) exceed the output tokens (5); output tokens"
            " include reasoning",
        },
    ]
    # price book, apps, users, staging table, move, chats, user numbers, the compaction lock,
    # rollups, chat spans, the chats' tags copied to chat_models: one each, whatever the size
    assert sql.count == 11, sql
    (row,) = await _rows(engine, messages)
    assert (row.app_id, row.chat_id, row.user_id, row.input_tokens, row.cache_read_tokens) == (
        "shop", "c1", "u1", 100, 40,
    )  # fmt: skip
    assert row.metadata == {"team": "core", "tier": 2}
    assert row.content_preview == "hello there"
    assert row.cost == (Decimal(60) * Decimal("2.5") + 40 * Decimal("1.25") + 20 * 10) / 10**6


async def test_statements_do_not_grow_with_the_batch(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    with count_statements(engine) as one:
        await graphql(client, RECORD, {"messages": [message("m0", user={"id": "u0"}, chatId="c0")]})
    fifty = [message(f"n{n}", user={"id": f"u{n}"}, chatId=f"c{n}") for n in range(50)]
    with count_statements(engine) as many:
        data = await graphql(client, RECORD, {"messages": fifty})
    assert data["recordMessages"]["accepted"] == 50
    assert one.count == many.count == 11


async def test_provider_usage_passes_through_and_is_exclusive_with_usage(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    anthropic = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90}
    batch = [
        message("p", model="claude-sonnet-4-20250514", providerUsage=anthropic),
        message("q", usage={"inputTokens": 1}, providerUsage=anthropic),
        message("r", providerUsage={"prompt_tokens": -1}),
    ]
    with count_statements(engine) as sql:
        report = (await graphql(client, RECORD, {"messages": batch}))["recordMessages"]
    # price book, apps, staging table, move, the compaction lock, rollups: no users or chats
    assert sql.count == 6
    assert report["accepted"] == 1
    assert report["rejected"] == [
        {
            "index": 1,
            "id": None,
            "field": None,
            "error": "usage: give either usage or providerUsage, not both",
        },
        {
            "index": 2,
            "id": "r",
            "field": "providerUsage.prompt_tokens",
            "error": "providerUsage.prompt_tokens: must not be negative, got -1",
        },
    ]
    (row,) = await _rows(engine, messages)
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens) == (100, 90, 5)


async def test_naive_timestamps_are_rejected_like_everywhere_else(
    client: httpx.AsyncClient,
) -> None:
    data = await graphql(client, RECORD, {"messages": [message("t", timestamp="2026-03-01T12:00")]})
    (rejection,) = data["recordMessages"]["rejected"]
    assert rejection["error"].startswith("timestamp: needs a UTC offset")


async def test_feedback_and_chats(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await graphql(client, RECORD, {"messages": [message("m1", model="o3", chatId="c1")]})
    with count_statements(engine) as sql:
        rated = await graphql(
            client,
            """mutation($f: [FeedbackInput!]!) {
              recordFeedback(feedback: $f) { accepted duplicates rejected { index field error } }
            }""",
            {
                "f": [
                    {"id": "f1", "timestamp": WHEN, "rating": 1, "messageId": "m1"},
                    {"id": "f2", "timestamp": WHEN, "rating": 3, "model": "o3"},
                ]
            },
        )
    assert sql.count == 4  # price book, apps, the rated message's model, the insert
    assert rated["recordFeedback"]["accepted"] == 1
    assert rated["recordFeedback"]["rejected"] == [
        {"index": 1, "field": "rating", "error": "rating: expected 1, -1, 'up' or 'down', got 3"}
    ]
    upsert = """mutation($c: [ChatInput!]!) {
      upsertChats(chats: $c) { accepted duplicates described rejected { index error } } }"""
    chat_record = {"id": "c1", "timestamp": WHEN, "title": "Plans", "tags": ["billing"]}
    with count_statements(engine) as chat_sql:
        described = await graphql(client, upsert, {"c": [chat_record]})
    assert chat_sql.count == 4  # price book, apps, the upsert, the tags copied to chat_models
    report = {"accepted": 0, "duplicates": 0, "described": 1, "rejected": []}
    assert described["upsertChats"] == report
    # Sent again, it is applied again: still described, never counted as stored.
    assert (await graphql(client, upsert, {"c": [chat_record]}))["upsertChats"] == report
    (chat,) = await _rows(engine, chats)
    assert (chat.title, chat.tags) == ("Plans", ["billing"])
    (rating,) = await _rows(engine, feedback)
    assert (rating.model, rating.rating) == ("o3", 1)


async def test_too_many_records_is_a_clear_error(client: httpx.AsyncClient) -> None:
    batch = [message(f"m{n}") for n in range(10_001)]
    response = await client.post(
        "/graphql", json={"query": RECORD, "variables": {"messages": batch}}
    )
    (error,) = response.json()["errors"]
    assert error["message"] == (
        "10,001 records in one request (recordMessages, recordFeedback and upsertChats"
        " together, whatever their aliases); at most 10,000 are accepted"
        " (USAGEQL_MAX_BATCH_RECORDS): split them over several requests. Nothing was stored"
    )


async def test_mutations_are_refused_over_get(client: httpx.AsyncClient) -> None:
    query = "mutation { upsertChats(chats: []) { accepted } }"
    response = await client.get("/graphql", params={"query": query})
    assert response.status_code == 400
    assert response.text == "mutations are not allowed when using GET"


PRICES = "{ prices(includeBuiltin: false) { model app input output cacheRead source } }"


async def test_prices_can_be_set_listed_and_deleted(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    set_prices = """mutation($p: [PriceInput!]!) {
      setPrices(prices: $p) { model app input output cacheRead cacheWrite reasoning source }
    }"""
    entries = [
        {"model": "my-model", "input": 1.5, "output": 3, "cacheRead": 0.15},
        {"model": "my-model", "app": "vip", "input": 1, "output": 2},
    ]
    with count_statements(engine) as sql:
        data = await graphql(client, set_prices, {"p": entries})
    assert sql.count == 1
    assert data["setPrices"][0] == {
        "model": "my-model",
        "app": None,
        "input": 1.5,
        "output": 3.0,
        "cacheRead": 0.15,
        "cacheWrite": None,
        "reasoning": None,
        "source": "CONFIGURED",
    }
    with count_statements(engine) as listing:
        listed = (await graphql(client, PRICES))["prices"]
    assert listing.count == 1
    assert [(p["model"], p["app"]) for p in listed] == [("my-model", None), ("my-model", "vip")]

    with count_statements(engine) as everything:
        all_prices = (await graphql(client, "{ prices { model source } }"))["prices"]
    assert everything.count == 1
    assert {"model": "gpt-4o", "source": "BUILTIN"} in all_prices
    assert len(all_prices) >= 30

    usage = {"inputTokens": 1_000_000, "outputTokens": 1_000_000}
    await graphql(client, RECORD, {"messages": [message("priced", model="my-model", usage=usage)]})
    (row,) = await _rows(engine, messages)
    assert row.cost == Decimal("4.5")

    removed = await graphql(client, 'mutation { deletePrices(models: ["my-model"]) }')
    assert removed == {"deletePrices": 1}
    with count_statements(engine) as after:
        remaining = (await graphql(client, PRICES))["prices"]
    assert after.count == 1
    assert [(p["model"], p["app"]) for p in remaining] == [("my-model", "vip")]


async def test_bad_prices_name_the_entry_and_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": 'mutation { setPrices(prices: [{model: "m", input: 1, output: 1},'
            ' {model: "n", input: -2, output: 1}]) { model } }'
        },
    )
    (error,) = response.json()["errors"]
    assert error["message"] == (
        "prices[1].input: -2.0 is not a price in USD per million tokens (0 to 10,000)"
    )


async def test_nul_characters_in_price_arguments_are_refused(client: httpx.AsyncClient) -> None:
    for query in (
        'mutation { deletePrices(models: ["a\\u0000"]) }',
        'mutation { setPrices(prices: [{model: "a\\u0000", input: 1, output: 1}]) { model } }',
    ):
        response = await client.post("/graphql", json={"query": query})
        (error,) = response.json()["errors"]
        assert "NUL" in error["message"] or "model name" in error["message"]
        assert error.get("extensions", {}).get("code") != "INTERNAL"
