"""Approximate percentiles and means of latency and time to first token (`approximate: true`),
from the log-spaced buckets of `usage_daily_latency` (usageql.db.buckets).

Exact percentiles read every request's value: a month is ~170k latencies at 1M events, ten times
that at 10M. The buckets keep, per app, UTC day and model, a histogram: how many requests fell in
each bucket 2% wide, as arrays, unnested here into (bucket, count) rows. A period's whole UTC
days read those counts, the rest of it (hours at its edges, days a boundary of the question cuts)
buckets the raw values as it reads them (usageql.query.pieces). Without a time key, a UTC month
the period covers more than half of is read from `usage_monthly_latency`, less the counts of its
days outside the period (counts add up and take away exactly): the last 30 days read a month and
a day or two of histograms instead of 30 days. Counts are added up per bucket (as doubles, exact
to 2^53) before any value is computed (a month per model at 1M events is ~76k daily bucket counts
for ~6.6k buckets; a list cut by a limit on another metric adds up its own rows' only). Every
value is then stood for by its bucket's, within RELATIVE_ERROR (0.99%) of it.

The percentile is taken the way percentile_cont takes it from the exact values: the values at
the ranks floor(p (N - 1)) and ceil(p (N - 1)) counted from 0, interpolated between. Each of
those two is within the bound of the exact value at its rank (the k-th smallest of numbers each
within a factor of its own value is within that factor of the k-th smallest value), and so is
a weighted mean of them, as every value is at least 0. The mean likewise.

Buckets answer questions filtered and keyed by app, model and time only; the exact aggregate
answers the others (and any period with no whole UTC day), which is within any bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Double,
    Select,
    Subquery,
    Table,
    and_,
    func,
    literal,
    select,
    true,
    union_all,
)

from usageql.db.buckets import bucket_sql, value_sql
from usageql.db.tables import messages, usage_daily_latency, usage_monthly_latency
from usageql.query import pieces
from usageql.query.catalog import METRICS, Approximation
from usageql.query.model import (
    Dimension,
    Filter,
    GroupKey,
    MetadataKey,
    Metric,
    Question,
    Source,
)
from usageql.query.rollups import any_of, days, every_app, within

m = messages.c
DIMENSIONS = frozenset({Dimension.APP, Dimension.MODEL})
"""What the buckets are keyed by."""
COUNTS = {"latency_ms": "latency", "ttft_ms": "ttft"}
"""Each bucketed column of `messages`, and its counts in usage_daily_latency's histograms."""
TimeRange = tuple[datetime | None, datetime | None]
PerValue = Callable[[Subquery], Select[Any]]
"""Rows of a relation of (ts, app_id, model, bucket, n), grouped by the question's keys (labelled
as the compiler labels them) and by `bucket`, with `n` summed: the compiler's grouping."""


@dataclass(frozen=True, slots=True)
class SketchPlan:
    """Estimate `question`'s approximate metrics from buckets over `pieces`' days."""

    question: Question
    pieces: pieces.Pieces
    by_month: bool = False  # no time key: months less days may stand for days (relation)

    @property
    def estimated(self) -> tuple[Metric, ...]:
        """The approximate metrics asked, in a fixed order."""
        found = [metric for metric in self.question.metrics if METRICS[metric].approximate]
        return tuple(sorted(found, key=lambda metric: metric.value))

    @property
    def rest(self) -> Question:
        """The question without its approximate metrics (messages, when nothing else is asked:
        its rows are the groups that have events, as the raw answer's are)."""
        others = self.question.metrics - set(self.estimated)
        return replace(self.question, metrics=others or frozenset({Metric.MESSAGES}))

    @property
    def raw_ranges(self) -> list[TimeRange]:
        """What is read from raw events: every part of the period but its bucketed days (no
        event is older than pieces.FIRST_DAY)."""
        ranges: list[TimeRange] = [*self.pieces.hours, *self.pieces.raw]
        clipped = [(start or pieces.FIRST_DAY, end) for start, end in ranges]
        return [(s, e) for s, e in clipped if e is None or s < e]

    @property
    def day_ranges(self) -> list[TimeRange]:
        """What is read from the buckets."""
        return list(self.pieces.days)

    def attach(
        self, statement: Select[Any], labels: Sequence[str], per_value: PerValue
    ) -> Select[Any]:
        """`statement` (the rest, grouped by the `labels` columns) with a column per estimate,
        joined by those labels (None keys included)."""
        rows = statement.subquery("measured")
        joined: Any = rows
        columns: list[ColumnElement[Any]] = list(rows.c)
        for column in sorted({self._of(metric).column for metric in self.estimated}):
            metrics = [e for e in self.estimated if self._of(e).column == column]
            values = per_value(self.relation(column)).subquery(f"{COUNTS[column]}_values")
            estimates = _estimates(values, labels, metrics).subquery(f"{COUNTS[column]}_estimates")
            on = [rows.c[label].is_not_distinct_from(estimates.c[label]) for label in labels]
            joined = joined.outerjoin(estimates, and_(*on) if on else true())
            columns += [estimates.c[metric.value] for metric in metrics]
        return select(*columns).select_from(joined)

    @staticmethod
    def _of(metric: Metric) -> Approximation:
        approximation = METRICS[metric].approximate
        if approximation is None:
            raise ValueError(f"{metric} is not estimated")
        return approximation

    def relation(self, column: str) -> Subquery:
        """(ts, app_id, model, bucket, n): a bucket and its count per day of the bucketed days
        (without a time key, per month of the months that are mostly such days, with the counts
        of their other days taken away), each raw value's bucket with n = 1 elsewhere."""
        cut = pieces.less_days(self.pieces) if self.by_month else self.pieces
        parts: list[Select[Any]] = []
        if cut.days:
            parts.append(_counted(usage_daily_latency, column, cut.days, 1))
        if cut.months:
            parts.append(_counted(usage_monthly_latency, column, cut.months, 1, cut.inside))
        if cut.less:
            parts.append(_counted(usage_daily_latency, column, cut.less, -1, cut.inside))
        values = select(
            m.ts,
            m.app_id,
            m.model,
            bucket_sql(m[column]).label("bucket"),
            literal(1, BigInteger()).label("n"),
        ).where(m[column].is_not(None), every_app(m.app_id), _within(m.ts, self.raw_ranges))
        return union_all(*parts, values).subquery("bucketed")


