"""Bounds on the numbers of a record (usageql.ingest.bounds): in the parser, and on PostgreSQL.

The threat: one producer, careless or hostile, sends numbers no request has (a latency of 1e308
ms, 2^53 tokens, a metadata integer beyond 64 bits) and breaks an aggregate for every tenant, or
makes its whole batch fail. Each such record is rejected alone, naming the field and the bound,
and the largest legal values, summed over a rollup row of 10^9 records, still give exact answers.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import authorized_client
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import read_rollups
from usageql.app import create_app
from usageql.config import Settings
from usageql.db.tables import messages
from usageql.ingest.bounds import (
    MAX_COST,
    MAX_LATENCY_MS,
    MAX_METADATA_NUMBER,
    MAX_PRICE,
    MAX_TOKENS,
    ROLLUP_ROW_RECORDS,
)
from usageql.ingest.parse import ParseOptions, RecordError, parse_record
from usageql.ingest.records import Message, Usage
from usageql.ingest.rollup import DERIVED, ROLLUPS

WHEN = "2026-03-01T12:00:00Z"
NDJSON = {"content-type": "application/x-ndjson"}
TOO_MANY = "is more than 1,000,000,000, the most tokens one request may report"
METADATA = "is beyond ±9,007,199,254,740,992 (2^53), the largest integers JSON carries exactly"


def request(id: str, **fields: Any) -> dict[str, Any]:
    """An assistant message at WHEN (gpt-4o has a built-in price)."""
    return {"id": id, "timestamp": WHEN, "model": "gpt-4o", **fields}


async def post(client: httpx.AsyncClient, *records: object) -> httpx.Response:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    return await client.post("/v1/events", content=body, headers=NDJSON)


async def stored(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(messages)) or 0)


# The reproductions: each failed an aggregate or a whole batch before the bounds.


async def test_two_latencies_of_1e308_are_rejected_and_the_average_still_answers(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await post(
        client,
        request("huge-1", latency_ms=1e308),
        request("huge-2", latency_ms=1e308),
        request("fine", latency_ms=1200),
    )
    problem = (
        "latency_ms: 1e+308 is more than 604,800,000 (7 days), the most milliseconds one"
        " request may take"
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {"line": 1, "id": "huge-1", "error": problem},
        {"line": 2, "id": "huge-2", "error": problem},
    ]
    data = await graphql(client, "{ usage { summary { latencyMs { avg } } } }")
    assert data["usage"]["summary"]["latencyMs"] == {"avg": 1200.0}


async def test_512_requests_of_2_to_the_53_tokens_in_one_hour_are_rejected(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    huge = {"input_tokens": 2**53, "output_tokens": 2**53}
    # An unpriced model: no cost is computed, so only the token sums can overflow.
    records = [request(f"m{n}", model="my-finetune", usage=huge) for n in range(512)]
    response = await post(client, *records, request("fine", usage={"input_tokens": 7}))
    body = response.json()
    assert body["accepted"] == 1
    assert len(body["rejected"]) == 512
    assert body["rejected"][0] == {
        "line": 1,
        "id": "m0",
        "error": f"usage.input_tokens: 9007199254740992 {TOO_MANY}",
    }
    data = await graphql(client, "{ usage { summary { tokens { total } } } }")
    assert data["usage"]["summary"]["tokens"] == {"total": 7}


async def test_a_priced_request_of_4e15_tokens_is_rejected_and_the_other_100_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    good = [request(f"m{n}", usage={"input_tokens": 100}) for n in range(100)]
    bad = request("bad", usage={"input_tokens": 4_000_000_000_000_000})
    response = await post(client, *good[:50], bad, *good[50:])
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 100,
        "duplicates": 0,
        "described": 0,
        "replaced": 0,
        "rejected": [
            {
                "line": 51,
                "id": "bad",
                "error": f"usage.input_tokens: 4000000000000000 {TOO_MANY}",
            }
        ],
        "conflicts": [],
    }
    assert await stored(engine) == 100


async def test_a_metadata_integer_beyond_64_bits_is_rejected_and_the_other_100_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    good = [request(f"m{n}", metadata={"n": n}) for n in range(100)]
    bad = request("bad", metadata={"n": 2**64})
    response = await post(client, bad, *good)
    assert response.status_code == 200
    # orjson reads an integer beyond 64 bits as the nearest float; the bound holds for floats too.
    assert response.json()["rejected"] == [
        {"line": 1, "id": "bad", "error": f"metadata.n: 1.8446744073709552e+19 {METADATA}"}
    ]
    assert await stored(engine) == 100
    # GraphQL variables keep the integer as sent.
    mutation = """mutation($m: [MessageInput!]!) {
        recordMessages(messages: $m) { accepted rejected { index field error } } }"""
    graphql_bad = {**bad, "id": "bad-2", "timestamp": "2026-03-01T12:00:00+00:00"}
    data = await graphql(client, mutation, {"m": [graphql_bad]})
    assert data["recordMessages"] == {
        "accepted": 0,
        "rejected": [
            {
                "index": 0,
                "field": "metadata.n",
                "error": f"metadata.n: 18446744073709551616 {METADATA}",
            }
        ],
    }


# Each bound, field by field, through the parser (both paths agree: tests/test_fast_path.py).

OPTIONS = ParseOptions(now=datetime(2026, 3, 2, tzinfo=UTC))
LATENCY = "is more than 604,800,000 (7 days), the most milliseconds one request may take"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        *(
            pytest.param(
                {"usage": {name: MAX_TOKENS + 1}},
                f"usage.{name}: 1000000001 {TOO_MANY}",
                id=name,
            )
            for name in (
                "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens", "prompt_tokens", "completion_tokens",
                "cache_read_input_tokens", "cache_creation_input_tokens",
            )
        ),
        *(
            pytest.param(
                {"usage": {details: {name: MAX_TOKENS + 1}}},
                f"usage.{details}.{name}: 1000000001 {TOO_MANY}",
                id=f"{details}.{name}",
            )
            for details, name in (
                ("prompt_tokens_details", "cached_tokens"),
                ("completion_tokens_details", "reasoning_tokens"),
                ("input_tokens_details", "cached_tokens"),
                ("output_tokens_details", "reasoning_tokens"),
            )
        ),
        pytest.param(
            {"usage": {"input_tokens": 600_000_000, "cache_read_input_tokens": 300_000_000,
                       "cache_creation_input_tokens": 100_000_001}},
            "usage: input tokens come to 1,000,000,001 (input_tokens + cache_read_input_tokens"
            " + cache_creation_input_tokens): more than 1,000,000,000, the most tokens one"
            " request may report",
            id="anthropic-normalised-input",
        ),
        pytest.param(
            {"usage": {"input_tokens": 1, "total_tokens": 2 * MAX_TOKENS + 1}},
            "usage.total_tokens: 2000000001 is more than 2,000,000,000, the most input plus"
            " output tokens one request may report",
            id="total_tokens",
        ),
        pytest.param({"latency_ms": MAX_LATENCY_MS + 1}, f"latency_ms: 604800001 {LATENCY}",
                     id="latency"),
        pytest.param({"ttft_ms": 1e308}, f"ttft_ms: 1e+308 {LATENCY}", id="ttft"),
        pytest.param({"latency_ms": 10**400}, f"latency_ms: 10000000000000000... {LATENCY}",
                     id="latency-beyond-floats"),  # a CSV cell can hold it
        pytest.param(
            {"cost": 100_000.01},
            "cost: 100000.01 is more than 100,000 USD, the most one request may cost",
            id="cost",
        ),
        pytest.param({"metadata": {"n": 2**53 + 1}}, f"metadata.n: 9007199254740993 {METADATA}",
                     id="metadata-int"),
        pytest.param({"metadata": {"n": -(2**53) - 1}},
                     f"metadata.n: -9007199254740993 {METADATA}", id="metadata-negative"),
        pytest.param({"metadata": {"x": 1.5, "n": 1e16}}, f"metadata.n: 1e+16 {METADATA}",
                     id="metadata-float"),
        pytest.param({"metadata": {"n": 2**64}}, f"metadata.n: 18446744073709551616 {METADATA}",
                     id="metadata-beyond-64-bits"),
    ],
)  # fmt: skip
def test_a_number_beyond_its_bound_is_rejected_naming_the_field_and_the_bound(
    fields: dict[str, Any], error: str
) -> None:
    with pytest.raises(RecordError) as caught:
        parse_record(request("m", **fields), OPTIONS)
    assert str(caught.value) == error


def test_every_number_at_its_bound_is_accepted() -> None:
    at_bounds = request(
        "m",
        usage={
            "input_tokens": MAX_TOKENS,
            "output_tokens": MAX_TOKENS,
            "cache_read_tokens": MAX_TOKENS,
            "reasoning_tokens": MAX_TOKENS,
            "total_tokens": 2 * MAX_TOKENS,
        },
        cost=MAX_COST,
        latency_ms=MAX_LATENCY_MS,
        ttft_ms=MAX_LATENCY_MS,
        metadata={"top": MAX_METADATA_NUMBER, "bottom": -MAX_METADATA_NUMBER, "f": 2.0**53},
    )
    message = parse_record(at_bounds, OPTIONS)
    assert isinstance(message, Message)
    assert message.usage == Usage(10**9, 10**9, cache_read=10**9, reasoning=10**9)
    assert message.cost == Decimal(MAX_COST)
    assert (message.latency_ms, message.ttft_ms) == (6.048e8, 6.048e8)
    anthropic = request(
        "a", usage={"input_tokens": 6 * 10**8, "cache_read_input_tokens": 4 * 10**8}
    )
    summed = parse_record(anthropic, OPTIONS)
    assert isinstance(summed, Message)
    assert summed.usage == Usage(input=MAX_TOKENS, cache_read=4 * 10**8)


def test_the_bounds_keep_every_aggregate_in_range() -> None:
    """The arithmetic of the proof in usageql.ingest.bounds."""
    bigint = 2**63 - 1
    row = ROLLUP_ROW_RECORDS
    assert row * MAX_TOKENS <= 10**18 < bigint  # one token sum of a rollup row
    assert 2 * row * MAX_TOKENS < bigint  # input + output of a rollup row, in bigint
    assert 2 * MAX_TOKENS * MAX_PRICE / 10**6 < 10**10  # a computed cost fits Numeric(20, 10)
    assert MAX_COST < 10**10  # and a reported one
    assert row * MAX_LATENCY_MS * 10**290 < 1.8e308  # avg of double precision sums latencies
    assert MAX_METADATA_NUMBER < 2**63  # orjson encodes it


# A computed cost beyond the bound: the price or the usage is wrong, and the record says so.

SET_PRICES = "mutation($p: [PriceInput!]!) { setPrices(prices: $p) { model } }"


async def test_a_computed_cost_beyond_the_bound_rejects_the_request(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    dear = {"model": "dear", "input": MAX_PRICE, "output": MAX_PRICE}
    await graphql(client, SET_PRICES, {"p": [dear]})
    response = await post(
        client,
        request("fine", model="dear", usage={"input_tokens": 10**7}),  # exactly 100,000 USD
        request("too-dear", model="dear", usage={"input_tokens": 10**7, "output_tokens": 1}),
        request("reported", model="dear", usage={"input_tokens": 10**9}, cost=5),
    )
    assert response.json()["rejected"] == [
        {
            "line": 2,
            "id": "too-dear",
            "error": "cost: 100000.01 USD, computed from the price of model dear, is more than"
            " 100,000 USD, the most one request may cost; check the usage or the price",
        }
    ]
    async with engine.connect() as connection:
        costs = dict(
            (await connection.execute(select(messages.c.message_id, messages.c.cost))).all()
        )
    assert costs == {"fine": 100_000, "reported": 5}


async def test_prices_beyond_the_bound_are_refused(client: httpx.AsyncClient) -> None:
    dearer = {"model": "dearer", "input": 1, "output": MAX_PRICE + 1}
    response = await client.post(
        "/graphql", json={"query": SET_PRICES, "variables": {"p": [dearer]}}
    )
    (error,) = response.json()["errors"]
    assert error["message"] == (
        "prices[0].output: 10001.0 is not a price in USD per million tokens (0 to 10,000)"
    )


# The largest legal values, summed over a rollup row of 10^9 records, give exact answers.

LARGEST = {"cost": MAX_COST, "latency_ms": MAX_LATENCY_MS, "ttft_ms": MAX_LATENCY_MS}
MOST_CACHE_READ = {
    "input_tokens": MAX_TOKENS,
    "output_tokens": MAX_TOKENS,
    "cache_read_tokens": MAX_TOKENS,
    "reasoning_tokens": MAX_TOKENS,
}
MOST_CACHE_WRITE = {**MOST_CACHE_READ, "cache_read_tokens": 0, "cache_write_tokens": MAX_TOKENS}
SUMMARY = """{ usage { summary {
    messages tokens { input output total cacheRead cacheWrite reasoning } spend
    latencyMs { max } ttftMs { max } } } }"""
DISTRIBUTIONS = "{ usage { summary { latencyMs { avg max p99 } ttftMs { avg max } } } }"
ALL_MAX = {"avg": 604_800_000.0, "max": 604_800_000.0}


def summary(records: int, tokens: int, cache_read: int, cache_write: int) -> dict[str, Any]:
    """The summary of `records` requests with `tokens` input, output and reasoning tokens each."""
    return {
        "messages": records,
        "tokens": {
            "input": tokens,
            "output": tokens,
            "total": 2 * tokens,
            "cacheRead": cache_read,
            "cacheWrite": cache_write,
            "reasoning": tokens,
        },
        "spend": float(records * MAX_COST),
        "latencyMs": {"max": 604_800_000.0},
        "ttftMs": {"max": 604_800_000.0},
    }


async def test_the_largest_legal_values_over_a_rollup_row_of_a_billion_records_sum_exactly(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    records = [
        request("read", model="my-finetune", usage=MOST_CACHE_READ, **LARGEST),
        request("write", model="my-finetune", usage=MOST_CACHE_WRITE, **LARGEST),
    ]
    assert (await post(client, *records)).json()["accepted"] == 2

    # Raw events: the two records as stored.
    raw_app = create_app(replace(settings, rollups=False))
    async with raw_app.router.lifespan_context(raw_app), authorized_client(raw_app) as raw:
        with count_statements(raw_app.state.database.engine) as sql:
            assert (await graphql(raw, SUMMARY))["usage"]["summary"] == summary(
                2, 2 * MAX_TOKENS, MAX_TOKENS, MAX_TOKENS
            )
        assert not read_rollups(sql)
        distributions = (await graphql(raw, DISTRIBUTIONS))["usage"]["summary"]
        assert distributions == {
            "latencyMs": {**ALL_MAX, "p99": 604_800_000.0},
            "ttftMs": ALL_MAX,
        }

    # The rollup rows (hourly and daily) as 10^9 records would leave them, each measure at its
    # own largest sum.
    billion = ROLLUP_ROW_RECORDS
    async with engine.begin() as connection:
        for table in (*ROLLUPS, *(derived for derived, _ in DERIVED)):
            await connection.execute(
                update(table).values(
                    messages=billion,
                    requests=billion,
                    successful_requests=billion,
                    **{
                        f"{kind}_tokens": billion * MAX_TOKENS
                        for kind in ("input", "output", "cache_read", "cache_write", "reasoning")
                    },
                    cost=billion * MAX_COST,
                )
            )
    with count_statements(engine) as sql:
        answer = (await graphql(client, SUMMARY))["usage"]["summary"]
    assert read_rollups(sql)
    assert answer == summary(billion, 10**18, 10**18, 10**18)
    assert answer["tokens"]["total"] == 2 * 10**18  # beyond 2^60, exact

    # One more batch still adds to that row.
    more = request("more", model="my-finetune", usage=MOST_CACHE_READ, **LARGEST)
    assert (await post(client, more)).json()["accepted"] == 1
    answer = (await graphql(client, SUMMARY))["usage"]["summary"]
    assert answer == summary(billion + 1, 10**18 + 10**9, 10**18 + 10**9, 10**18)
    distributions = (await graphql(client, DISTRIBUTIONS))["usage"]["summary"]
    assert distributions == {"latencyMs": {**ALL_MAX, "p99": 604_800_000.0}, "ttftMs": ALL_MAX}
