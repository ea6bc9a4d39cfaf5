from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Table, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex

from tests.compacted import reach
from tests.factories import message, rows_before_0016
from tests.test_daily import daily_matches_messages
from tests.test_rollups import (
    HOURLY_USERS,
    ROLLUP_MEASURES,
    ROLLUPS_BEFORE_0022,
    rollup_matches_messages,
)
from usageql.cli import main
from usageql.db.compacted import reached
from usageql.db.engine import create_engine
from usageql.db.migrate import (
    _ADVISORY_LOCK_KEY,
    alembic_config,
    head_revision,
    migration_state,
    upgrade,
)
from usageql.db.tables import CHATS_BY_UPDATE, messages, metadata
from usageql.ingest.compact import compact
from usageql.ingest.records import Batch, Message, Usage
from usageql.ingest.write import store_batch


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
        # Alembic reflects an index's columns without their collation: the one index with
        # collations is compared below, as PostgreSQL defines it, against its compiled DDL.
        def compared(item: object, name: str | None, kind: str, *_: object) -> bool:
            return not (kind == "index" and name == CHATS_BY_UPDATE.name)

        opts = {"compare_type": True, "include_object": compared}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
            defined = await connection.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": CHATS_BY_UPDATE.name},
            )
            created = str(CreateIndex(CHATS_BY_UPDATE).compile(dialect=connection.dialect))
    finally:
        await engine.dispose()
    assert diff == [], f"tables.py and the migrations disagree: {diff}"
    assert _columns(defined) == _columns(created), (defined, created)


