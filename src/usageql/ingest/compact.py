"""`usageql compact`: add the UTC days that have ended to the daily and monthly rollups.

The writer adds every event to the hourly rollups as it is stored, and to the tables per UTC day
and month only when its day was compacted already (usageql.db.compacted). Compaction adds the
ended days after `compacted_before`, up to CHUNK_DAYS of them per transaction: their rows of every
daily table added up from their hourly rows (the statements the writer sends for late events,
over the stored hourly rows instead of a batch's), their day sets of users, their latency
histograms counted from their stored events, and for the days that end a month, that month's rows
added up from its days. Then it moves `compacted_before` past them, in the same transaction, so
readers take the days' hours until the commit and their rows after it. The days' rows are deleted
before they are added, so compaction can be interrupted and run again. Days without events are
passed over.

Each server process runs it every USAGEQL_COMPACT_SECONDS (usageql.app); `usageql compact` runs
it at once, with progress. Each transaction holds the row of `compaction` locked, and batches
being stored wait for it (usageql.db.compacted; docs/scaling.md has how long).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    cast,
    delete,
    func,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from usageql.db.buckets import bucket_sql
from usageql.db.compacted import INFINITY, reached
from usageql.db.refresh import refresh_forever
from usageql.db.tables import (
    ANY_APP,
    DAY_HOURS,
    compaction,
    messages,
    usage_daily,
    usage_daily_apps,
    usage_daily_latency,
    usage_daily_tag_user_sets,
    usage_daily_tag_users,
    usage_daily_tags,
    usage_daily_user_sets,
    usage_daily_users,
    usage_hourly_apps,
    usage_monthly_latency,
    usage_monthly_tag_users,
    usage_monthly_users,
)
from usageql.ingest import latency
from usageql.ingest.rollup import DERIVED, added_up, grain, upsert
from usageql.ingest.user_sets import SETS, add_sets, numbered
from usageql.query.model import Granularity
from usageql.query.pieces import DAY, floor
from usageql.query.rollups import every_app
from usageql.query.time import bucket_end, bucket_start

log = logging.getLogger(__name__)
_UTC = ZoneInfo("UTC")

Progress = Callable[[int, int], None]

CHUNK_DAYS = 7
"""The most UTC days added in one transaction (and statement per table): a server that catches
up on weeks of events holds the compaction lock a few days' worth at a time, and each statement's
fixed cost is spread over up to a week of rows."""

FROM_DAYS: dict[Table, Table] = {
    usage_daily_apps: usage_daily,
    usage_daily_tags: usage_daily_tag_users,
    usage_daily_user_sets: usage_daily_users,
    usage_daily_tag_user_sets: usage_daily_tag_users,
}
"""The daily tables (and day sets) added up from another daily table, added before them: its
rows hold the same sums (and users) in fewer rows than the hourly table's (a week of the
benchmark's tags at 1M events: 11.6k rows of tags and users against 32.8k hourly ones)."""
DAILY = tuple(
    sorted(
        (
            (table, FROM_DAYS.get(table, hourly))
            for table, hourly in (*DERIVED, *SETS)
            if grain(table) == "day"
        ),
        key=lambda pair: grain(pair[1]) == "day",  # the hourly sources first
    )
)
"""The daily tables and day sets, each with the table it is added up from, in an order that
adds a daily source before what is added up from it."""
SET_TABLES = frozenset(table for table, _ in SETS)
MONTHLY = {usage_monthly_users: usage_daily_users, usage_monthly_tag_users: usage_daily_tag_users}
"""The monthly tables and the daily table each is added up from."""


@dataclass(frozen=True, slots=True)
class CompactSummary:
    """What a compaction added, and how far the daily tables reach after it."""

    days: int  # days with events added
    reached: datetime | None  # None: every event is kept as it is stored (infinity)


async def compact(
    engine: AsyncEngine,
    *,
    until: datetime | None = None,
    eager: bool = False,
    progress: Progress | None = None,
) -> CompactSummary:
    """Add every UTC day that ended by `until` (the clock's by default) and is not compacted;
    with `eager`, every day with events, the current one too, and from then on have every event
    kept as it is stored (compacted_before infinity: what the writer before compaction did)."""
    through = floor(until or datetime.now(UTC), DAY)
    async with engine.connect() as connection:
        start = await reached(connection)
        if start is None or (start >= through and not eager):
            return CompactSummary(0, start)
        total = await connection.scalar(_days_with_events(start, None if eager else through))
    done = 0
    while True:
        async with engine.begin() as connection:
            start = await reached(connection, "update")  # batches in flight commit first
            if start is None:
                return CompactSummary(done, start)
            hours = usage_hourly_apps.c.hour
            after = [hours >= start] if eager else [hours >= start, hours < through]
            first = await connection.scalar(select(func.min(hours)).where(*after))
            if first is None and (eager or start >= through):
                if eager:  # the month of `start` too, though it has not ended
                    await _add_months(connection, start, bucket_end(start, Granularity.MONTH, _UTC))
                    await _reach(connection, INFINITY)
                return CompactSummary(done, None if eager else start)
            end = through  # no events before it: only months to add
            if first is not None:
                day = floor(first, DAY)
                end = day + CHUNK_DAYS * DAY if eager else min(day + CHUNK_DAYS * DAY, through)
                done += await connection.scalar(_days_with_events(day, end)) or 0
                await _add_days(connection, day, end)
            await _add_months(connection, start, end)
            await _reach(connection, end)
        if progress is not None:
            progress(done, total or 0)


