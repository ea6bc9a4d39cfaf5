"""Hourly, daily and monthly rollups and latency buckets, kept in the transaction that stores the
messages they sum.

`rollup_rows` is pure: it sums stored message rows per rollup key, each measure as
usageql.db.measures declares it. `ROLLUPS_STATEMENT`, built once (usageql.ingest.prepared), adds
those sums (`rollup_values`) to every rollup table (`ROLLUPS`) and, in the same statement, the
hourly sums added up to the tables with fewer keys, UTC days or UTC months (`DERIVED`):
PostgreSQL groups the rows it was already sent for the hourly tables, which costs less than
summing them again in Python and sending the results (measured in docs/scaling.md), the users to
the daily sets of user numbers (usageql.ingest.user_sets), and the requests to the latency
histograms (usageql.ingest.latency). An event is in the hourly rollups as soon as its batch
commits; the tables per UTC day and month take it then only if its day was compacted already (a
late event): the others are added up once their day has ended (usageql.db.compacted). Only rows
that were really inserted are summed, so duplicates change nothing here either. Keys are written
in sorted order, like every other upsert of the writer, so concurrent batches lock rollup rows in
the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import add
from typing import Any

from sqlalchemy import ColumnElement, Select, SmallInteger, Table, cast, func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.compacted import kept_at_ingest
from usageql.db.measures import MEASURES, Merge, contributions
from usageql.db.tables import (
    DAY_HOURS,
    messages,
    usage_daily,
    usage_daily_apps,
    usage_daily_tag_users,
    usage_daily_tags,
    usage_daily_users,
    usage_hourly,
    usage_hourly_apps,
    usage_hourly_chats,
    usage_hourly_models,
    usage_hourly_tags,
    usage_monthly_tag_users,
    usage_monthly_users,
)
from usageql.db.unnest import parameter_values, unnest_parameters
from usageql.ingest.latency import histogram_upserts, histogram_values
from usageql.ingest.prepared import Prepared
from usageql.ingest.records import MESSAGE_COLUMNS, MessageRow, row_values
from usageql.ingest.user_sets import set_upserts

# The rollup tables, in the order their sums come from rollup_rows.
ROLLUPS = (usage_hourly, usage_hourly_chats, usage_hourly_tags)
# Each rollup added up from one of ROLLUPS (fewer keys, or UTC days or months), and that one.
DERIVED = (
    (usage_hourly_apps, usage_hourly),
    (usage_hourly_models, usage_hourly),
    (usage_daily_apps, usage_hourly),
    (usage_daily, usage_hourly),
    (usage_daily_users, usage_hourly_chats),
    (usage_daily_tags, usage_hourly_tags),
    (usage_daily_tag_users, usage_hourly_tags),
    (usage_monthly_users, usage_hourly_chats),
    (usage_monthly_tag_users, usage_hourly_tags),
)

# The measures as rollup_rows lays them out: the sums, then the maxima, so that two tuples merge
# with one map over each part.
_SUMMED = tuple(measure for measure in MEASURES if measure.merge is Merge.SUM)
_MAXIMA = tuple(measure for measure in MEASURES if measure.merge is Merge.MAX)
MEASURE_ORDER = tuple(measure.name for measure in (*_SUMMED, *_MAXIMA))
_SUMMED_NAMES = MEASURE_ORDER[: len(_SUMMED)]
_MAXIMA_NAMES = MEASURE_ORDER[len(_SUMMED) :]
_contribution = contributions((*_SUMMED, *_MAXIMA), messages.c, MESSAGE_COLUMNS)
_SUMS = len(_SUMMED)
# What the keys are made of.
_TS = row_values("ts")
_KEYS = row_values(
    "app_id", "ts", "role", "chat_id", "user_id", "model", "provider", "source", "status", "tags"
)

# The columns sent for each of ROLLUPS: its key, then MEASURE_ORDER.
_SENT = {
    table.name: [*(c.name for c in table.primary_key.columns), *MEASURE_ORDER] for table in ROLLUPS
}

Key = tuple[Any, ...]
Measures = tuple[Any, ...]  # the values of MEASURE_ORDER for one key
Sums = dict[Key, Measures]


def rollup_rows(rows: Iterable[MessageRow]) -> tuple[Sums, Sums, Sums]:
    """Sums per (app, hour, model, provider, source, role, status), per (app, hour, chat, user,
    model) and per (app, hour, tag, user, model), each a tuple of MEASURE_ORDER. Absent key values
    are ''; a message counts once for each of its tags. The sums per (app, hour, user, model) are
    the chats' added up (DERIVED), by PostgreSQL."""
    hourly: Sums = {}
    per_chat: Sums = {}
    per_tag: Sums = {}
    for row in rows:
        app, ts, role, chat, user, model, provider, source, status, tags = _KEYS(row)
        hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        model, user = model or "", user or ""
        measures = _contribution(row)
        keyed = [
            (hourly, (app, hour, model, provider or "", source or "", role, status)),
            (per_chat, (app, hour, chat or "", user, model)),
        ]
        # distinct: ingestion drops repeated tags
        keyed.extend((per_tag, (app, hour, tag, user, model)) for tag in tags or ())
        for sums, key in keyed:
            total = sums.get(key)
            sums[key] = measures if total is None else _merged(total, measures)
    return hourly, per_chat, per_tag


