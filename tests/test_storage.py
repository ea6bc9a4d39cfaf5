"""How `messages` is stored for time ranges: the BRIN index on `ts` keeps narrowing a range to a
few pages after late rows fill the free ends of old pages (what happens after every VACUUM)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from usageql.db.engine import create_engine

START = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 30_000  # one a minute, ~1,280 pages: ten BRIN block ranges of 128


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


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
        async with engine.begin() as connection:
            # Small rows: VACUUM recorded the free end of every page, and these fill them.
            await connection.execute(
                text(
                    "INSERT INTO messages (app_id, message_id, ts, role)"
                    " SELECT 'app', 'late' || i, :late, 'user' FROM generate_series(1, 3000) AS i"
                ),
                {"late": late},
            )
            scattered = await connection.scalar(
                text(
                    "SELECT count(DISTINCT (ctid::text::point)[0]::int / 128) FROM messages"
                    " WHERE ts = :late"
                ),
                {"late": late},
            )
            assert scattered is not None
            assert scattered >= 8  # in every old block range
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            await connection.execute(text("SET LOCAL enable_indexscan = off"))
            explained = await connection.scalar(
                text(
                    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM messages"
                    " WHERE ts >= :from AND ts < :to"
                ),
                {"from": START + timedelta(days=18), "to": START + timedelta(days=18, hours=1)},
            )
        plan = json.loads(explained) if isinstance(explained, str) else explained
        nodes = _plan_nodes(plan[0]["Plan"])
        index = next(node for node in nodes if node["Node Type"] == "Bitmap Index Scan")
        heap = next(node for node in nodes if node["Node Type"] == "Bitmap Heap Scan")
        assert index["Index Name"] == "ix_messages_ts"
        assert heap["Actual Rows"] == 60
        # The block ranges holding that hour (two at most), not every range before it that a
        # late row stretched to the newest time.
        assert heap["Lossy Heap Blocks"] <= 3 * 128, heap
    finally:
        await engine.dispose()