async def _reach(connection: AsyncConnection, moment: Any) -> None:
    await connection.execute(
        update(compaction)
        .where(compaction.c.app_id == ANY_APP)
        .values(compacted_before=moment, compacted_at=func.now())
    )


async def compact_forever(engine: AsyncEngine, every: float) -> None:
    """Compact every `every` seconds until cancelled (a task of the server's lifespan:
    USAGEQL_COMPACT_SECONDS)."""

    async def once() -> None:
        summary = await compact(engine)
        if summary.days:
            log.info("compacted %d UTC days", summary.days, extra={"reached": summary.reached})

    await refresh_forever(once, lambda: every, "the days to compact")


def _days_with_events(start: datetime, through: datetime | None) -> Select[Any]:
    hours = usage_hourly_apps.c.hour
    day = func.date_trunc("day", hours, "UTC")
    within = [hours >= start] if through is None else [hours >= start, hours < through]
    return select(func.count(day.distinct())).where(*within)


async def _add_days(connection: AsyncConnection, day: datetime, end: datetime) -> None:
    """The rows of every daily table for the UTC days of [day, end), from their hourly rows and
    their stored events, in place of any there."""
    for table, source in DAILY:
        if grain(source) == "hour":
            rows = _hours(source, day, end)
        else:  # a set takes its users' hours of day too
            rows = _days(source, day, end, hours=table in SET_TABLES)
        if table in SET_TABLES:
            added = add_sets(table, numbered(table, rows))
        else:
            added = upsert(table, added_up(table, rows))
        await _replace(connection, table, day, end, added)
    counted = latency.packed(_bucket_counts(day, end))
    await _replace(
        connection, usage_daily_latency, day, end, latency.upsert(usage_daily_latency, counted)
    )


async def _add_months(connection: AsyncConnection, start: datetime, end: datetime) -> None:
    """The rows of every monthly table for the UTC months that end in (start, end], added up
    from their days, in place of any there."""
    low, high = (bucket_start(moment, Granularity.MONTH, _UTC) for moment in (start, end))
    if high <= low:
        return
    for table, daily in MONTHLY.items():
        await _replace(
            connection, table, low, high, upsert(table, added_up(table, _days(daily, low, high)))
        )
    counts = latency.per_month(_histogram_cells(low, high))
    await _replace(
        connection,
        usage_monthly_latency,
        low,
        high,
        latency.upsert(usage_monthly_latency, latency.packed(counts)),
    )


async def _replace(
    connection: AsyncConnection, table: Table, low: Any, high: Any, insert: Any
) -> None:
    """Delete `table`'s rows dated in [low, high), then run `insert`."""
    time = table.c[grain(table)]
    await connection.execute(
        delete(table).where(every_app(table.c.app_id), time >= low, time < high)
    )
    await connection.execute(insert)


def _hours(hourly: Table, day: datetime, end: datetime) -> Any:
    """The stored rows of an hourly table in [day, end), as the writer sends them (each app's
    an index range: every_app)."""
    within = [every_app(hourly.c.app_id), hourly.c.hour >= day, hourly.c.hour < end]
    return select(hourly).where(*within).subquery()


def _days(daily: Table, low: datetime, high: datetime, *, hours: bool = False) -> Any:
    """The rows of a daily table in [low, high), shaped as hourly ones (their day as `hour`);
    with `hours`, its users' hours of day of their first and last messages too."""
    columns = [c for c in daily.c if hours or c.name not in DAY_HOURS]
    shaped = [c.label("hour") if c.name == "day" else c for c in columns]
    within = [every_app(daily.c.app_id), daily.c.day >= low, daily.c.day < high]
    return select(*shaped).where(*within).subquery()


def _bucket_counts(day: datetime, end: datetime) -> Any:
    """Per (app, UTC day, model, bucket), the stored events of [day, end) whose latency and time
    to first token fell in the bucket, as the writer counts them (usageql.ingest.latency)."""
    m = messages.c
    parts = []
    for place, column in enumerate((m.latency_ms, m.ttft_ms)):
        counts = [literal(int(place == n)).label(name) for n, name in enumerate(latency.COUNTED)]
        parts.append(
            select(
                m.app_id,
                func.date_trunc("day", m.ts, "UTC").label("day"),
                func.coalesce(m.model, "").label("model"),
                bucket_sql(column).label("bucket"),
                *counts,
            ).where(every_app(m.app_id), m.ts >= day, m.ts < end, column.is_not(None))
        )
    cells = union_all(*parts).subquery()
    groups = [cells.c.app_id, cells.c.day, cells.c.model, cells.c.bucket]
    sums = [cast(func.sum(cells.c[name]), BigInteger()).label(name) for name in latency.COUNTED]
    return select(*groups, *sums).group_by(*groups).subquery("counted")


def _histogram_cells(low: datetime, high: datetime) -> Any:
    """The buckets of the daily histograms in [low, high), a row each: (app, day, model,
    bucket, counts)."""
    d = usage_daily_latency.c
    cells = (
        func.unnest(d.buckets, *(d[name] for name in latency.COUNTED))
        .table_valued("bucket", *latency.COUNTED)
        .render_derived()
    )
    return (
        select(
            d.app_id, d.day, d.model, cells.c.bucket, *(cells.c[name] for name in latency.COUNTED)
        )
        .select_from(usage_daily_latency.join(cells, true()))
        .where(every_app(d.app_id), d.day >= low, d.day < high)
        .subquery("cells")
    )
