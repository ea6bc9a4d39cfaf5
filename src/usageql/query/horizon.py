"""The retention horizon: raw events before it were pruned (`usageql prune`), rollups remain.

Each server process keeps the horizon in memory, reads it at startup and re-reads it every
`REFRESH_SECONDS`, so no request pays a statement for it; `usageql prune` records a new horizon
and waits that long before it deletes anything, so no server answers from half-deleted events.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.compacted import reached
from usageql.db.refresh import refresh_forever
from usageql.db.tables import ANY_APP, retention
from usageql.query.compile import Compiled
from usageql.query.pieces import FIRST_DAY

REFRESH_SECONDS = 5.0


class PrunedDataError(ValueError):
    """A question needs raw events from before the retention horizon."""


class Horizon:
    """This process's copy of the retention horizon, and of where latency buckets begin (the
    horizon when migration 0009 counted them from the events then stored)."""

    def __init__(
        self,
        before: datetime | None = None,
        sketched_from: datetime | None = None,
        compacted: datetime | None = FIRST_DAY,
    ) -> None:
        self.before = before
        self.sketched_from = sketched_from
        # The daily tables hold the days before it (None: every day; usageql.db.compacted). A
        # copy a few seconds old is safe: compaction only moves it later, and the days it
        # passes are in the hourly tables too. Until it is read: none (every day from hours).
        self.compacted = compacted

    async def refresh(self, engine: AsyncEngine) -> None:
        """Read the recorded horizon (None: nothing was pruned) and how far the daily tables
        reach."""
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(retention.c.pruned_before, retention.c.sketched_from).where(
                        retention.c.app_id == ANY_APP
                    )
                )
            ).first()
            self.compacted = await reached(connection)
        self.before, self.sketched_from = (None, None) if row is None else tuple(row)

    async def watch(self, engine: AsyncEngine) -> None:
        """Refresh forever (a background task of the server's lifespan)."""
        await refresh_forever(
            lambda: self.refresh(engine), lambda: REFRESH_SECONDS, "the retention horizon"
        )

    def check(self, compiled: Compiled) -> None:
        """Raise PrunedDataError if `compiled` reads raw events that were pruned, or latency
        buckets from before they were counted (which lack those requests as raw events do)."""
        before, sketched_from = self.before, self.sketched_from
        pruned = before is not None and compiled.reads_raw_before(before)
        if sketched_from is not None and compiled.reads_buckets_before(sketched_from):
            pruned = True
        if before is None or not pruned:
            return
        since = before.isoformat().replace("+00:00", "Z")
        raise PrunedDataError(
            f"this question needs raw events from before {since}, which were pruned"
            f" (`usageql prune`): set `from` to {since} or later, or ask only for what the"
            " hourly rollups keep (counts, tokens, spend, unpriced requests, users, chats, models"
            " and maximum latency, by app, model, provider, source, role, status, user, chat or"
            " tag, over whole hours in whole-hour time zones)"
        )
