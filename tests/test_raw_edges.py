"""The partial hours at a period's edges, read from raw events beside the rollups, are each app's
index range of `messages` (app_id, ts). With the time alone PostgreSQL read them through the BRIN
index on `ts`, whose ranges are lossy: at 1M events, 861 heap pages and 13,556 rows checked for
the 47 of a 17-minute edge, 3.8 against 0.3 ms, in every panel of a dashboard (bench/RESULTS.md,
2026-12-05)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.plans import nodes, top
from tests.sqlcount import count_statements

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_the_raw_edges_of_a_rollup_plan_are_read_through_the_app_and_time_index(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO apps (app_id) VALUES ('a'), ('b')"))
        # Eight days of messages in time order, one every 10 s, as ingestion appends them.
        await connection.execute(
            text(
                "INSERT INTO messages (app_id, message_id, ts, role, model, input_tokens,"
                " output_tokens, latency_ms) SELECT CASE WHEN i % 3 = 0 THEN 'b' ELSE 'a' END,"
                " 'm' || i, CAST(:start AS timestamptz) + i * interval '10 seconds',"
                " 'assistant', 'model-' || i % 4, i % 100, 1, 100 + i % 900"
                " FROM generate_series(1, 69120) AS i"
            ),
            {"start": START},
        )
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("ANALYZE messages"))
    query = """{ usage(filter: {from: "2026-01-02T10:42:37Z", to: "2026-01-06T07:13:00Z"}) {
        models { model metrics { requests spend } } } }"""
    with count_statements(engine) as sql:
        await graphql(client, query)
    assert sql.count == 1, sql
    statement, parameters = sql.statements[0], sql.parameters[0]
    assert "usage_hourly_models" in statement, statement  # a rollup plan, with raw edges
    async with engine.connect() as connection:
        explained = await connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {statement}", parameters
        )
        plan = top(explained.scalar())
    every = nodes(plan)
    indexes = {node["Index Name"] for node in every if "messages" in node.get("Index Name", "")}
    assert indexes == {"ix_messages_app_id_ts"}, plan  # never the BRIN on ts
    read = [node for node in every if node.get("Relation Name") == "messages"]
    assert len(read) == 1, plan  # both edges in one scan, not of the whole table
    assert read[0]["Node Type"] != "Seq Scan", plan
