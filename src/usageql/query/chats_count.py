"""Exact distinct chats of app-level questions, from first appearances instead of every chat.

Distinct chats over a month read from the (chat, hour) rollup is a row per chat and hour: ~100 ms
at 1M events, and it grows with the data. Counted by first appearance it is a sum of a few hundred
hourly counts plus a correction at the period's start:

    chats active in [s, e) = chats first seen in [s, e)
                           + chats first seen before s, with a message in [s, e)

The first term is `chat_firsts_hourly` over the whole hours of [s, e), and `chat_spans.first_at`
in the partial hours at its edges. The second are the chats that straddle s (first before s, last
at or after it, found through the span-class index: usageql.db.span_class) and were active in
[s, e): those whose last message is before e certainly were; those that outlast e had a message
in [s, e) if the (chat, hour) rollup has one of its hours inside (through its (app, chat, hour)
index), or raw events have one in the partial hours. A chat active before s, silent during
[s, e), active after e is not counted.

Every row of an answer is a period of its own (a time bucket, cut by the filter's from/to) in one
app or several, so the chats of each row are counted this way, in the statement that answers the
row's other metrics: chats are a column added to its grouped rows (`attach`), one statement
whatever the rows. Chats are (app, chat) pairs, so those of several apps add up.

Only questions whose filter and keys are apps and time are answered so (what dashboards ask of
the whole app); chats filtered or grouped by user, model, tag or anything else are counted from
the (chat, hour) rollup or raw events as before, and so are hourly buckets. Like the hourly
rollups, it needs time bounds on whole UTC hours (whole-hour time zones; a from/to inside an hour
is fine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    Select,
    SmallInteger,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY

from usageql.db import span_class
from usageql.db.tables import (
    apps,
    chat_firsts_hourly,
    chat_spans,
    messages,
    usage_hourly_chats,
)
from usageql.query.model import (
    Dimension,
    Filter,
    Granularity,
    GroupKey,
    Metric,
    Question,
    Source,
    TimeBucket,
)
from usageql.query.rollups import whole_hour_zone

HOUR = timedelta(hours=1)
TimeRange = tuple[datetime, datetime]
_TIMESTAMP = DateTime(timezone=True)
# make_interval(years, months, weeks, days) of one bucket, added to its local start. Not hours:
# plan() leaves hourly buckets to the (chat, hour) rollup.
_ONE = {
    Granularity.DAY: (0, 0, 0, 1),
    Granularity.WEEK: (0, 0, 1, 0),
    Granularity.MONTH: (0, 1, 0, 0),
    Granularity.QUARTER: (0, 3, 0, 0),
    Granularity.YEAR: (1, 0, 0, 0),
}


@dataclass(frozen=True, slots=True)
class ChatsPlan:
    """Count the chats of `question` by first appearance; its other metrics as before."""

    question: Question
    filter: Filter
    timezone: str
    narrow_keys: tuple[GroupKey, ...]

    @property
    def rest(self) -> Question:
        """The question without chats (messages, when nothing else is asked: its rows are the
        groups that have events, as the raw answer's are)."""
        others = self.question.metrics - {Metric.CHATS}
        return replace(self.question, metrics=others or frozenset({Metric.MESSAGES}))

    @property
    def raw_ranges(self) -> list[TimeRange]:
        """The partial hours at the filter's edges, where raw events tell whether a chat that
        outlasts the period was active in it."""
        return partial_hours(self.filter)

    def attach(
        self, statement: Select[Any], narrow_labels: list[str], group_labels: list[str]
    ) -> Select[Any]:
        """`statement` (the rest, grouped by the labelled keys) with a column of chats per row."""
        rows = statement.subquery("answered")
        keys = [
            *zip(self.narrow_keys, narrow_labels, strict=True),
            *zip(self.question.group_by, group_labels, strict=True),
        ]
        app = next((rows.c[label] for key, label in keys if key is Dimension.APP), None)
        buckets = [(key, rows.c[label]) for key, label in keys if isinstance(key, TimeBucket)]
        cell = _Cell.of(buckets, self.filter, self.timezone)
        counter = _Counter(cell, Apps(app, self.filter.allowed(Dimension.APP)))
        chats = (counter.firsts() + counter.straddlers()).label(Metric.CHATS.value)
        if not keys and self.question.metrics == {Metric.CHATS}:
            return select(chats)  # one row, as the rest's would be: it is not read
        return select(*rows.c, chats)


def plan(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> ChatsPlan | None:
    """Whether the question's chats are counted by first appearance (see the module's doc)."""
    keys = (*narrow_keys, *question.group_by)
    moments = [v for values in narrow_values for v in values if isinstance(v, datetime)]
    start, end = filter.start, filter.end
    answers = (
        Metric.CHATS in question.metrics
        and question.source is Source.EVENTS
        and _apps_and_time(filter, keys, timezone)
        and all(map(_whole, moments))
        # No whole hour inside: raw events are as quick.
        and (start is None or end is None or floor_hour(end) > ceil_hour(start))
    )
    return ChatsPlan(question, filter, timezone, narrow_keys) if answers else None


def _apps_and_time(filter: Filter, keys: tuple[GroupKey, ...], timezone: str) -> bool:
    """Whether the filter and keys are only apps and time, in buckets that start on UTC hours.
    Not hourly ones: the (chat, hour) rollup holds each hour's chats as they are, while this
    would look for the chats spanning every hour's start (a month of hours: 177 against 140 ms
    at 1M events)."""
    if filter.tag_contains or filter.metadata:
        return False
    if any(dimension is not Dimension.APP for dimension, _ in filter.values):
        return False
    buckets = [key for key in keys if isinstance(key, TimeBucket)]
    if len(buckets) + keys.count(Dimension.APP) < len(keys):
        return False
    if buckets and not whole_hour_zone(timezone):
        return False
    return TimeBucket(Granularity.HOUR) not in buckets


@dataclass(frozen=True, slots=True)
class _Cell:
    """The period of a row, as SQL over the row's keys: [start, end), and the whole UTC hours
    inside it [whole_start, whole_end). A bound is None where the period has none. Time buckets
    start and end on whole hours (plan() asks for that), so only the filter's from/to can cut
    an hour: `edges` are those partial hours."""

    start: ColumnElement[datetime] | None
    end: ColumnElement[datetime] | None
    whole_start: ColumnElement[datetime] | None
    whole_end: ColumnElement[datetime] | None
    edges: tuple[TimeRange, ...]

    @classmethod
    def of(
        cls,
        buckets: Sequence[tuple[TimeBucket, ColumnElement[Any]]],
        filter: Filter,
        timezone: str,
    ) -> _Cell:
        starts: list[ColumnElement[Any]] = [start for _, start in buckets]
        ends = [_bucket_end(key.granularity, start, timezone) for key, start in buckets]
        lower, upper = filter.start, filter.end
        return cls(
            start=_greatest(starts, lower),
            end=_least(ends, upper),
            whole_start=_greatest(starts, None if lower is None else ceil_hour(lower)),
            whole_end=_least(ends, None if upper is None else floor_hour(upper)),
            edges=tuple(partial_hours(filter)),
        )

    def within(self, edge: TimeRange) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        """The part of a partial hour inside the cell (empty in every other cell)."""
        start, end = at(edge[0]), at(edge[1])
        return (
            start if self.start is None else func.greatest(self.start, start),
            end if self.end is None else func.least(self.end, end),
        )


@dataclass(frozen=True, slots=True)
class Apps:
    """The apps a row counts: the row's own (grouped or narrowed by app), the filter's, or every
    app."""

    row: ColumnElement[str] | None
    allowed: tuple[str, ...] | None

    def holds(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        if self.row is not None:
            return column == self.row
        if self.allowed is not None:
            return column == any_(bindparam(None, list(self.allowed), type_=ARRAY(column.type)))
        # An array made once per statement, so that each app is an index range of its own.
        return column == any_(func.array(select(apps.c.app_id).scalar_subquery()))


@dataclass(frozen=True, slots=True)
class _Counter:
    """The SQL counting a cell's chats in its apps."""

    cell: _Cell
    apps: Apps

    def firsts(self) -> ColumnElement[Any]:
        """Chats first seen in the cell: hourly counts, and spans in its partial hours."""
        counts = chat_firsts_hourly.c
        conditions = [self.apps.holds(counts.app_id)]
        if self.cell.whole_start is not None:
            conditions.append(counts.hour >= self.cell.whole_start)
        if self.cell.whole_end is not None:
            conditions.append(counts.hour < self.cell.whole_end)
        total: ColumnElement[Any] = (
            select(func.coalesce(func.sum(counts.chats), 0))
            .where(*conditions)
            .correlate_except(chat_firsts_hourly)
            .scalar_subquery()
        )
        spans = chat_spans.c
        for edge in self.cell.edges:
            start, end = self.cell.within(edge)
            first_seen = (
                select(func.count())
                .where(
                    self.apps.holds(spans.app_id),
                    spans.span_class == any_(_every_class()),  # each class an index range
                    spans.first_at >= start,
                    spans.first_at < end,
                )
                .correlate_except(chat_spans)
                .scalar_subquery()
            )
            # Only the cell that holds the partial hour reads it (CASE runs the subquery then).
            total = total + case((start < end, first_seen), else_=0)
        return total

    def straddlers(self) -> ColumnElement[Any]:
        """Chats first seen before the cell that have a message in it (none when the cell has
        no start): for each length class, an index range of the chats that may span its start
        (a lateral subquery, so that PostgreSQL reads that range rather than every span)."""
        start = self.cell.start
        if start is None:
            return literal(0)
        classes = (
            func.unnest(
                _every_class(), bindparam(None, list(span_class.REACH), type_=ARRAY(Interval()))
            )
            .table_valued("span_class", "reach")
            .render_derived(name="classes")
        )
        spans = chat_spans.c
        spanning = [
            self.apps.holds(spans.app_id),
            spans.span_class == classes.c.span_class,
            spans.first_at >= start - classes.c.reach,
            spans.first_at < start,
            spans.last_at >= start,
        ]
        if self.cell.end is not None:
            spanning.append(or_(spans.last_at < self.cell.end, self._active(spans)))
        per_class = (
            select(func.count().label("chats"))
            .where(*spanning)
            .correlate_except(chat_spans)
            .lateral("per_class")
        )
        counted = select(func.coalesce(func.sum(per_class.c.chats), 0)).select_from(
            classes.join(per_class, true())
        )
        return counted.correlate_except(classes, per_class).scalar_subquery()

    def _active(self, spans: Any) -> ColumnElement[bool]:
        """Whether the chat of a span had a message in the cell."""
        hours = usage_hourly_chats.c
        in_rollup = [hours.app_id == spans.app_id, hours.chat_id == spans.chat_id]
        if self.cell.whole_start is not None:
            in_rollup.append(hours.hour >= self.cell.whole_start)
        if self.cell.whole_end is not None:
            in_rollup.append(hours.hour < self.cell.whole_end)
        found = [exists().where(*in_rollup).correlate_except(usage_hourly_chats)]
        m = messages.c
        for edge in self.cell.edges:
            start, end = self.cell.within(edge)
            found.append(
                exists()
                .where(
                    m.app_id == spans.app_id,
                    m.ts >= start,
                    m.ts < end,
                    m.chat_id == spans.chat_id,
                )
                .correlate_except(messages)
            )
        return or_(*found)


def _every_class() -> ColumnElement[Any]:
    return bindparam(None, list(range(span_class.CLASSES)), type_=ARRAY(SmallInteger()))


def _bucket_end(
    granularity: Granularity, start: ColumnElement[Any], timezone: str
) -> ColumnElement[Any]:
    """The end of the bucket that starts at `start`: the next local start of the granularity
    (truncated again, for the zones whose midnight a DST change skips)."""
    local = func.timezone(timezone, start) + func.make_interval(*_ONE[granularity])
    return func.timezone(timezone, func.date_trunc(granularity.value, local))


def _greatest(
    columns: list[ColumnElement[Any]], moment: datetime | None
) -> ColumnElement[Any] | None:
    values = [*columns, *([] if moment is None else [at(moment)])]
    if not values:
        return None
    return values[0] if len(values) == 1 else func.greatest(*values)


def _least(columns: list[ColumnElement[Any]], moment: datetime | None) -> ColumnElement[Any] | None:
    values = [*columns, *([] if moment is None else [at(moment)])]
    if not values:
        return None
    return values[0] if len(values) == 1 else func.least(*values)


def at(moment: datetime) -> ColumnElement[datetime]:
    return bindparam(None, moment, type_=_TIMESTAMP)


def partial_hours(filter: Filter) -> list[TimeRange]:
    ranges = []
    if filter.start is not None and not _whole(filter.start):
        ranges.append((filter.start, ceil_hour(filter.start)))
    if filter.end is not None and not _whole(filter.end):
        ranges.append((floor_hour(filter.end), filter.end))
    return ranges


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    return floor_hour(moment) if _whole(moment) else floor_hour(moment) + HOUR


def _whole(moment: datetime) -> bool:
    return floor_hour(moment) == moment
