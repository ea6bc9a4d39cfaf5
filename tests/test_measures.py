"""The rollup measures (usageql.db.measures): what a message adds to each, as the writer computes
it in Python and as the compiler computes it in SQL for raw events at a rollup's edges, agree."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.test_correctness import EVENTS
from tests.test_rollups import post
from usageql.db.measures import MEASURES, Merge, contributions
from usageql.db.tables import messages, usage_hourly
from usageql.ingest.records import MESSAGE_COLUMNS
from usageql.ingest.rollup import MEASURE_ORDER


async def test_python_and_sql_give_each_message_the_same_contributions(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post(client, EVENTS[:1500])
    m = messages.c
    statement = select(
        *(m[name] for name in MESSAGE_COLUMNS),
        *(measure.per_event(m).label(f"adds_{measure.name}") for measure in MEASURES),
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    assert len(rows) == 1500
    adds = contributions(MEASURES, m, MESSAGE_COLUMNS)
    width = len(MESSAGE_COLUMNS)
    for row in rows:
        in_python, in_sql = adds(tuple(row[:width])), tuple(row[width:])
        assert in_python == in_sql, dict(zip(MESSAGE_COLUMNS, row[:width], strict=True))
    # Every condition is met by some messages and not by others (unpriced requests among them:
    # their NULL cost adds 0).
    for position, measure in enumerate(MEASURES):
        if measure.when:
            assert {row[width + position] for row in rows} == {0, 1}, measure.name


def test_every_rollup_table_has_a_column_per_measure_in_order() -> None:
    columns = [c.name for c in usage_hourly.columns][-len(MEASURES) :]
    assert columns == [measure.name for measure in MEASURES]
    assert sorted(MEASURE_ORDER) == sorted(columns)
    for measure in MEASURES:
        column = usage_hourly.c[measure.name]
        assert column.nullable is (measure.merge is Merge.MAX), measure.name