def _merged(a: Measures, b: Measures) -> Measures:
    return (*map(add, a[:_SUMS], b[:_SUMS]), *map(_max, a[_SUMS:], b[_SUMS:]))


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def rollup_values(rows: Sequence[MessageRow], *, late: bool = True) -> dict[str, list[Any]]:
    """The values ROLLUPS_STATEMENT (HOURLY_STATEMENT unless `late`) adds the messages in `rows`
    (just inserted) with: every hourly table's sums, in key order, and with `late`, the requests
    for the latency histograms."""
    values: dict[str, list[Any]] = {}
    for table, sums in zip(ROLLUPS, rollup_rows(rows), strict=True):
        values.update(parameter_values(table.name, _SENT[table.name], sums))
    if late:
        values.update(histogram_values(rows))
    return values


async def add_to_rollups(
    connection: AsyncConnection, rows: Sequence[MessageRow], reach: datetime | None
) -> None:
    """Add `rows` (just inserted) to the hourly rollups, and those before `reach` (compacted
    days: late events; None: every one) to the tables per day and month too."""
    late = reach is None or min(map(_TS, rows)) < reach
    statement = ROLLUPS_STATEMENT if late else HOURLY_STATEMENT
    await statement.run(connection, rollup_values(rows, late=late))


def _statement(*, every_table: bool) -> Insert:
    """One statement adding a batch's values (rollup_values) to the hourly rollup tables, and
    with `every_table`, its late events to the tables per day and month too."""
    statements: list[tuple[str, Insert]] = []
    sent: dict[str, Any] = {}
    for table in ROLLUPS:
        columns = {name: table.c[name].type for name in _SENT[table.name]}
        sent[table.name] = unnest_parameters(table.name, **columns).cte(f"{table.name}_sent")
        statements.append((table.name, upsert(table, select(*sent[table.name].c))))
    for derived, hourly in DERIVED:
        if every_table or grain(derived) == "hour":
            rows = kept(sent[hourly.name], grain(derived))
            statements.append((derived.name, upsert(derived, added_up(derived, rows))))
    if every_table:
        statements += set_upserts({name: kept(rows, "day") for name, rows in sent.items()})
        statements += histogram_upserts()
    *first, (_, last) = statements
    return last.add_cte(*(statement.cte(name) for name, statement in first))


def grain(table: Table) -> str:
    """The time a rollup table's rows are per: 'hour', 'day' or 'month'."""
    return str(table.primary_key.columns.values()[1].name)


def kept(hourly: Any, unit: str) -> Any:
    """The rows sent for an hourly table that a table per `grain` takes as they are stored
    (usageql.db.compacted): all for an hourly one; those of compacted days (late events) for a
    daily or monthly one."""
    if unit == "hour":
        return hourly
    return select(hourly).where(kept_at_ingest(hourly.c.hour, unit)).subquery()


def added_up(derived: Table, hourly: Any) -> Select[Any]:
    """The rows sent for an hourly table, added up per the keys of `derived` and its time (the
    hour, or the UTC day or month), in key order."""
    time, *keys = [c.name for c in derived.primary_key.columns][1:]
    period = (
        hourly.c.hour
        if time == "hour"
        else func.date_trunc(time, hourly.c.hour, "UTC", type_=derived.c[time].type).label(time)
    )
    groups = [hourly.c.app_id, period, *(hourly.c[key] for key in keys)]
    first, last = DAY_HOURS
    day_hours = (
        [
            _hour_of_day(func.min(hourly.c.hour)).label(first),
            _hour_of_day(func.max(hourly.c.hour)).label(last),
        ]
        if first in derived.c
        else []
    )
    return (
        select(
            *groups,
            *(func.sum(hourly.c[name]).label(name) for name in _SUMMED_NAMES),
            *(func.max(hourly.c[name]).label(name) for name in _MAXIMA_NAMES),
            *day_hours,
        )
        .group_by(*groups)
        .order_by(*groups)
    )


def _hour_of_day(hour: ColumnElement[datetime]) -> ColumnElement[int]:
    """The UTC hour of day (0-23) of `hour`, taken once per group, not per row sent."""
    return cast(func.date_part("hour", func.timezone("UTC", hour)), SmallInteger)


def upsert(table: Table, rows: Select[Any]) -> Insert:
    """Add `rows` (the table's keys, then MEASURE_ORDER, each key once, then the hours of day of
    the first and last message where the table keeps them) to `table`."""
    key_names = [c.name for c in table.primary_key.columns]
    first, last = DAY_HOURS
    hours = [first, last] if first in table.c else []
    statement = insert(table).from_select([*key_names, *MEASURE_ORDER, *hours], rows)
    new, old = statement.excluded, table.c
    added = {name: old[name] + new[name] for name in _SUMMED_NAMES}
    largest = {name: func.greatest(old[name], new[name]) for name in _MAXIMA_NAMES}
    if hours:
        largest[first] = func.least(old[first], new[first])
        largest[last] = func.greatest(old[last], new[last])
    return statement.on_conflict_do_update(index_elements=key_names, set_={**added, **largest})


ROLLUPS_STATEMENT = Prepared(_statement(every_table=True))
"""Adds a batch's messages to every rollup table (the tables per day and month: its late events
only), given rollup_values of them."""
HOURLY_STATEMENT = Prepared(_statement(every_table=False))
"""Adds a batch's messages to the hourly rollup tables, given rollup_values(late=False) of them:
for a batch without late events, which neither counts its latencies in Python nor sends the
daily and monthly upserts that would find no row."""
