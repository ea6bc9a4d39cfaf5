"""`spend` is null when it is unknown (a row's requests are all unpriced), never a 0 that reads as
"free"; 0 when the row has no requests; otherwise the known costs, with `unpricedRequests` saying
how many requests they leave out. Every answer is the same from raw events and from rollups."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import read_rollups, settings, way

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups


def message(id: str, hour: int, **fields: Any) -> dict[str, Any]:
    """A request (unless `role` says otherwise) at 10 past `hour` on 1 March 2026."""
    return {"id": id, "timestamp": f"2026-03-01T{hour:02}:10:00Z", "user": "u1", **fields}


MILLION = {"input_tokens": 1_000_000}
EVENTS = [
    message("priced", 10, model="gpt-4o", usage=MILLION),  # built-in price: 2.5
    message("local-1", 10, model="local", usage=MILLION),  # no price anywhere
    message("mixed-priced", 11, model="mixed", cost=0.25),
    message("mixed-unpriced", 11, model="mixed", usage=MILLION),
    message("free", 11, model="free", cost=0),  # priced, at 0
    message("local-2", 12, model="local", usage=MILLION, user="u2"),
    message("searcher", 12, model="searcher", usage=MILLION, user="u2"),
    # A tool call that reports its own cost: known, though its model's request is unpriced.
    message("search-call", 12, role="tool", model="searcher", cost=0.5, user="u2"),
    message("question", 13, role="user", user="quiet"),  # no request at all
    message("local-3", 15, model="local", usage=MILLION, user="u4"),  # 14:00 has no events
]


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=EVENTS)
    assert response.json()["accepted"] == len(EVENTS)


async def ask(client: httpx.AsyncClient, engine: AsyncEngine, way: str, query: str) -> Any:
    """The answer's `usage`, from one statement that reads rollups exactly when `way` says."""
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 1
    assert read_rollups(sql) == (way == "rollups"), sql
    return usage


@pytest.mark.usefixtures("loaded")
async def test_per_model_spend_is_null_only_when_every_request_is_unpriced(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    usage = await ask(
        client, engine, way, "{ usage { models { model metrics { spend unpricedRequests } } } }"
    )
    assert {row["model"]: row["metrics"] for row in usage["models"]} == {
        "gpt-4o": {"spend": 2.5, "unpricedRequests": 0},
        "local": {"spend": None, "unpricedRequests": 3},  # unknown, not free
        "mixed": {"spend": 0.25, "unpricedRequests": 1},  # the priced one; one left out
        "free": {"spend": 0.0, "unpricedRequests": 0},  # priced at 0: free indeed
        "searcher": {"spend": 0.5, "unpricedRequests": 1},  # the tool call's reported cost
    }


@pytest.mark.usefixtures("loaded")
async def test_a_row_without_requests_spent_0(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    usage = await ask(
        client,
        engine,
        way,
        """{ usage(filter: {from: "2026-03-01T10:00:00Z", to: "2026-03-01T16:00:00Z"}) {
          timeseries(granularity: HOUR) { metrics { requests spend } } } }""",
    )
    assert [bucket["metrics"] for bucket in usage["timeseries"]] == [
        {"requests": 2, "spend": 2.5},
        {"requests": 3, "spend": 0.25},
        {"requests": 2, "spend": 0.5},
        {"requests": 0, "spend": 0.0},  # a user's question only
        {"requests": 0, "spend": 0.0},  # no events
        {"requests": 1, "spend": None},  # an unpriced request only
    ]
    users = await ask(
        client,
        engine,
        way,
        "{ usage { breakdown(by: [USER]) { keys { value } metrics { requests spend } } } }",
    )
    assert {row["keys"][0]["value"]: row["metrics"] for row in users["breakdown"]} == {
        "u1": {"requests": 5, "spend": 2.75},
        "u2": {"requests": 2, "spend": 0.5},
        "quiet": {"requests": 0, "spend": 0.0},
        "u4": {"requests": 1, "spend": None},
    }


@pytest.mark.usefixtures("loaded")
async def test_totals_and_partial_hours_follow_the_same_rule(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    query = """{ usage(filter: {from: "%s"}) { summary { requests unpricedRequests spend } } }"""
    everything = await ask(client, engine, way, query % "2026-03-01T00:00:00Z")
    assert everything["summary"] == {"requests": 8, "unpricedRequests": 5, "spend": 3.25}
    # From 12:05: the partial hour 12:05-13:00 comes from raw events either way.
    later = await ask(client, engine, way, query % "2026-03-01T12:05:00Z")
    assert later["summary"] == {"requests": 3, "unpricedRequests": 3, "spend": 0.5}
    last = await ask(client, engine, way, query % "2026-03-01T14:30:00Z")
    assert last["summary"] == {"requests": 1, "unpricedRequests": 1, "spend": None}


@pytest.mark.usefixtures("loaded")
async def test_ordering_by_spend_puts_unknown_spend_last_either_way(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    query = "{ usage { models(orderBy: {metric: SPEND, direction: %s}) { model } } }"
    ascending = await ask(client, engine, way, query % "ASC")
    assert [row["model"] for row in ascending["models"]] == [
        "free", "mixed", "searcher", "gpt-4o", "local"
    ]  # fmt: skip
    descending = await ask(client, engine, way, query % "DESC")
    assert [row["model"] for row in descending["models"]] == [
        "gpt-4o", "searcher", "mixed", "free", "local"
    ]  # fmt: skip
