"""Migrations 0009 and 0010 fill the daily rollups and the narrower hourly ones from the hourly
ones (which outlive pruned events) and the latency buckets from the stored messages, recording
where the buckets begin after a prune; 0013 fills the monthly rollups from the daily ones, 0015 the
user numbers and day sets, 0018 packs the latency buckets into histograms, 0019 the hours of day of
each user's first and last message in the daily tables of users; their downgrades remove them
(0018's unpacks them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import app_client
from tests.factories import rows_before_0016
from tests.graphql_client import graphql
from tests.test_daily import daily_matches_messages
from tests.test_migrations import downgrade
from tests.test_rollups import ROLLUP_MEASURES, ROLLUPS_BEFORE_0022, rollup_matches_messages
from tests.test_sketch import EVENTS, buckets_match_messages, histogram_rows
from usageql.config import Settings
from usageql.db.engine import create_engine
from usageql.db.migrate import upgrade
from usageql.db.tables import apps, messages
from usageql.ingest.parse import ParseOptions, parse_record
from usageql.ingest.records import Message

HORIZON = datetime(2026, 5, 12, tzinfo=UTC)
# The events with tags, one or two each, so the tables per tag are filled too.
TAGGED = [
    {**e, "tags": ["t%d" % (n % 3), *(["both"] if n % 4 == 0 else [])]}
    for n, e in enumerate(EVENTS)
]


async def store_before_0009(engine: AsyncEngine) -> int:
    """Store the events as a version before 0009 did: messages, and the hourly rollups as a
    GROUP BY over them. Returns how many messages."""
    records = [parse_record(event, ParseOptions()) for event in TAGGED]
    stored = [r for r in records if isinstance(r, Message)]
    rows = rows_before_0016(stored)
    async with engine.begin() as connection:
        await connection.execute(insert(apps), [{"app_id": a} for a in {r.app for r in stored}])
        await connection.execute(insert(messages), rows)
        for table, (keys, source) in ROLLUPS_BEFORE_0022.items():
            coalesced = ", ".join(f"coalesce({key}, '')" for key in keys.split(", "))
            await connection.execute(
                text(
                    f"INSERT INTO {table} SELECT app_id, date_trunc('hour', ts, 'UTC'),"  # noqa: S608
                    f" {coalesced}, {ROLLUP_MEASURES} FROM {source} GROUP BY app_id, 2, {coalesced}"
                )
            )
    return len(stored)


async def test_a_database_is_filled_as_ingestion_would_have(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url, pool_size=1)
    try:
        await upgrade(engine, "0008")
        assert await store_before_0009(engine) == len(EVENTS)
        await upgrade(engine)
        # 0013's monthly tables and 0015's day sets too
        assert await daily_matches_messages(engine) > 100
        assert await rollup_matches_messages(engine) > 100  # 0010's narrower hourly tables too
        assert await buckets_match_messages(engine) > 1000
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM retention")) == 0
            packed = {
                time: {tuple(row) for row in await connection.execute(histogram_rows(time))}
                for time in ("day", "month")
            }
        await downgrade(engine, "0017")  # 0018's histograms unpacked into rows per bucket
        async with engine.connect() as connection:
            for time, table in (("day", "usage_daily_latency"), ("month", "usage_monthly_latency")):
                stored = text(
                    f"SELECT app_id, {time}, model, bucket, latency, ttft FROM {table}"  # noqa: S608
                )
                assert {tuple(row) for row in await connection.execute(stored)} == packed[time]
        await downgrade(engine, "0008")
        async with engine.connect() as connection:
            left = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'usage_daily%'"
                    " OR tablename LIKE 'usage_monthly%'"
                    " OR tablename IN ('usage_hourly_apps', 'usage_hourly_models', 'user_numbers')"
                )
            )
        assert left == 0
    finally:
        await engine.dispose()


async def test_pruned_periods_keep_their_days_and_have_no_buckets(
    empty_database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(empty_database_url, pool_size=1)
    try:
        await upgrade(engine, "0008")
        await store_before_0009(engine)
        async with engine.begin() as connection:  # as `usageql prune` leaves it
            await connection.execute(
                text("INSERT INTO retention (app_id, pruned_before) VALUES ('*', :at)"),
                {"at": HORIZON},
            )
            await connection.execute(text("DELETE FROM messages WHERE ts < :at"), {"at": HORIZON})
        await upgrade(engine)
        async with engine.connect() as connection:
            # Every day and every month of the users' hours (their chats' rows), the pruned ones
            # too, holds its hours' sums.
            for unit, table in (("day", "usage_daily_users"), ("month", "usage_monthly_users")):
                grouped = text(
                    f"SELECT app_id, date_trunc('{unit}', hour, 'UTC'), user_id, sum(messages),"  # noqa: S608
                    " sum(input_tokens), max(latency_max) FROM usage_hourly_chats GROUP BY 1, 2, 3"
                )
                expected = {tuple(row) for row in await connection.execute(grouped)}
                stored = text(
                    f"SELECT app_id, {unit}, user_id, messages, input_tokens, latency_max"  # noqa: S608
                    f" FROM {table}"
                )
                assert {tuple(row) for row in await connection.execute(stored)} == expected
                assert len(expected) > 10
            # Every user's day row, the pruned days' too, holds the UTC hours of day of its
            # first and last hour (0019).
            hour = "extract(hour FROM hour AT TIME ZONE 'UTC')::smallint"
            for table, hourly, keys in (
                ("usage_daily_users", "usage_hourly_chats", "user_id"),
                ("usage_daily_tag_users", "usage_hourly_tags", "tag, user_id"),
            ):
                grouped = text(
                    f"SELECT app_id, date_trunc('day', hour, 'UTC'), {keys}, min({hour}),"  # noqa: S608
                    f" max({hour}) FROM {hourly} GROUP BY 1, 2, {keys}"
                )
                expected = {tuple(row) for row in await connection.execute(grouped)}
                stored = text(
                    f"SELECT app_id, day, {keys}, first_hour, last_hour FROM {table}"  # noqa: S608
                )
                assert {tuple(row) for row in await connection.execute(stored)} == expected
                assert len({row[-1] - row[-2] for row in expected}) > 3, (
                    table
                )  # hours apart, or not
            # Every day's set, the pruned days' too, holds the numbers of its hours' users.
            grouped = text(
                "SELECT h.app_id, date_trunc('day', h.hour, 'UTC'),"
                " array_agg(DISTINCT n.number ORDER BY n.number)"
                " FILTER (WHERE n.number IS NOT NULL)"
                " FROM usage_hourly_chats AS h LEFT JOIN user_numbers AS n"
                " ON n.app_id = '*' AND n.user_id = h.user_id GROUP BY 1, 2"
            )
            expected = {(a, d, tuple(u or ())) for a, d, u in await connection.execute(grouped)}
            stored = text("SELECT app_id, day, users FROM usage_daily_user_sets")
            assert {(a, d, tuple(u)) for a, d, u in await connection.execute(stored)} == expected
            assert min(day for _, day, _ in expected) < HORIZON
            first = await connection.scalar(text("SELECT min(day) FROM usage_daily_users"))
            assert first is not None
            assert first < HORIZON
            sketched = await connection.scalar(text("SELECT sketched_from FROM retention"))
            assert sketched == HORIZON
            oldest = await connection.scalar(text("SELECT min(day) FROM usage_daily_latency"))
            assert oldest == HORIZON
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=empty_database_url, data_dir=tmp_path / "data", auth_cache_seconds=3600
    )
    async with app_client(replace(settings, rollups=True)) as client:
        whole_days = '{from: "2026-05-03T00:00:00Z", to: "2026-05-20T00:00:00Z"}'
        users = "{ usage(filter: %s) { summary { users messages } } }" % whole_days
        summary = (await graphql(client, users))["usage"]["summary"]
        kept = [e for e in EVENTS if "2026-05-03" <= e["timestamp"][:10] < "2026-05-20"]
        assert summary == {"users": len({e["user"] for e in kept}), "messages": len(kept)}
        latency = "{ usage(filter: %s) { summary { latencyMs(approximate: true) { p50 } } } }"
        response = await client.post("/graphql", json={"query": latency % whole_days})
        error = response.json()["errors"][0]["message"]
        assert "needs raw events from before 2026-05-12T00:00:00Z, which were pruned" in error
        after = '{from: "2026-05-12T00:00:00Z"}'
        answer = await graphql(client, latency % after)
        assert answer["usage"]["summary"]["latencyMs"]["p50"] is not None
