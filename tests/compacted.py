"""How far a test database's daily tables reach (usageql.db.compacted), and a third way to run
the modules that check rollups against raw events: with the later days not compacted yet."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.engine import create_engine

_SET = text("UPDATE compaction SET compacted_before = CAST(CAST(:moment AS text) AS timestamptz)")


async def reach(engine: AsyncEngine, moment: str) -> None:
    """Set compacted_before: '-infinity' leaves every day to compaction, as a new database
    does; a UTC midnight keeps the days before it as events are stored."""
    async with engine.begin() as connection:
        await connection.execute(_SET, {"moment": moment})


DEFERRED_FROM = "2026-03-25T00:00:00Z"
"""The `deferred` way's database keeps the days of tests/test_correctness.py's events before it
as they are stored and leaves the later ones to compaction, as a database running for a while
does: readers take their hours, and a month it cuts (March) has no monthly rows yet."""


@pytest.fixture(params=["raw", "rollups", "deferred"])
def way(request: pytest.FixtureRequest) -> str:
    """From raw events; from the rollups; from the rollups with the days from DEFERRED_FROM on
    not compacted yet (in the hourly tables only). Import it with `database_url` and
    tests.ways.settings."""
    return str(request.param)


@pytest.fixture
async def database_url(database_url: str, way: str) -> str:
    if way == "deferred":
        engine = create_engine(database_url, pool_size=1)
        try:
            await reach(engine, DEFERRED_FROM)
        finally:
            await engine.dispose()
    return database_url
