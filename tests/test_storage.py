"""How `messages` is stored for time ranges: the BRIN index on `ts` keeps narrowing a range to a
few pages after late rows fill the free ends of old pages (what happens after every VACUUM).

Which index the planner prefers for such a range differs by version (PostgreSQL 18 picks the
(app_id, ts) btree, which it can skip-scan), so the test makes the BRIN index the only way in and
counts the pages it leads to: through a plain minmax BRIN, the whole table here; through
minmax-multi, a fifth of it.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.plans import nodes, top
from usageql.db.engine import create_engine

START = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 30_000  # one a minute, ~1,280 pages: ten BRIN block ranges of 128
PAGES_PER_RANGE = 128


async def _explain_through_brin(connection: AsyncConnection, start: datetime) -> dict[str, Any]:
    """The plan, with what it read, of counting an hour's messages through the BRIN index.

    Every other way is closed for this transaction only (the caller rolls it back): scans of the
    whole table or of a btree by the planner's settings, bitmap scans of the btree on (app_id,
    ts) by dropping it.
    """
    for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
        await connection.execute(text(f"SET LOCAL {setting} = off"))
    await connection.execute(text("DROP INDEX ix_messages_app_id_ts"))
    explained = await connection.scalar(
        text(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM messages"
            " WHERE ts >= :from AND ts < :to"
        ),
        {"from": start, "to": start + timedelta(hours=1)},
    )
    return top(explained)


async def test_an_old_time_range_reads_few_pages_after_late_rows_fill_old_pages(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO messages (app_id, message_id, ts, role, content_preview)"
                    " SELECT 'app', 'm' || i, CAST(:start AS timestamptz) + i * interval '1 min',"
                    " 'user', :content"
                    " FROM generate_series(0, :rows - 1) AS i"
                ),
                {"start": START, "rows": ROWS, "content": "x" * 180},
            )
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE messages"))
        late = START + timedelta(minutes=ROWS)
        async with engine.connect() as connection:
            # Small rows: VACUUM recorded the free end of every page, and these fill them.
            await connection.execute(
                text(
                    "INSERT INTO messages (app_id, message_id, ts, role)"
                    " SELECT 'app', 'late' || i, :late, 'user' FROM generate_series(1, 3000) AS i"
                ),
                {"late": late},
            )
            await connection.commit()
            scattered = await connection.scalar(
                text(
                    "SELECT count(DISTINCT (ctid::text::point)[0]::int / 128) FROM messages"
                    " WHERE ts = :late"
                ),
                {"late": late},
            )
            table_pages = await connection.scalar(
                text("SELECT pg_relation_size('messages') / current_setting('block_size')::int")
            )
            plan = await _explain_through_brin(connection, START + timedelta(days=18))
            await connection.rollback()
        assert scattered is not None
        assert scattered >= 8  # in every old block range
        found = nodes(plan)
        (index,) = [node for node in found if node["Node Type"] == "Bitmap Index Scan"]
        (heap,) = [node for node in found if node["Node Type"] == "Bitmap Heap Scan"]
        assert index["Index Name"] == "ix_messages_ts"  # the only way in, so always taken
        assert heap["Actual Rows"] == 60
        # The block ranges holding that hour (two at most) and the newest one, not summarized
        # yet; not every range that a late row stretched to the newest time. Measured on
        # PostgreSQL 15 and 18 alike: 258 pages of 1,282 (plain minmax: all 1,282).
        assert table_pages is not None
        assert table_pages > 9 * PAGES_PER_RANGE
        assert heap["Lossy Heap Blocks"] <= 3 * PAGES_PER_RANGE, heap
        pages_read = heap["Shared Hit Blocks"] + heap["Shared Read Blocks"]
        assert pages_read <= 3 * PAGES_PER_RANGE + 8, heap  # and the BRIN index's few pages
    finally:
        await engine.dispose()
