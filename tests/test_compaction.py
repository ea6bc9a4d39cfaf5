"""Compaction: the days a batch leaves to it reach the daily and monthly tables once they end,
exactly as if they had been kept as they were stored; late events are kept as they are stored."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import test_correctness, test_sketch
from tests.compacted import reach
from tests.factories import message
from tests.test_daily import daily_matches_messages, post
from tests.test_rollups import rollup_matches_messages
from tests.test_sketch import buckets_match_messages
from usageql.app import create_app
from usageql.cli import main
from usageql.config import Settings
from usageql.db.compacted import reached
from usageql.db.engine import create_engine
from usageql.db.migrate import upgrade
from usageql.db.prune import prune
from usageql.ingest.compact import compact
from usageql.ingest.records import Batch
from usageql.ingest.write import store_batch
from usageql.query.pieces import FIRST_DAY

DAILY_TABLES = (
    "usage_daily",
    "usage_daily_apps",
    "usage_daily_users",
    "usage_daily_tags",
    "usage_daily_tag_users",
    "usage_daily_user_sets",
    "usage_daily_tag_user_sets",
    "usage_daily_latency",
    "usage_monthly_users",
    "usage_monthly_tag_users",
    "usage_monthly_latency",
)
AFTER = datetime(2026, 7, 1, tzinfo=UTC)  # after both data sets' last day


async def leave_to_compaction(
    client: httpx.AsyncClient, engine: AsyncEngine, events: list[dict[str, Any]]
) -> None:
    """Post `events` to a database that leaves every day to compaction, as a new one does."""
    await reach(engine, "-infinity")
    for start in range(0, len(events), 1000):
        await post(client, events[start : start + 1000])


async def rows_in(engine: AsyncEngine, tables: tuple[str, ...] = DAILY_TABLES) -> int:
    async with engine.connect() as connection:
        counts = [
            await connection.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
            for table in tables
        ]
    return sum(counts)


def days_of(events: Sequence[Mapping[str, Any]]) -> set[datetime]:
    return {
        datetime.fromisoformat(str(e["timestamp"]))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
        for e in events
    }


async def test_a_new_database_leaves_every_day_to_compaction(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url, pool_size=1)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await reached(connection) == FIRST_DAY  # -infinity: nothing compacted yet
        summary = await compact(engine, until=AFTER)
        assert (summary.days, summary.reached) == (0, AFTER)  # no event: nothing to add
    finally:
        await engine.dispose()


async def test_compaction_adds_up_the_days_the_batches_left(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    events = test_correctness.EVENTS
    await leave_to_compaction(client, engine, events)
    assert await rows_in(engine) == 0  # every day was left to compaction
    assert await rollup_matches_messages(engine) > 100  # the hourly tables have every event
    done: list[tuple[int, int]] = []
    summary = await compact(engine, until=AFTER, progress=lambda n, total: done.append((n, total)))
    days = len(days_of(events))
    assert (summary.days, summary.reached) == (days, AFTER)
    assert done[-1] == (days, days)
    # The days and the months (March and April), the day sets: a GROUP BY over messages.
    assert await daily_matches_messages(engine) > 1000
    again = await compact(engine, until=AFTER)
    assert (again.days, again.reached) == (0, AFTER)
    assert await daily_matches_messages(engine) > 1000


async def test_compaction_counts_the_latency_histograms_from_the_events(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await leave_to_compaction(client, engine, test_sketch.EVENTS)
    assert await rows_in(engine, ("usage_daily_latency", "usage_monthly_latency")) == 0
    await compact(engine, until=AFTER)
    assert await buckets_match_messages(engine) > 1000


async def test_late_events_are_kept_as_stored_and_the_rest_compacted(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Half the events, then compaction to a day in the middle of March, then the other half:
    those before that day are late and kept as they are stored, the others wait. A day's rows
    that a batch kept before compaction reached it (the database was eager then) are replaced."""
    events = test_correctness.EVENTS
    middle = datetime(2026, 3, 17, tzinfo=UTC)
    await post(client, events[:300])  # eager: their days are kept as they are stored
    await reach(engine, "-infinity")
    await post(client, events[300:1500])
    summary = await compact(engine, until=middle)
    assert summary.reached == middle
    await post(client, events[1500:])
    late = [e for e in events[1500:] if datetime.fromisoformat(e["timestamp"]) < middle]
    assert len(late) > 100
    await compact(engine, until=AFTER)
    assert await daily_matches_messages(engine) > 1000


