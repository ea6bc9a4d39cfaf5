"""What one ingested event costs, stage by stage, measured apart (one process, one core).

Explains the end-to-end figure of bench/ingest.py: decoding and checking a line, building the
COPY row, COPY itself (asyncpg's encoding plus PostgreSQL's insert, alone on a connection), and
adding the batch to the hourly rollup tables (the sums in Python, then the upsert in PostgreSQL:
the statement of a batch without late events; its days are added once they end, by compaction).

    python bench/ingest_parts.py             # records the table in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text

from results import machine, record_section
from usageql.db.engine import asyncpg_url, create_engine
from usageql.db.migrate import upgrade
from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.ingest.parse import ParseOptions, parse_message_line, parse_record
from usageql.ingest.records import MESSAGE_COLUMNS
from usageql.ingest.rollup import HOURLY_STATEMENT, rollup_rows, rollup_values
from usageql.ingest.write import _message_row

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
END = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 5_000


def per_item(work: Callable[[], object], count: int) -> float:
    """Microseconds per item, best of three."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best / count * 1e6


def batched(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Rows in batches of 5,000, each sorted by key as the writer sorts them."""
    return [sorted(rows[start : start + BATCH]) for start in range(0, len(rows), BATCH)]


async def write_cost(server_url: str, rows: list[tuple[Any, ...]]) -> tuple[float, float]:
    """Microseconds per message of COPY and of the rollup upsert, batch by batch."""
    name = f"usageql_parts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {quoted}"))
    url = asyncpg_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            copying = summing = 0.0
            for batch in batched(rows):
                arguments = HOURLY_STATEMENT.arguments(rollup_values(batch, late=False))
                async with driver.transaction():
                    began = time.perf_counter()
                    await driver.copy_records_to_table(
                        "messages", records=batch, columns=MESSAGE_COLUMNS
                    )
                    copied = time.perf_counter()
                    await driver.execute(HOURLY_STATEMENT.sql, *arguments)
                    copying += copied - began
                    summing += time.perf_counter() - copied
            return copying / len(rows) * 1e6, summing / len(rows) * 1e6
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--server-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    options = DemoOptions(messages=args.messages, days=30, users=2000, seed=3, end=END)
    lines = [
        orjson.dumps(record)
        for batch, _ in DemoGenerator(options).batches()
        for record in batch
        if "type" not in record
    ]
    parse = ParseOptions(now=END)
    gc.collect()
    gc.freeze()  # as the server does once started
    gc.set_threshold(50_000, 20, 100)
    n = len(lines)
    decoded = [orjson.loads(line) for line in lines]
    messages = [parse_message_line(line, parse) for line in lines]
    assert all(m is not None for m in messages)
    rows = [_message_row(m) for m in messages if m is not None]
    batches = batched(rows)
    copy_us, rollup_us = await write_cost(args.server_url, rows)
    figures = {
        "orjson decode only": per_item(lambda: [orjson.loads(x) for x in lines], n),
        "Python rules (parse_record on decoded JSON)": per_item(
            lambda: [parse_record(x, parse) for x in decoded], n
        ),
        "fast path: msgspec decode and check, then the Message": per_item(
            lambda: [parse_message_line(x, parse) for x in lines], n
        ),
        "COPY row tuple": per_item(lambda: [_message_row(m) for m in messages if m], n),
        "COPY into messages: asyncpg encoding and PostgreSQL, one connection": copy_us,
        "rollup sums per key, three tables (rollup_rows)": per_item(
            lambda: [rollup_rows(batch) for batch in batches], n
        ),
        "rollup statement's values, the sums above included (rollup_values)": per_item(
            lambda: [rollup_values(batch, late=False) for batch in batches], n
        ),
        "rollup upsert: asyncpg encoding and PostgreSQL, one connection": rollup_us,
    }
    section = "\n".join(
        [
            "## Ingestion, stage by stage",
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, {n:,} demo messages,"
            " one process. Command: `python bench/ingest_parts.py`",
            "",
            "| stage | microseconds per message |",
            "|---|---|",
            *(f"| {stage} | {cost:.1f} |" for stage, cost in figures.items()),
            "",
        ]
    )
    print(section)
    if not args.no_record:
        record_section("parts", section)


if __name__ == "__main__":
    asyncio.run(main())
