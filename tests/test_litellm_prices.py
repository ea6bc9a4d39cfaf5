"""`usageql prices load` of LiteLLM's price map (tests/fixtures/litellm_model_prices.json, a few
entries written in its format), end to end: the command loads it, requests come in over HTTP,
and their spend is read through GraphQL, from raw events and from the rollups alike."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import read_rollups, settings, way
from usageql.cli import main
from usageql.db.engine import create_engine
from usageql.db.tables import price_tiers
from usageql.ingest.litellm_prices import LiteLLMPrices, read_litellm_map
from usageql.ingest.pricing import Price, Tier

__all__ = ["settings", "way"]  # fixtures: the GraphQL test runs from raw events and from rollups

MAP = Path(__file__).parent / "fixtures" / "litellm_model_prices.json"


def request(id: str, hour: int, model: str, usage: dict[str, int], **fields: Any) -> dict[str, Any]:
    """A request at 10 past `hour` on 1 March 2026 (several hours: the rollups answer)."""
    when = f"2026-03-01T{hour:02}:10:00Z"
    return {"id": id, "timestamp": when, "model": model, "usage": usage, **fields}


def load(path: Path = MAP) -> int:
    """`usageql prices load PATH`, in-process (it runs its own event loop)."""
    return main(["prices", "load", str(path)])


def test_prices_per_token_become_prices_per_million_tokens_exactly() -> None:
    raw = json.loads(MAP.read_text(), parse_float=Decimal)
    found = read_litellm_map(raw)
    assert found.prices["gemini-3-pro-preview"] == Price(
        input=Decimal(2),
        output=Decimal(12),
        cache_read=Decimal("0.2"),
        tiers=(
            Tier(above=200_000, input=Decimal(4), output=Decimal(18), cache_read=Decimal("0.4")),
        ),
    )
    # In binary floats, 4e-07 x 10^6 is 0.39999999999999997.
    assert found.prices["gemini-3-pro-preview"].tiers[0].cache_read == Decimal("0.4")
    assert found.prices["azure/gpt-4o"].cache_read == Decimal("1.375")
    assert found.prices["o1-pro"] == Price(Decimal(150), Decimal(600), reasoning=Decimal(600))
    assert found.prices["text-embedding-3-small"] == Price(Decimal("0.02"), Decimal(0))
    assert "sample_spec" not in found.prices
    assert (found.skipped, len(found.prices)) == (1, 6)  # dall-e-3 is priced per pixel
    assert found.refused == [
        "misplaced-decimal.input_cost_per_token: 0.02 USD per token is 20000 USD per million"
        " tokens, not a price from 0 to 10,000 USD per million tokens"
    ]
    # A long-context tier of any size, and only the token prices usageql charges.
    per_token = {n: Decimal(n) / 1_000_000 for n in range(1, 6)}  # n USD per million tokens
    entry = {
        "input_cost_per_token": per_token[1],
        "output_cost_per_token": per_token[2],
        "input_cost_per_token_above_128k_tokens": per_token[3],
        "cache_creation_input_token_cost_above_1hr": per_token[4],  # a cache's lifetime
        "input_cost_per_token_flex": per_token[5],  # a service tier
    }
    tiered = read_litellm_map({"m": entry})
    assert tiered.prices["m"] == Price(Decimal(1), Decimal(2), tiers=(Tier(128_000, Decimal(3)),))
    # A null price is no price: no output price is 0, no input price skips the entry.
    nulls = {
        "m": {"input_cost_per_token": per_token[1], "output_cost_per_token": None},
        "n": {"input_cost_per_token": None, "output_cost_per_token": per_token[1]},
    }
    assert read_litellm_map(nulls) == LiteLLMPrices({"m": Price(Decimal(1), Decimal(0))}, [], 1)


async def test_a_loaded_map_prices_requests_by_provider_tier_and_alias(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    env: str,
    capsys: pytest.CaptureFixture[str],
    way: str,
) -> None:
    assert await asyncio.to_thread(load) == 1  # an entry was refused
    err = capsys.readouterr().err
    assert f"prices: set 6 prices from {MAP}, skipped 1 not priced per token, refused 1:\n" in err
    assert "\n  litellm_model_prices.json.misplaced-decimal.input_cost_per_token: 0.02 USD" in err
    records = [
        # The undated alias finds the dated entry: 1,000 x 5 + 100 x 25 per million.
        request("opus", 10, "claude-opus-4-5", {"input_tokens": 1000, "output_tokens": 100}),
        # Beyond 200k input tokens, at the tier: 200,000 x 4 + 50,000 cache reads x 0.4
        # + 1,000 x 18 = 0.838; within it, at the base: 100,000 x 2 + 1,000 x 12 = 0.212.
        request("long", 10, "gemini-3-pro-preview",
                {"input_tokens": 250_000, "cache_read_tokens": 50_000, "output_tokens": 1000}),
        request("short", 11, "gemini-3-pro-preview",
                {"input_tokens": 100_000, "output_tokens": 1000}),
        # Azure's price for Azure's requests, named by the provider field or the model's prefix.
        request("azure-field", 10, "gpt-4o", {"input_tokens": 1_000_000}, provider="azure"),
        request("azure-named", 11, "azure/gpt-4o", {"input_tokens": 1_000_000}),
        request("openai", 11, "gpt-4o", {"input_tokens": 1_000_000}, provider="openai"),
        # 500 plain output tokens x 600 + 500 reasoning tokens x 600.
        request("pro", 12, "o1-pro", {"output_tokens": 1000, "reasoning_tokens": 500}),
        request("refused", 12, "misplaced-decimal", {"input_tokens": 10}),
    ]  # fmt: skip
    response = await client.post("/v1/events", json=records)
    assert response.json()["accepted"] == len(records)
    query = """{ usage { breakdown(by: [MODEL, PROVIDER]) { keys { value }
      metrics { requests unpricedRequests spend } } } }"""
    with count_statements(engine) as sql:
        rows = (await graphql(client, query))["usage"]["breakdown"]
    assert sql.count == 1
    assert read_rollups(sql) == (way == "rollups"), sql
    spend = {
        tuple(key["value"] for key in row["keys"]): (
            row["metrics"]["requests"],
            row["metrics"]["unpricedRequests"],
            row["metrics"]["spend"],
        )
        for row in rows
    }
    assert spend == {
        ("azure/gpt-4o", None): (1, 0, 2.75),
        ("claude-opus-4-5", None): (1, 0, 0.0075),
        ("gemini-3-pro-preview", None): (2, 0, 1.05),
        ("gpt-4o", "azure"): (1, 0, 2.75),
        ("gpt-4o", "openai"): (1, 0, 2.5),
        ("misplaced-decimal", None): (1, 1, None),  # not loaded: unpriced, spend unknown
        ("o1-pro", None): (1, 0, 0.6),
    }


def test_prices_list_shows_tiers_and_a_new_price_replaces_them(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load() == 1
    assert main(["prices", "list", "--configured"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line["model"]: line for line in map(json.loads, lines)}
    assert listed["gemini-3-pro-preview"] == {
        "model": "gemini-3-pro-preview", "app": "*", "input": 2.0, "output": 12.0,
        "cache_read": 0.2, "source": "configured",
        "tiers": [{"above_tokens": 200_000, "input": 4.0, "output": 18.0, "cache_read": 0.4}],
    }  # fmt: skip
    assert sorted(listed) == [
        "azure/gpt-4o", "claude-opus-4-5-20251101", "gemini-3-pro-preview", "gpt-4o", "o1-pro",
        "text-embedding-3-small",
    ]  # fmt: skip
    assert _tiers(env) == 1
    # Loading the map again changes nothing; a price in usageql's format replaces the whole
    # price, its tiers too; deleting a price deletes its tiers.
    assert load() == 1
    assert _tiers(env) == 1
    flat = tmp_path / "prices.json"
    flat.write_text(json.dumps({"gemini-3-pro-preview": {"input": 2, "output": 12}}))
    assert main(["prices", "load", str(flat)]) == 0
    assert _tiers(env) == 0
    assert load() == 1
    assert main(["prices", "delete", "gemini-3-pro-preview"]) == 0
    assert _tiers(env) == 0


def _tiers(url: str) -> int:
    """Rows of price_tiers (the CLI runs its own event loop, so this test is synchronous)."""

    async def count() -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                return int(
                    await connection.scalar(select(func.count()).select_from(price_tiers)) or 0
                )
        finally:
            await engine.dispose()

    return asyncio.run(count())
