"""`usageql prune --before DATE`: delete raw events before a UTC hour; the rollups keep their sums.

The horizon is recorded first, then the command waits until every server has re-read it
(usageql.query.horizon), then deletes day by day, one transaction per day, so a long prune shows
progress, holds no lock for long and can be interrupted and run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import ANY_APP, feedback, messages, retention
from usageql.ingest.compact import compact
from usageql.query.horizon import REFRESH_SECONDS

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class PruneSummary:
    """What a prune removed, and the horizon in force after it."""

    horizon: datetime
    messages: int
    feedback: int


def prune_horizon(before: datetime, now: datetime | None = None) -> datetime:
    """`before` rounded down to its UTC hour (rollups are hourly); it must not be in the future."""
    moment = before.astimezone(UTC)
    if moment > (now or datetime.now(UTC)):
        raise ValueError(f"--before: {moment.isoformat()} is in the future")
    return moment.replace(minute=0, second=0, microsecond=0)


async def prune(
    engine: AsyncEngine,
    before: datetime,
    *,
    wait_seconds: float = REFRESH_SECONDS + 1,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
) -> PruneSummary:
    """Delete messages and feedback before `before` (rounded down to the hour), once the days
    that have ended are compacted (their latency histograms are counted from raw events): raw
    events of the days not compacted are kept."""
    horizon = prune_horizon(before)
    reached = (await compact(engine)).reached
    if reached is not None and reached < horizon:
        if announce is not None:
            announce(
                f"raw events from {reached.isoformat()} on are kept until their UTC day has"
                " ended and been added to the daily rollups"
            )
        horizon = reached
    async with engine.begin() as connection:
        record = insert(retention).values(app_id=ANY_APP, pruned_before=horizon)
        stored = await connection.scalar(
            record.on_conflict_do_update(
                index_elements=[retention.c.app_id],
                set_={
                    "pruned_before": func.greatest(
                        retention.c.pruned_before, record.excluded.pruned_before
                    ),
                    "pruned_at": func.now(),
                },
            ).returning(retention.c.pruned_before)
        )
        oldest = await connection.scalar(select(func.min(messages.c.ts)))
    if announce is not None:
        announce(
            f"horizon {stored.isoformat()}: queries that need raw events before it now fail"
            f" with a clear error; waiting {wait_seconds:g} s for running servers to notice"
        )
    await asyncio.sleep(wait_seconds)
    removed_messages = 0
    days = _days(oldest, horizon)
    for done, (start, end) in enumerate(days, start=1):
        async with engine.begin() as connection:
            gone = await connection.execute(
                delete(messages).where(messages.c.ts >= start, messages.c.ts < end)
            )
            removed_messages += gone.rowcount
        if progress is not None:
            progress(done, len(days))
    async with engine.begin() as connection:
        gone = await connection.execute(delete(feedback).where(feedback.c.ts < horizon))
        removed_feedback = gone.rowcount
    return PruneSummary(horizon=stored, messages=removed_messages, feedback=removed_feedback)


def _days(oldest: datetime | None, horizon: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges of at most a day covering [oldest, horizon)."""
    if oldest is None or oldest >= horizon:
        return []
    ranges = []
    start = oldest
    while start < horizon:
        end = min(start + timedelta(days=1), horizon)
        ranges.append((start, end))
        start = end
    return ranges
