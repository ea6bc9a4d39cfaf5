"""The catalog of each app's first event, which the query cost counts open ranges from."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.sqlcount import count_statements
from usageql.db.first_events import DataCatalog, read_catalog
from usageql.db.prune import prune


def _at(day: int, hour: int = 12) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:30:00Z"


RECORDS = [
    {"id": "a1", "app": "a", "timestamp": _at(10), "model": "m", "user": "u1"},
    {"id": "a2", "app": "a", "timestamp": _at(20), "model": "m", "user": "u1"},
    {"id": "b1", "app": "b", "timestamp": _at(5), "model": "m"},
    # An app with ratings only: its first event is its first rating.
    {"type": "feedback", "id": "f1", "app": "c", "timestamp": _at(2), "model": "m", "rating": 1},
]


async def test_the_catalog_holds_each_apps_first_event(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    assert app.state.first_events.catalog == DataCatalog()  # read at start: nothing yet
    response = await client.post("/v1/events", json=RECORDS)
    assert response.json()["accepted"] == 4
    await client.post(
        "/graphql",
        json={"query": 'mutation { setPrices(prices: [{model: "m", input: 1, output: 2}])'
              " { model } }"},
    )  # fmt: skip

    with count_statements(engine) as sql:
        await app.state.first_events.refresh(engine)
    catalog = app.state.first_events.catalog
    assert sql.count == 2  # the apps with their first events, the configured prices
    # The hour of the first message (the rollups keep hours), the first rating's instant.
    assert dict(catalog.first_events) == {
        "a": datetime(2026, 3, 10, 12, tzinfo=UTC),
        "b": datetime(2026, 3, 5, 12, tzinfo=UTC),
        "c": datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
    }
    assert (catalog.apps, catalog.configured_prices) == (3, 1)
    assert catalog.earliest() == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert catalog.earliest(["a", "b"]) == datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert catalog.earliest(["a", "nowhere"]) == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert catalog.earliest(["nowhere"]) is None


async def test_pruned_messages_leave_their_first_hour_in_the_rollups(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/v1/events", json=RECORDS[:2])
    await prune(engine, datetime(2026, 3, 15, tzinfo=UTC), wait_seconds=0)
    catalog = await read_catalog(engine)
    # a1 was deleted; its hour stays in the rollups, which still answer for it.
    assert dict(catalog.first_events) == {"a": datetime(2026, 3, 10, 12, tzinfo=UTC)}