def _counted(
    table: Table,
    column: str,
    ranges: Sequence[TimeRange],
    sign: int,
    moment: datetime | None = None,
) -> Select[Any]:
    """(ts, app_id, model, bucket, n): the bucket counts of `table`'s histograms
    (usage_daily_latency or usage_monthly_latency) over `ranges` of its days or months, times
    `sign`; ts is their day or month, or `moment`."""
    time = table.c.day if table is usage_daily_latency else table.c.month
    cells = (
        func.unnest(table.c.buckets, table.c[COUNTS[column]])
        .table_valued("bucket", "n")
        .render_derived("cells")
    )
    stamp = time if moment is None else literal(moment, DateTime(timezone=True))
    return (
        select(
            stamp.label("ts"),
            table.c.app_id,
            func.nullif(table.c.model, "").label("model"),
            cells.c.bucket,
            (cells.c.n if sign > 0 else -cells.c.n).label("n"),
        )
        .select_from(table.join(cells, true()))
        .where(
            cells.c.n > 0,
            every_app(table.c.app_id),
            _within(time, ranges, pieces.DAY if table is usage_daily_latency else None),
        )
    )


def _within(
    column: ColumnElement[datetime], ranges: Sequence[TimeRange], unit: timedelta | None = None
) -> ColumnElement[bool]:
    """`column` in one of `ranges`; rows of whole `unit`s are listed by their starts where that
    helps (rollups.within)."""
    if not ranges:
        return literal(False)
    condition = any_of(column, ranges) if unit is None else within(column, ranges, unit)
    return true() if condition is None else condition


def _estimates(values: Subquery, labels: Sequence[str], metrics: Sequence[Metric]) -> Select[Any]:
    """Per group of `labels`, each of `metrics` from its (bucket, n) rows, as percentile_cont
    takes a percentile: the values at the ranks around p (N - 1), interpolated (buckets sort as
    the values they stand for)."""
    n: ColumnElement[float] = values.c.n  # summed as a double: exact to 2^53, and quick
    partition = [values.c[label] for label in labels] or None
    ranked = (
        select(
            *(values.c[label] for label in labels),
            value_sql(values.c.bucket).label("value"),
            n.label("n"),
            func.sum(n).over(partition_by=partition, order_by=values.c.bucket).label("upto"),
            func.sum(n).over(partition_by=partition).label("total"),
        )
        .where(values.c.n > 0)  # a month's bucket whose requests all lie in its days taken away
        .subquery("ranked")
    )
    r = ranked.c
    columns: list[ColumnElement[Any]] = [r[label] for label in labels]
    for metric in metrics:
        share = SketchPlan._of(metric).share
        if share is None:
            estimate = func.sum(r.value * r.n) / func.sum(r.n)
        else:
            # percentile_cont's arithmetic: ranks first = floor(p (N - 1)), second = ceil(...).
            place: ColumnElement[float] = literal(share, Double()) * (r.total - 1)
            first = func.min(r.value).filter(r.upto > func.floor(place))
            second = func.min(r.value).filter(r.upto > func.ceil(place))
            whole: ColumnElement[float] = literal(share, Double()) * (func.max(r.total) - 1)
            estimate = first + (second - first) * (whole - func.floor(whole))
        columns.append(estimate.label(metric.value))
    statement = select(*columns)
    return statement.group_by(*(r[label] for label in labels)) if labels else statement


def plan(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
    *,
    now: datetime | None = None,
    compacted: datetime | None = None,
) -> SketchPlan | None:
    """Whether the buckets answer the question's approximate metrics: keyed and filtered by
    app, model and time only, over a period with at least one whole UTC day no boundary cuts
    (and compacted: before `compacted`)."""
    if question.source is not Source.EVENTS or filter.metadata or filter.tag_contains:
        return None
    if not any(METRICS[metric].approximate for metric in question.metrics):
        return None
    keys = (*narrow_keys, *question.group_by)
    if any(isinstance(key, MetadataKey) for key in keys):
        return None
    dimensions = {d for d, _ in filter.values} | {k for k in keys if isinstance(k, Dimension)}
    if not dimensions <= DIMENSIONS:
        return None
    start, end = pieces.period(
        (filter.start, filter.end), timezone, keys, narrow_keys, narrow_values
    )
    cut = days(keys, timezone, start, end, now or datetime.now(UTC), compacted=compacted)
    return SketchPlan(question, cut, not pieces.has_time_key(keys)) if cut.days else None
