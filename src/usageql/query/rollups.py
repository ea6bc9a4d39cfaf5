"""When the hourly rollups answer a question exactly, and the relation they answer it from.

A question can be answered from a rollup table when every dimension it groups, narrows or filters
by is a key of that table (tags only when grouped or narrowed by: the tag table holds a message
once per tag), every metric is a sum, a maximum or a distinct count of those keys, and
every time boundary it uses falls on a whole UTC hour: calendar buckets in zones whose offset is a
whole number of hours (local days in Europe/Berlin yes, in Asia/Kolkata no), hourly windows. A
`from` or `to` inside an hour is fine: the whole hours between them come from the rollup and the
partial hours at the edges from raw events, each event shaped like a rollup row of its own. The
compiler then reads this relation instead of `messages`, with metrics defined over it here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Subquery,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)

from usageql.db.tables import (
    messages,
    usage_hourly,
    usage_hourly_chats,
    usage_hourly_tags,
    usage_hourly_users,
)
from usageql.query.catalog import DIMENSIONS, known_spend
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

_COUNTS = {
    Metric.MESSAGES: "messages",
    Metric.REQUESTS: "requests",
    Metric.SUCCESSFUL_REQUESTS: "successful_requests",
    Metric.FAILED_REQUESTS: "failed_requests",
    Metric.UNPRICED_REQUESTS: "unpriced_requests",
}
_SUMS = {
    Metric.INPUT_TOKENS: "input_tokens",
    Metric.OUTPUT_TOKENS: "output_tokens",
    Metric.CACHE_READ_TOKENS: "cache_read_tokens",
    Metric.CACHE_WRITE_TOKENS: "cache_write_tokens",
    Metric.REASONING_TOKENS: "reasoning_tokens",
}
_MAXIMA = {Metric.LATENCY_MAX: "latency_max", Metric.TTFT_MAX: "ttft_max"}
_ANY_TABLE = frozenset(
    {*_COUNTS, *_SUMS, *_MAXIMA, Metric.TOTAL_TOKENS, Metric.SPEND, Metric.MODELS}
)


@dataclass(frozen=True, slots=True)
class RollupTable:
    """A rollup table, the dimensions it is keyed by and the metrics it holds."""

    table: Table
    dimensions: frozenset[Dimension]
    metrics: frozenset[Metric]


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
        _ANY_TABLE | {Metric.PROVIDER},
    ),
    RollupTable(
        usage_hourly_users,
        frozenset({Dimension.APP, Dimension.USER, Dimension.MODEL}),
        _ANY_TABLE | {Metric.USERS},
    ),
    RollupTable(
        usage_hourly_chats,
        frozenset({Dimension.APP, Dimension.CHAT, Dimension.USER, Dimension.MODEL}),
        _ANY_TABLE | {Metric.USERS, Metric.CHATS},
    ),
    # A message is in one row per tag: exact only when tags are a key (each event counted once
    # per tag, as grouping by tag counts raw events), never for a filter on tags alone.
    RollupTable(
        usage_hourly_tags,
        frozenset({Dimension.APP, Dimension.TAG, Dimension.USER, Dimension.MODEL}),
        _ANY_TABLE | {Metric.USERS},
    ),
)
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
    measures = [c.name for c in table.columns if c.name not in ("app_id", "hour", *keys)]
    whole = select(
        table.c.hour.label("ts"),
        table.c.app_id,
        *(func.nullif(table.c[key], "").label(key) for key in keys),
        *(table.c[measure] for measure in measures),
    )
    if chosen.start is not None:
        whole = whole.where(table.c.hour >= _ceil(chosen.start))
    if chosen.end is not None:
        whole = whole.where(table.c.hour < _floor(chosen.end))
    ranges = chosen.raw_ranges
    if not ranges:
        return whole.subquery("rollup")
    per_event = _event_measures()
    edges = select(
        m.ts,
        m.app_id,
        *(_RAW_KEYS[key].label(key) for key in keys),
        *(per_event[measure].label(measure) for measure in measures),
    ).where(or_(*(and_(m.ts >= start, m.ts < end) for start, end in ranges)))
    return union_all(whole, edges).subquery("rollup")


def _event_measures() -> dict[str, ColumnElement[Any]]:
    """One event's contribution to a rollup row (as usageql.ingest.rollup sums it)."""
    request = m.role == "assistant"

    def counted(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return case((condition, 1), else_=0)

    return {
        "messages": literal(1, BigInteger),
        "requests": counted(request),
        "successful_requests": counted(and_(request, m.status == "success")),
        "failed_requests": counted(and_(request, m.status == "error")),
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "cache_read_tokens": m.cache_read_tokens,
        "cache_write_tokens": m.cache_write_tokens,
        "reasoning_tokens": m.reasoning_tokens,
        "cost": func.coalesce(m.cost, 0),
        "unpriced_requests": counted(and_(request, m.cost.is_(None))),
        "latency_max": m.latency_ms,
        "ttft_max": m.ttft_ms,
    }


def metric_sql(metric: Metric, rows: Subquery) -> ColumnElement[Any]:
    """`metric` over the relation's rows: the same value the raw-events aggregate gives."""
    c = rows.c
    if metric in _COUNTS:
        return cast(func.coalesce(func.sum(c[_COUNTS[metric]]), 0), BigInteger)
    if metric in _SUMS:
        return func.coalesce(func.sum(c[_SUMS[metric]]), 0)
    if metric in _MAXIMA:
        return func.max(c[_MAXIMA[metric]])
    special: dict[Metric, Callable[[], ColumnElement[Any]]] = {
        Metric.TOTAL_TOKENS: lambda: func.coalesce(func.sum(c.input_tokens + c.output_tokens), 0),
        Metric.SPEND: lambda: known_spend(
            func.coalesce(func.sum(c.cost), 0),
            func.coalesce(func.sum(c.requests), 0),
            func.coalesce(func.sum(c.unpriced_requests), 0),
        ),
        Metric.USERS: lambda: func.count(c.user_id.distinct()),
        Metric.CHATS: lambda: func.count(c.chat_id.distinct()),
        Metric.MODELS: lambda: func.count(c.model.distinct()),
        Metric.PROVIDER: lambda: func.max(c.provider).filter(c.provider.is_not(None)),
    }
    return special[metric]()