async def test_every_table_has_the_storage_parameters_the_model_gives(database_url: str) -> None:
    """compare_metadata does not look at storage parameters (`postgresql_with`): the migrations
    must set the same ones, and the tables whose rows hold merged arrays keep them inline."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            stored = {
                name: sorted(options or [])
                for name, options in await connection.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r'"
                        " AND relnamespace = 'public'::regnamespace"
                    )
                )
            }
    finally:
        await engine.dispose()
    given = {
        table.name: sorted(f"{key}={value}" for key, value in _storage(table).items())
        for table in metadata.sorted_tables
    }
    assert {name: stored[name] for name in given} == given
    inline = {name for name, options in given.items() if "toast_tuple_target=8160" in options}
    assert inline == {
        "usage_daily_user_sets",
        "usage_daily_tag_user_sets",
        "usage_daily_latency",
        "usage_monthly_latency",
    }


def _storage(table: Table) -> dict[str, object]:
    options: dict[str, object] = table.dialect_options["postgresql"]["with"] or {}
    return options


def _columns(definition: str) -> str:
    """An index definition's columns, `updated_at DESC NULLS LAST, app_id COLLATE "C", ...`
    (SQLAlchemy puts each expression in parentheses, PostgreSQL shows them bare)."""
    return definition[definition.index("(") :].replace("(", "").replace(")", "")


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


async def test_the_statement_timeout_does_not_cut_a_migration(empty_database_url: str) -> None:
    """A server's engine has a statement timeout; migrating waits for another migrator's lock
    (and runs statements) longer than that, and neither is cancelled."""
    holder = create_engine(empty_database_url, pool_size=1)
    engine = create_engine(empty_database_url, pool_size=1, statement_timeout_ms=300)
    try:
        async with holder.begin() as connection:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
            migrating = asyncio.create_task(upgrade(engine))
            await asyncio.sleep(1.5)  # five timeouts long, with the lock held
            assert not migrating.done()
        before, after = await migrating
        assert before is None
        assert after.up_to_date
    finally:
        await engine.dispose()
        await holder.dispose()


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


def _beyond_the_bounds() -> list[Message]:
    """Messages with values ingestion now rejects, stored the way older versions stored them."""
    slow, endless, costly, huge, cached, big = (
        message(id, user="u1", chat="c1", minutes=minutes)
        for id, minutes in (("slow", 5), ("endless", 6), ("costly", 7), ("huge", 8),
                            ("cached", 9), ("big", 200))
    )  # fmt: skip
    slow.latency_ms = 1e308
    endless.ttft_ms = float("inf")
    costly.cost = Decimal(100_001)
    huge.usage = Usage(input=4 * 10**15, output=2 * 10**9)
    cached.usage = Usage(input=2 * 10**9, cache_read=2 * 10**9)
    big.metadata = {"fine": 2**53, "team": "x", "z": -(2**60)}
    # App "other" holds only these: its rollup rows must go entirely.
    slower = [message(f"x{n:02}", app="other", minutes=n) for n in range(20)]
    for record in slower:
        record.latency_ms = 1e9
    return [slow, endless, costly, huge, cached, big, *slower]


REASONS = {
    "big": "metadata.z = -1152921504606846976 (allowed: -9007199254740992 to 9007199254740992)",
    "cached": "input_tokens = 2000000000 (allowed: 0 to 1000000000);"
    " cache_read_tokens = 2000000000 (allowed: 0 to 1000000000)",
    "costly": "cost = 100001.0000000000 (allowed: 0 to 100000)",
    "huge": "input_tokens = 4000000000000000 (allowed: 0 to 1000000000);"
    " output_tokens = 2000000000 (allowed: 0 to 1000000000)",
    "endless": "ttft_ms = Infinity (allowed: 0 to 604800000)",
    "slow": "latency_ms = 1e+308 (allowed: 0 to 604800000)",
}
SLOWER = "latency_ms = 1000000000 (allowed: 0 to 604800000)"


def test_messages_beyond_the_bounds_leave_messages_and_every_aggregate(
    empty_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Migration 0006, run by `usageql migrate`: the rows move to quarantined_messages with
    their reasons, the rollups of their hours are rebuilt from what stays, and it says so."""
    good = [message(f"g{n}", user=f"u{n % 3}", chat="c1", minutes=11 * n) for n in range(20)]
    for n, record in enumerate(good):
        record.usage, record.latency_ms, record.tags = Usage(100 + n, n), 10.0 * n, ("t",)

    async def prepare() -> None:
        engine = create_engine(empty_database_url, pool_size=2)
        try:
            await upgrade(engine, "0005")
            everything = good + _beyond_the_bounds()
            await _store_as_of_0005(engine, everything)
            async with engine.connect() as connection:  # the rollups hold them too
                poisoned = text("SELECT max(latency_max), sum(input_tokens) FROM usage_hourly")
                tokens = sum(m.usage.input for m in everything)
                assert tuple((await connection.execute(poisoned)).one()) == (1e308, tokens)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("USAGEQL_DATA_DIR", str(tmp_path / "data"))
    assert main(["migrate"]) == 0
    err = capsys.readouterr().err
    assert "migration 0006: 26 stored message(s) held values beyond the ingestion bounds" in err
    for id, reason in REASONS.items():
        assert f"  app 'default', message '{id}': {reason}\n" in err
    assert f"  app 'other', message 'x13': {SLOWER}\n" in err  # the 20th listed
    assert "  app 'other', message 'x14'" not in err
    assert "  ... and 6 more, all in quarantined_messages" in err
    # The later migrations fill their tables in batches and say where they are.
    assert "migration 0008: chat spans from" in err
    assert "migration 0009: usage_daily_users filled to" in err
    assert "migration 0010: usage_hourly_apps filled to" in err

    async def check() -> None:
        engine = create_engine(empty_database_url, pool_size=2)
        try:
            async with engine.connect() as connection:
                reasons = text("SELECT message_id, reason FROM quarantined_messages")
                quarantined: dict[str, str] = dict((await connection.execute(reasons)).all())
                stored = set(
                    (await connection.execute(text("SELECT message_id FROM messages"))).scalars()
                )
                row = await connection.scalar(
                    text("SELECT message FROM quarantined_messages WHERE message_id = 'big'")
                )
            assert quarantined == REASONS | {f"x{n:02}": SLOWER for n in range(20)}
            assert stored == {m.id for m in good}
            assert row["metadata"] == {"fine": 2**53, "team": "x", "z": -(2**60)}  # as it was
            assert await rollup_matches_messages(engine) > 0  # without them

            await downgrade(engine, "0005")  # moves them back
            async with engine.connect() as connection:
                count = await connection.scalar(text("SELECT count(*) FROM messages"))
            assert count == len(good) + len(REASONS) + 20
            assert await rollup_matches_messages(engine, ROLLUPS_BEFORE_0022) > 0  # as of 0005
        finally:
            await engine.dispose()

    asyncio.run(check())