async def test_compaction_waits_for_batches_in_flight_and_they_for_it(
    engine: AsyncEngine,
) -> None:
    await reach(engine, "-infinity")
    async with engine.connect() as batch:
        await reached(batch, "share")  # a batch between its lock and its commit
        compacting = asyncio.create_task(compact(engine, until=AFTER))
        await asyncio.sleep(0.5)
        assert not compacting.done()
        async with engine.connect() as connection:
            assert await reached(connection) == FIRST_DAY
        await batch.commit()
    assert (await compacting).reached == AFTER


async def test_eager_adds_today_and_keeps_every_day_from_then_on(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [
        {
            "id": f"n{n}",
            "timestamp": (now - timedelta(hours=n)).isoformat(),
            "role": "user",
            "user": f"u{n % 3}",
        }
        for n in range(30)
    ]
    await reach(engine, "-infinity")
    await post(client, events)
    summary = await compact(engine, eager=True)
    assert summary.reached is None
    assert summary.days == len(days_of(events))
    async with engine.connect() as connection:
        assert await reached(connection) is None
    await post(
        client, [{"id": "later", "timestamp": now.isoformat(), "role": "user", "user": "u9"}]
    )
    assert await daily_matches_messages(engine) > 10


def test_compact_command_reports_the_days_it_added(
    database_url: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["demo", "--messages", "400", "--seed", "5", "--end", "2026-01-10T00:00:00Z"]) == 0
    capsys.readouterr()

    async def leave_every_day() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            await reach(engine, "-infinity")
            async with engine.begin() as connection:
                for table in DAILY_TABLES:
                    await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        finally:
            await engine.dispose()

    async def days_match() -> int:
        engine = create_engine(database_url, pool_size=1)
        try:
            return await daily_matches_messages(engine)
        finally:
            await engine.dispose()

    asyncio.run(leave_every_day())
    assert main(["compact"]) == 0
    err = capsys.readouterr().err
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found = re.search(r"compact: added ([\d,]+) days to the daily and monthly rollups; (.*)", err)
    assert found is not None, err
    assert int(found[1]) > 3
    assert found[2] == f"they reach {today.isoformat()}"
    assert asyncio.run(days_match()) > 100


async def test_the_server_compacts_the_days_that_have_ended_on_its_own(
    database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        await reach(engine, "-infinity")
        await store_batch(
            engine, Batch([message(f"m{n}", minutes=n * 97, user="u1") for n in range(40)])
        )
        assert await rows_in(engine) == 0
        settings = Settings(
            database_url=database_url, data_dir=tmp_path / "data", compact_seconds=1
        )
        application = create_app(settings)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with application.router.lifespan_context(application):
            for _ in range(100):
                async with engine.connect() as connection:
                    if await reached(connection) == today:
                        break
                await asyncio.sleep(0.1)
        async with engine.connect() as connection:
            assert await reached(connection) == today
        assert await daily_matches_messages(engine) > 10
    finally:
        await engine.dispose()


async def test_prune_compacts_first_and_keeps_the_raw_events_of_today(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Raw events are pruned only from days compacted: a day's latency histograms are counted
    from them when it is added."""
    await reach(engine, "-infinity")
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    events = [
        {"id": "old", "timestamp": (now - timedelta(days=3)).isoformat(), "role": "user"},
        {"id": "new", "timestamp": now.isoformat(), "role": "user"},
    ]
    await post(client, events)
    said: list[str] = []
    summary = await prune(engine, now, wait_seconds=0, announce=said.append)
    assert (summary.horizon, summary.messages) == (today, 1)
    kept = [line for line in said if "are kept until their UTC day has ended" in line]
    assert len(kept) == (1 if now.hour else 0), said  # at 00:xx the hour is today's start
    async with engine.connect() as connection:
        assert await reached(connection) == today
    assert await rows_in(engine, ("usage_daily",)) == 1  # the old day, added before pruning


async def test_a_batch_that_waits_for_compaction_keeps_its_days_itself(engine: AsyncEngine) -> None:
    """Compaction between its lock and its commit, having moved compacted_before past a day: a
    batch of that day waits, then reads the new moment, so its events are late and kept in the
    daily tables as they are stored (none is left out of both)."""
    await reach(engine, "-infinity")
    records = [message(f"w{n}", minutes=n * 53, user=f"u{n % 4}") for n in range(30)]
    async with engine.connect() as compacting:
        await reached(compacting, "update")
        await compacting.execute(
            text("UPDATE compaction SET compacted_before = :moment"), {"moment": AFTER}
        )
        storing = asyncio.create_task(store_batch(engine, Batch(records)))
        await asyncio.sleep(0.5)
        assert not storing.done()
        await compacting.commit()
    assert (await storing).messages == len(records)
    assert await daily_matches_messages(engine) > 10
