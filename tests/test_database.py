"""Opening the database: a database at the newest revision is used without running Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.sqlcount import count_statements
from usageql.config import Settings
from usageql.db.database import newest_revision, open_database
from usageql.db.migrate import head_revision, migration_state


def test_the_newest_revision_read_from_file_names_is_alembics_head() -> None:
    assert newest_revision() == head_revision()


async def test_a_database_behind_is_migrated_and_one_at_head_only_read(
    empty_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=empty_database_url, data_dir=tmp_path, pool_size=1)
    async with open_database(settings, migrate=False) as database:
        with count_statements(database.engine) as behind:
            await database.migrate_unless_current()
        assert (await migration_state(database.engine)).current == head_revision()
        with count_statements(database.engine) as current:
            await database.migrate_unless_current()
    assert behind.count > 2  # the check, then the migrations
    # Whether the revision table exists, and the revision in it: no lock, no Alembic.
    assert current.count == 2, current


async def test_the_planner_prices_page_reads_as_cached(engine: AsyncEngine) -> None:
    """The server's connections read the rollups through their keys, not by whole-table scans
    (USAGEQL_RANDOM_PAGE_COST, docs/scaling.md)."""
    async with engine.connect() as connection:
        shown = (await connection.execute(text("SHOW random_page_cost"))).scalar_one()
    assert shown == "1.1"