async def _store_as_of_0005(engine: AsyncEngine, records: list[Message]) -> None:
    """Store messages as revision 0005's writer did: the rows, and the hourly rollups as a
    GROUP BY over them (today's writer also keeps tables that revision does not have)."""
    rows = rows_before_0016(records)
    async with engine.begin() as connection:
        await connection.execute(insert(messages), rows)
        for table, (keys, source) in ROLLUPS_BEFORE_0022.items():
            coalesced = ", ".join(f"coalesce({key}, '')" for key in keys.split(", "))
            await connection.execute(
                text(
                    f"INSERT INTO {table} SELECT app_id, date_trunc('hour', ts, 'UTC'),"  # noqa: S608
                    f" {coalesced}, {ROLLUP_MEASURES} FROM {source} GROUP BY app_id, 2, {coalesced}"
                )
            )


async def test_0022_drops_the_hourly_users_and_its_downgrade_fills_them_from_the_chats(
    database_url: str,
) -> None:
    records = [
        message(f"m{n}", minutes=n * 37, user=f"u{n % 3}" if n % 5 else None, chat=f"c{n % 4}")
        for n in range(60)
    ]
    records += [message(f"t{n}", minutes=n, model=None, user="u1") for n in range(5)]
    engine = create_engine(database_url, pool_size=1)
    try:
        await store_batch(engine, Batch(records))
        await downgrade(engine, "0021")
        # every user's sums per hour and model, as the writer kept them before 0022
        assert await rollup_matches_messages(engine, HOURLY_USERS) > 10
        async with engine.connect() as connection:
            names = set(
                (
                    await connection.execute(
                        text(
                            "SELECT stxname FROM pg_statistic_ext"
                            " WHERE stxrelid = 'usage_hourly_users'::regclass"
                        )
                    )
                ).scalars()
            )
        assert names == {"st_usage_hourly_users_user_id", "st_usage_hourly_users_model"}
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert "usage_hourly_users" not in tables
        assert await rollup_matches_messages(engine) > 10
    finally:
        await engine.dispose()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Bring the database down to `revision`."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def test_0023_starts_compaction_where_the_daily_tables_end_and_downgrades_once_complete(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        await reach(engine, "-infinity")
        records = [message(f"m{n}", minutes=n * 61, user="u1") for n in range(9)]
        await store_batch(engine, Batch(records))
        with pytest.raises(RuntimeError, match="run `usageql compact --eager`"):
            await downgrade(engine, "0022")
        await compact(engine, eager=True)
        await downgrade(engine, "0022")
        await upgrade(engine)  # a database with events: its daily tables reach today
        assert await daily_matches_messages(engine) > 3  # complete, as the downgrade left them
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with engine.connect() as connection:
            assert await reached(connection) == today
    finally:
        await engine.dispose()


async def test_0024_gives_each_set_its_members_hours_from_the_days_rows_of_users(
    database_url: str,
) -> None:
    """Sets per day and per tag, with users and messages without one at various hours: after a
    downgrade and an upgrade, each member's first and last hour (and the user-less messages')
    are those of the messages."""
    engine = create_engine(database_url, pool_size=1)
    try:
        records = [
            replace(
                message(f"m{n}", minutes=n * 47, user=None if n % 4 == 0 else f"u{n % 5}"),
                tags=("ua:a",) if n % 2 else ("ua:b", "ua:a"),
            )
            for n in range(80)
        ]
        await store_batch(engine, Batch(records))
        await compact(engine, eager=True)
        await downgrade(engine, "0023")
        await upgrade(engine)
        assert await daily_matches_messages(engine) > 5
        async with engine.connect() as connection:
            hours = "SELECT count(*) FROM usage_daily_tag_user_sets WHERE {}"
            unnamed = await connection.scalar(text(hours.format("unnamed_first IS NOT NULL")))
            spread = await connection.scalar(text(hours.format("first_hours <> last_hours")))
        assert unnamed, "some days have messages without a user"
        assert spread, "some users have messages in different hours of a day"
    finally:
        await engine.dispose()
