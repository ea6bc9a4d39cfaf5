"""Each app's first event, how many apps and configured prices there are: what the query cost
needs to know of the data, kept in memory so no request pays a statement for it.

A series over an open range runs from the scope's first event to now, so the cost of a query
(src/usageql/graphql/cost.py) counts its buckets from the first event of the apps in scope. Each
server process reads the catalog at startup and re-reads it every `REFRESH_SECONDS` (one index
probe per app and table, like the retention horizon). Between two reads an app may gain events
older than its known first one; the cost then undercounts that app's open ranges for at most
`REFRESH_SECONDS`, and the response size limit still holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ScalarSelect, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.refresh import refresh_forever
from usageql.db.tables import apps, feedback, messages, prices, usage_hourly

REFRESH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DataCatalog:
    """What the data held at the last read (empty: never read, or no data)."""

    # Apps with events: the first one, or the start of its hour (the rollups keep hours).
    first_events: Mapping[str, datetime] = field(default_factory=dict)
    apps: int = 0
    configured_prices: int = 0

    def earliest(self, only: Iterable[str] | None = None) -> datetime | None:
        """The first event of the apps `only` (None: of every app); None when none is known."""
        firsts = self.first_events
        known = firsts.values() if only is None else [firsts[a] for a in only if a in firsts]
        return min(known, default=None)


async def read_catalog(engine: AsyncEngine) -> DataCatalog:
    """Each app's first event (messages, ratings, and the hourly rollups that outlive pruned
    messages), by a probe of each table's (app_id, time) index; and the counts."""
    earliest = func.least(
        _first(messages, "ts"), _first(feedback, "ts"), _first(usage_hourly, "hour")
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(select(apps.c.app_id, earliest))).all()
        configured = await connection.scalar(select(func.count()).select_from(prices))
    return DataCatalog(
        first_events={app: moment for app, moment in rows if moment is not None},
        apps=len(rows),
        configured_prices=int(configured or 0),
    )


def _first(table: Table, column: str) -> ScalarSelect[datetime]:
    """The earliest `column` of the app in the enclosing row (an index probe)."""
    probe = select(func.min(table.c[column])).where(table.c.app_id == apps.c.app_id)
    return probe.scalar_subquery()


class FirstEvents:
    """This process's copy of the catalog."""

    def __init__(self, catalog: DataCatalog | None = None) -> None:
        self.catalog = catalog or DataCatalog()

    async def refresh(self, engine: AsyncEngine) -> None:
        """Read the catalog again."""
        self.catalog = await read_catalog(engine)

    async def watch(self, engine: AsyncEngine) -> None:
        """Refresh forever (a background task of the server's lifespan)."""
        await refresh_forever(
            lambda: self.refresh(engine), lambda: REFRESH_SECONDS, "the apps' first events"
        )
