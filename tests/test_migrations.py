from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from usageql.db.engine import create_engine
from usageql.db.migrate import head_revision, migration_state, upgrade
from usageql.db.tables import metadata


async def test_upgrade_from_empty_creates_every_table_at_head(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url, pool_size=2)
    try:
        before = await migration_state(engine)
        assert before.current is None
        assert not before.up_to_date

        previous, after = await upgrade(engine)
        assert previous is None
        assert after.current == head_revision()
        assert after.up_to_date

        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert names == set(metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_the_model_matches_the_migrated_ddl(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], f"tables.py and the migrations disagree: {diff}"


async def test_upgrading_twice_and_concurrently_is_harmless(empty_database_url: str) -> None:
    engines = [create_engine(empty_database_url, pool_size=1) for _ in range(3)]
    try:
        results = await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert {after.current for _, after in results} == {head_revision()}
        # The lock made them take turns: exactly one found the database empty.
        assert sorted(str(before) for before, _ in results).count("None") == 1
        assert await upgrade(engines[0]) == (head_revision(), await migration_state(engines[0]))
    finally:
        for engine in engines:
            await engine.dispose()


def test_every_primary_key_and_unique_constraint_includes_app_id() -> None:
    for table in metadata.sorted_tables:
        assert "app_id" in table.primary_key.columns, table.name
        for index in table.indexes:
            if index.unique:
                assert "app_id" in index.columns, (table.name, index.name)
        for constraint in table.constraints:
            columns = getattr(constraint, "columns", None)
            if type(constraint).__name__ == "UniqueConstraint" and columns is not None:
                assert "app_id" in columns, (table.name, constraint.name)


async def test_rollups_are_not_added_over_pruned_events(empty_database_url: str) -> None:
    """Migration 0004 fills its rollups from stored events: after a prune it would undercount
    the pruned hours, so it refuses, naming the horizon, and leaves the database as it was."""
    engine = create_engine(empty_database_url, pool_size=1)
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO retention (app_id, pruned_before) VALUES ('*', :at)"),
                {"at": datetime(2026, 3, 1, tzinfo=UTC)},
            )
        with pytest.raises(RuntimeError, match=r"before 2026-03-01T00:00:00\+00:00 were pruned"):
            await upgrade(engine)
        assert (await migration_state(engine)).current == "0003"
    finally:
        await engine.dispose()
