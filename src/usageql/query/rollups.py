"""When the hourly rollups answer a question exactly, and the relation they answer it from.

A question can be answered from a rollup table when every dimension it groups, narrows or filters
by is a key of that table (tags only when grouped or narrowed by: the tag table holds a message
once per tag), every metric is a sum, a maximum or a distinct count of those keys, and
every time boundary it uses falls on a whole UTC hour: calendar buckets in zones whose offset is a
whole number of hours (local days in Europe/Berlin yes, in Asia/Kolkata no), hourly windows. A
`from` or `to` inside an hour is fine: the whole hours between them come from the rollup and the
partial hours at the edges from raw events, each event shaped like a rollup row of its own. The
compiler then reads this relation instead of `messages`, each metric's aggregate over its rows
(usageql.query.catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Subquery, Table, and_, func, or_, select, union_all

from usageql.db.measures import MEASURES
from usageql.db.tables import (
    messages,
    usage_hourly,
    usage_hourly_chats,
    usage_hourly_tags,
    usage_hourly_users,
)
from usageql.query.catalog import DIMENSIONS, answered_by
from usageql.query.model import (
    Dimension,
    Filter,
    GroupKey,
    MetadataKey,
    Metric,
    Question,
    Source,
    TimeBucket,
    Windows,
)

m = messages.c
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RollupTable:
    """A rollup table, the dimensions it is keyed by and the metrics it answers."""

    table: Table
    dimensions: frozenset[Dimension]

    @property
    def metrics(self) -> frozenset[Metric]:
        """The metrics whose aggregate reads only this table's columns (keys and measures)."""
        return _ANSWERED[self.table.name]


TABLES = (
    RollupTable(
        usage_hourly,
        frozenset(
            {
                Dimension.APP,
                Dimension.MODEL,
                Dimension.PROVIDER,
                Dimension.SOURCE,
                Dimension.ROLE,
                Dimension.STATUS,
            }
        ),
    ),
    RollupTable(usage_hourly_users, frozenset({Dimension.APP, Dimension.USER, Dimension.MODEL})),
    RollupTable(
        usage_hourly_chats,
        frozenset({Dimension.APP, Dimension.CHAT, Dimension.USER, Dimension.MODEL}),
    ),
    # A message is in one row per tag: exact only when tags are a key (each event counted once
    # per tag, as grouping by tag counts raw events), never for a filter on tags alone.
    RollupTable(
        usage_hourly_tags,
        frozenset({Dimension.APP, Dimension.TAG, Dimension.USER, Dimension.MODEL}),
    ),
)
_ANSWERED = {rollup.table.name: answered_by(rollup.table.c.keys()) for rollup in TABLES}
# A rollup key column's value in a row of `messages` (the unnested tag for `tag`).
_RAW_KEYS = {str(column.key): column for column in DIMENSIONS.values()}


@dataclass(frozen=True, slots=True)
class Plan:
    """Answer from `rollup`, with raw events for the partial hours of [start, end)."""

    rollup: RollupTable
    start: datetime | None
    end: datetime | None

    @property
    def raw_ranges(self) -> list[tuple[datetime, datetime]]:
        """The partial hours at the edges, read from raw events."""
        ranges = []
        if self.start is not None and not _whole(self.start):
            ranges.append((self.start, _ceil(self.start)))
        if self.end is not None and not _whole(self.end):
            ranges.append((_floor(self.end), self.end))
        return ranges


def plan(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> Plan | None:
    """The rollup that answers this exactly, if one does."""
    keys = (*narrow_keys, *question.group_by)
    filtered = {dimension for dimension, _ in filter.values}
    if not _rows_answer(question, filter, keys, filtered):
        return None
    if not _on_whole_hours(keys, timezone, narrow_values):
        return None
    start, end = filter.start, filter.end
    if start is not None and end is not None and _floor(end) <= _ceil(start):
        return None  # no whole hour inside: raw events are as quick
    dimensions = filtered | {key for key in keys if isinstance(key, Dimension)}
    for rollup in TABLES:
        if dimensions <= rollup.dimensions and question.metrics <= rollup.metrics:
            return Plan(rollup, filter.start, filter.end)
    return None


def _rows_answer(
    question: Question, filter: Filter, keys: tuple[GroupKey, ...], filtered: set[Dimension]
) -> bool:
    """Whether rollup rows can tell which events count: not for ratings, metadata, or a filter
    on an event's tags that does not group or narrow by tag (it keeps an event once, however
    many of its tags match)."""
    if question.source is not Source.EVENTS or filter.metadata:
        return False
    if any(isinstance(key, MetadataKey) for key in keys):
        return False
    return Dimension.TAG in keys or not (filter.tag_contains or Dimension.TAG in filtered)


def _on_whole_hours(
    keys: tuple[GroupKey, ...],
    timezone: str,
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> bool:
    """Whether every time bucket, window and narrowed bucket starts and ends on a UTC hour."""
    for key in keys:
        if isinstance(key, TimeBucket) and not whole_hour_zone(timezone):
            return False
        if isinstance(key, Windows) and not all(map(_whole, _flat(key.bounds))):
            return False
    moments = [v for values in narrow_values for v in values if isinstance(v, datetime)]
    return all(map(_whole, moments))


def _flat(bounds: tuple[tuple[datetime, datetime], ...]) -> list[datetime]:
    return [moment for pair in bounds for moment in pair]


def _floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil(moment: datetime) -> datetime:
    return _floor(moment) if _whole(moment) else _floor(moment) + HOUR


def _whole(moment: datetime) -> bool:
    return _floor(moment) == moment


@cache
def whole_hour_zone(name: str) -> bool:
    """Whether `name` kept a whole-hour UTC offset every day from 2000 (the earliest event
    timestamp ingestion accepts) to 2100, so its local days and hours start on UTC hours."""
    tz = ZoneInfo(name)
    day = datetime(2000, 1, 1, tzinfo=UTC)
    while day.year < 2100:
        offset = day.astimezone(tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        day += timedelta(days=1)
    return True


def relation(chosen: Plan) -> Subquery:
    """Rows shaped like the rollup's (`ts` for the hour): the rollup's whole hours between the
    plan's bounds, then each raw event of the partial hours at its edges."""
    table = chosen.rollup.table
    keys = [c.name for c in table.primary_key.columns if c.name not in ("app_id", "hour")]
    whole = select(
        table.c.hour.label("ts"),
        table.c.app_id,
        *(func.nullif(table.c[key], "").label(key) for key in keys),
        *(table.c[measure.name] for measure in MEASURES),
    )
    if chosen.start is not None:
        whole = whole.where(table.c.hour >= _ceil(chosen.start))
    if chosen.end is not None:
        whole = whole.where(table.c.hour < _floor(chosen.end))
    ranges = chosen.raw_ranges
    if not ranges:
        return whole.subquery("rollup")
    edges = select(
        m.ts,
        m.app_id,
        *(_RAW_KEYS[key].label(key) for key in keys),
        *(measure.per_event(m).label(measure.name) for measure in MEASURES),
    ).where(or_(*(and_(m.ts >= start, m.ts < end) for start, end in ranges)))
    return union_all(whole, edges).subquery("rollup")
