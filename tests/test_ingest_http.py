"""POST /v1/events against a real database: partial batches, duplicates, limits, encodings."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import app_client
from usageql.config import Settings
from usageql.db.tables import feedback, messages, users
from usageql.ingest.parse import ParseOptions
from usageql.ingest.pipeline import Ingestor, Location
from usageql.ingest.price_table import PriceEntry, set_prices
from usageql.ingest.pricing import Price

NDJSON = {"content-type": "application/x-ndjson"}
WHEN = "2026-03-01T12:00:00Z"


def request(id: str, **fields: Any) -> dict[str, Any]:
    """An assistant message record as an application sends it."""
    return {"id": id, "timestamp": WHEN, "model": "gpt-4o", **fields}


def ndjson(*records: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


async def post(client: httpx.AsyncClient, *records: object) -> httpx.Response:
    return await client.post("/v1/events", content=ndjson(*records), headers=NDJSON)


async def count(engine: AsyncEngine, table: Any = messages) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def stored(engine: AsyncEngine, message_id: str) -> Any:
    async with engine.connect() as connection:
        query = select(messages).where(messages.c.message_id == message_id)
        return (await connection.execute(query)).one()


async def test_valid_records_are_stored_and_bad_ones_listed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = ndjson(request("a"), request("b", timestamp="2025-13-01"), request("c"))
    body += b"{not json\n\n" + ndjson({"type": "chat", "id": "chat-1", "timestamp": WHEN})
    response = await client.post("/v1/events", content=body, headers=NDJSON)
    assert response.status_code == 200
    not_json = (
        "not valid JSON: expected a key in double quotes at column 2, found 'not'; each line must"
        " be one JSON object"
    )
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "described": 1,
        "replaced": 0,
        "rejected": [
            {
                "line": 2,
                "id": "b",
                "error": "timestamp: not an ISO 8601 date-time: '2025-13-01'",
            },
            {"line": 4, "id": None, "error": not_json},
        ],
        "conflicts": [],
    }
    assert await count(engine) == 2


async def test_a_json_array_reports_indexes(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=[request("a"), request("b", role="boss")])
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert body["rejected"] == [
        {
            "index": 1,
            "id": "b",
            "error": "role: expected one of user, assistant, system, tool, got 'boss'",
        }
    ]


async def test_a_single_object_is_one_record(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=request("solo"))
    assert response.json()["accepted"] == 1


async def test_chat_records_are_counted_apart_so_a_batch_sent_again_stores_nothing_new(
    client: httpx.AsyncClient,
) -> None:
    chat = {"type": "chat", "id": "c1", "timestamp": WHEN, "title": "Plans"}
    batch = [request("a", chat_id="c1"), chat]
    first = await post(client, *batch)
    answer = {
        "accepted": 1,
        "duplicates": 0,
        "described": 1,
        "replaced": 0,
        "rejected": [],
        "conflicts": [],
    }
    assert first.json() == answer
    again = await post(client, *batch)
    assert again.json() == {**answer, "accepted": 0, "duplicates": 1}
    # A chat record is a usable record: with the rest rejected, the batch still gets 200.
    renamed = await post(client, {**chat, "title": "Renamed"}, {"id": "broken"})
    assert (renamed.status_code, renamed.json()["described"]) == (200, 1)


async def test_nothing_usable_is_422(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await post(client, request("x", cost=-1), {"id": "y"})
    assert response.status_code == 422
    assert [r["line"] for r in response.json()["rejected"]] == [1, 2]
    assert await count(engine) == 0


async def test_duplicates_within_and_across_batches(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await post(client, request("a"), request("b"), request("a"))
    assert (first.json()["accepted"], first.json()["duplicates"]) == (2, 1)
    again = await post(client, request("a"), request("b"), request("c"))
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 2)
    assert await count(engine) == 3


async def test_concurrent_requests_with_the_same_ids_count_each_record_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    records = [request(f"m{n}", user=f"u{n % 7}", chat_id=f"c{n % 5}") for n in range(300)]
    responses = await asyncio.gather(*(post(client, *records) for _ in range(6)))
    bodies = [r.json() for r in responses]
    assert sum(b["accepted"] for b in bodies) == 300
    assert sum(b["duplicates"] for b in bodies) == 5 * 300
    assert all(b["rejected"] == [] for b in bodies)
    assert await count(engine) == 300
    assert await count(engine, users) == 7


async def test_gzip_bodies_are_accepted(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    body = gzip.compress(ndjson(request("g1"), request("g2")))
    response = await client.post(
        "/v1/events", content=body, headers={**NDJSON, "content-encoding": "gzip"}
    )
    assert response.json()["accepted"] == 2
    broken = await client.post(
        "/v1/events", content=b"not gzip", headers={**NDJSON, "content-encoding": "gzip"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("the body is not valid gzip")
    assert await count(engine) == 2


@pytest.fixture
async def small_limits(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        max_body_bytes=4096,
        max_batch_records=5,
        content_preview_chars=10,
    )
    async with app_client(settings) as client:
        yield client


async def test_oversized_bodies_get_413_and_store_nothing(
    small_limits: httpx.AsyncClient,
) -> None:
    big = ndjson(*(request(f"m{n}", content="x" * 1000) for n in range(5)))
    assert len(big) > 4096
    response = await small_limits.post("/v1/events", content=big, headers=NDJSON)
    assert response.status_code == 413
    assert "larger than 4,096 bytes (USAGEQL_MAX_BODY_BYTES)" in response.json()["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 1000

    streamed = await small_limits.post("/v1/events", content=chunks(), headers=NDJSON)
    assert streamed.status_code == 413

    bomb = gzip.compress(b"\n" * 100_000)
    assert len(bomb) < 4096
    inflated = await small_limits.post(
        "/v1/events", content=bomb, headers={**NDJSON, "content-encoding": "gzip"}
    )
    assert inflated.status_code == 413
    assert inflated.json()["error"].endswith("(after decompression)")
    ok = await small_limits.post("/v1/events", content=ndjson(request("fits")), headers=NDJSON)
    assert ok.json()["accepted"] == 1


async def test_too_many_records_get_413(small_limits: httpx.AsyncClient) -> None:
    response = await small_limits.post(
        "/v1/events", content=ndjson(*(request(f"m{n}") for n in range(6))), headers=NDJSON
    )
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the batch has 6 records; at most 5 are accepted per request"
        " (USAGEQL_MAX_BATCH_RECORDS): split it"
    )


async def test_content_is_cut_to_the_configured_preview(
    small_limits: httpx.AsyncClient, database_url: str
) -> None:
    response = await small_limits.post(
        "/v1/events", content=ndjson(request("p", content="0123456789abcdef")), headers=NDJSON
    )
    assert response.json()["accepted"] == 1
    from usageql.db.engine import create_engine  # noqa: PLC0415

    engine = create_engine(database_url, pool_size=1)
    try:
        assert (await stored(engine, "p")).content_preview == "0123456789"
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"content-type": "text/csv"}, b"id\n", 415, "Content-Type 'text/csv' is not supported"),
        ({**NDJSON, "content-encoding": "br"}, b"{}", 415, "Content-Encoding 'br'"),
        (
            {"content-type": "application/json"},
            b"[1,",
            400,
            "the body is not valid JSON: it"
            " ends at column 4 with a string, object or array still open",
        ),
        ({"content-type": "application/json"}, b"42", 400, "expected a JSON array of records"),
    ],
)
async def test_unreadable_requests_are_refused_whole(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    response = await client.post("/v1/events", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]


async def test_a_body_without_content_type_is_sniffed(client: httpx.AsyncClient) -> None:
    as_array = await client.post("/v1/events", content=json.dumps([request("s1")]).encode())
    as_lines = await client.post("/v1/events", content=ndjson(request("s2"), request("s3")))
    assert (as_array.json()["accepted"], as_lines.json()["accepted"]) == (1, 2)


async def test_openai_anthropic_and_native_usage_store_the_same_numbers(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # One request: 1,000 prompt tokens of which 600 read from cache, 200 output of which 50
    # reasoning. Anthropic counts cache tokens outside input_tokens; OpenAI inside prompt_tokens.
    shapes = {
        "native": {
            "input_tokens": 1000,
            "output_tokens": 200,
            "cache_read_tokens": 600,
            "reasoning_tokens": 50,
        },
        "openai": {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 600},
            "completion_tokens_details": {"reasoning_tokens": 50},
        },
        "responses": {
            "input_tokens": 1000,
            "output_tokens": 200,
            "input_tokens_details": {"cached_tokens": 600},
            "output_tokens_details": {"reasoning_tokens": 50},
        },
    }
    anthropic = {"input_tokens": 400, "output_tokens": 200, "cache_read_input_tokens": 600}
    records = [request(name, usage=usage) for name, usage in shapes.items()]
    records.append(request("anthropic", usage=anthropic))
    assert (await post(client, *records)).json()["accepted"] == 4
    columns = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    for name in ("native", "openai", "responses", "anthropic"):
        row = await stored(engine, name)
        assert tuple(getattr(row, c) for c in columns) == (1000, 200, 600, 0), name
    for name in ("native", "openai", "responses"):
        assert (await stored(engine, name)).reasoning_tokens == 50
    # gpt-4o: 400 fresh x 2.50 + 600 cached x 1.25 + 200 output x 10.00, per million.
    gpt4o = (Decimal(400) * Decimal("2.5") + 600 * Decimal("1.25") + 200 * 10) / 1_000_000
    assert (await stored(engine, "openai")).cost == gpt4o
    assert (await stored(engine, "anthropic")).cost == gpt4o


async def test_costs_use_cache_write_prices_and_leave_unpriced_requests_null(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    sonnet = {
        "input_tokens": 100,
        "output_tokens": 300,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 1000,
    }
    records = [
        request("claude", model="claude-sonnet-4-20250514", usage=sonnet),
        request("dated", model="openai/gpt-4o-2024-08-06", usage={"input_tokens": 1_000_000}),
        request("local", model="my-finetune", usage={"input_tokens": 10, "output_tokens": 10}),
        request("reported", model="my-finetune", cost=0.25),
        {"id": "question", "timestamp": WHEN, "role": "user", "content": "hi"},
    ]
    assert (await post(client, *records)).json()["accepted"] == 5
    # Sonnet 4: 100 x 3 + 2,000 cache reads x 0.30 + 1,000 cache writes x 3.75 + 300 x 15.
    assert (await stored(engine, "claude")).cost == Decimal("0.00915")
    assert (await stored(engine, "dated")).cost == Decimal("2.5")  # priced as gpt-4o
    assert (await stored(engine, "local")).cost is None  # unpriced: counted, never 0
    assert (await stored(engine, "reported")).cost == Decimal("0.25")
    assert (await stored(engine, "question")).cost is None


async def test_configured_prices_apply_from_the_next_batch(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    await post(client, request("before", model="my-finetune", usage=usage))
    async with engine.begin() as connection:
        await set_prices(
            connection,
            [
                PriceEntry(model="my-finetune", price=Price(Decimal(1), Decimal(2))),
                PriceEntry(model="my-finetune", app="vip", price=Price(Decimal(0), Decimal(1))),
            ],
        )
    await post(
        client,
        request("after", model="my-finetune", usage=usage),
        request("vip", app="vip", model="my-finetune", usage=usage),
    )
    assert (await stored(engine, "before")).cost is None  # history is never rewritten
    assert (await stored(engine, "after")).cost == Decimal(3)
    assert (await stored(engine, "vip")).cost == Decimal(1)


async def test_feedback_takes_its_model_from_the_rated_message(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post(client, request("earlier", model="gpt-4.1"))
    response = await post(
        client,
        request("same-batch", model="o3"),
        {"type": "feedback", "id": "f1", "timestamp": WHEN, "message_id": "earlier", "rating": 1},
        {"type": "feedback", "id": "f2", "timestamp": WHEN, "message_id": "same-batch",
         "rating": "down"},
        {"type": "feedback", "id": "f3", "timestamp": WHEN, "message_id": "nowhere", "rating": 1},
    )  # fmt: skip
    body = response.json()
    assert body["accepted"] == 3
    assert body["rejected"] == [
        {
            "line": 4,
            "id": "f3",
            "error": "model: required, and message_id 'nowhere' names no stored message with a"
            " model",
        }
    ]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(feedback.c.feedback_id, feedback.c.model))).all()
    assert sorted(rows) == [("f1", "gpt-4.1"), ("f2", "o3")]


async def test_a_batch_interrupted_before_commit_and_sent_again_counts_exactly(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    records = [request(f"m{n}", user="u1", chat_id="c1") for n in range(50)]
    ingestor = Ingestor(engine, ParseOptions())
    batch, _, rejected = await ingestor.parse(
        [(Location("line", n), r) for n, r in enumerate(records)]
    )
    assert rejected == []
    from usageql.ingest.write import write_batch  # noqa: PLC0415

    # The server dies after writing but before COMMIT: its connection is cut mid-transaction.
    async with engine.connect() as victim:
        transaction = await victim.begin()
        await write_batch(victim, batch)
        pid = await victim.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError):
            await transaction.commit()
    assert await count(engine) == 0

    response = await post(client, *records)  # the client retries the whole batch
    assert (response.json()["accepted"], response.json()["duplicates"]) == (50, 0)
    retry = await post(client, *records)  # and once more, after a lost acknowledgement
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (0, 50)
    assert await count(engine) == 50


async def test_strings_with_nul_characters_are_rejected_alone(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await post(
        client,
        request("fine"),
        request("nul-content", content="a\x00b"),
        request("nul-tag", tags=["ok", "bad\x00"]),
        {"type": "chat", "id": "c\x00", "timestamp": WHEN},
    )
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "described": 0, "replaced": 0,
        "rejected": [
            {"line": 2, "id": "nul-content",
             "error": "content: contains a NUL character (\\u0000), which PostgreSQL cannot store"},
            {"line": 3, "id": "nul-tag",
             "error": "tags[1]: contains a NUL character (\\u0000), which PostgreSQL cannot store"},
            {"line": 4, "id": "c\x00",  # echoed as sent: JSON carries it
             "error": "id: contains a NUL character (\\u0000), which PostgreSQL cannot store"},
        ],
        "conflicts": [],
    }  # fmt: skip
    assert await count(engine) == 1
