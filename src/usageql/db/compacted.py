"""How far the daily and monthly rollups reach: the UTC midnight compaction has reached
(`tables.compaction`).

Every event is added to the hourly rollups in the transaction that stores it. The rollups per UTC
day and month, the day sets of users and the latency histograms are kept there too only for
events before `compacted_before` (late ones; every one where it is infinity); the days from it on
are added up from the hourly rollups and the stored events once they have ended
(usageql.ingest.compact), a statement per table for up to a week of days instead of one per
batch, and readers take their hours until then (usageql.query.rollups.days). A month is compacted
with the day that ends it.

The row of `compaction` is the lock between them: a batch reads it FOR SHARE just before its
rollups' statement (and learns whether any of its events is late), compaction reads it FOR
UPDATE before it adds days and moves `compacted_before`. A batch either committed before
compaction read its day, or waits for compaction to commit and reads the new moment (PostgreSQL
returns the updated row to a waiting FOR SHARE), then keeps that day's late events itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, DateTime, ScalarSelect, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import ANY_APP, compaction
from usageql.query.pieces import FIRST_DAY

Lock = Literal["share", "update"] | None

INFINITY = cast(literal("infinity"), DateTime(timezone=True))
"""SQL: the moment after every other (compacted_before when every day is kept at ingest)."""


def before() -> ScalarSelect[datetime]:
    """SQL: the moment the daily and monthly rollups reach (compacted_before)."""
    return (
        select(compaction.c.compacted_before)
        .where(compaction.c.app_id == ANY_APP)
        .scalar_subquery()
    )


def kept_at_ingest(moment: ColumnElement[Any], grain: str) -> ColumnElement[bool]:
    """SQL: whether rows dated `moment` (an hour or a day) go to a table per `grain` ('day' or
    'month') as they are stored: their day is compacted, or for a month, every day of it."""
    reach = before()
    if grain == "month":
        return moment < func.date_trunc("month", reach, "UTC")
    return moment < reach


async def reached(connection: AsyncConnection, lock: Lock = None) -> datetime | None:
    """How far the daily and monthly tables reach: compacted_before, FIRST_DAY for -infinity
    (no event is older), None for infinity (every day). With `lock`, the row stays locked until
    the transaction ends: 'share' for a batch, 'update' for compaction."""
    moment = compaction.c.compacted_before
    query = select(func.greatest(moment, literal(FIRST_DAY)), moment == INFINITY).where(
        compaction.c.app_id == ANY_APP
    )
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = (await connection.execute(query)).one()
    return None if row[1] else row[0]
