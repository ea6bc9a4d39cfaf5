"""The planner knows the rollup keys as the compiler reads them (NULLIF(key, ''), migrations 0012
and 0013): without statistics on that expression it guessed a fixed 0.5% for a pattern on a tag,
however many rows matched, and planned a month of weekly users per tag as one row."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.plans import analyzed_plan
from usageql.db.engine import create_engine
from usageql.ingest.rollup import DERIVED, ROLLUPS

DAY = datetime(2026, 1, 1, tzinfo=UTC)


async def test_every_rollup_key_has_statistics_as_the_compiler_reads_it(database_url: str) -> None:
    tables = {*ROLLUPS, *(table for table, _ in DERIVED)}
    wanted = {
        (table.name, f"NULLIF({column.name}, ''::text)")
        for table in tables
        for column in table.primary_key.columns
        if column.name != "app_id" and column.name not in ("hour", "day", "month")
    }
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT stxrelid::regclass::text, pg_get_statisticsobjdef_expressions(oid)"
                    " FROM pg_statistic_ext"
                )
            )
            found = {
                (table, expression) for table, expressions in rows for expression in expressions
            }
    finally:
        await engine.dispose()
    assert len(wanted) == 24  # 10 tables
    assert wanted <= found


async def test_a_pattern_on_a_rollup_key_is_estimated_from_its_rows(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO usage_daily_tag_users"
                    " (app_id, day, tag, user_id, first_hour, last_hour)"
                    " SELECT 'app', :day, CASE WHEN i % 2 = 0 THEN 'User-Agent:cli/' || i % 7"
                    " ELSE 'team:' || i % 5 END, 'u' || i, i % 12, 12 + i % 12"
                    " FROM generate_series(1, 4000) AS i"
                ),
                {"day": DAY},
            )
        plan = await analyzed_plan(
            engine,
            "usage_daily_tag_users",
            text(
                "EXPLAIN (FORMAT JSON) SELECT * FROM usage_daily_tag_users"
                " WHERE NULLIF(tag, '') ILIKE '%User-Agent:%' AND day < :end"
            ),
            {"end": DAY + timedelta(days=1)},
        )
    finally:
        await engine.dispose()
    # 2,000 rows match; without the statistics the estimate was 20 (0.5% of 4,000).
    assert 1_000 <= plan["Plan Rows"] <= 4_000
