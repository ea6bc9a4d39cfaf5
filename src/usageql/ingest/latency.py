"""Latency histograms (usageql.db.buckets), kept in the statement that adds a batch to the
rollups (usageql.ingest.rollup).

`bucket_rows` counts a batch's requests per (app, UTC day, model, bucket) of their latency and time
to first token. They are sent as rows, in key order (`histogram_values`); PostgreSQL packs them
into one histogram per (app, day, model), and per (app, month, model) for the monthly table, and
adds each to the one stored: the union of both histograms' buckets, ascending, with their counts
added up. A batch writes a few dozen histogram rows where it wrote a row per bucket, ~2,600 of
them per 5,000 messages (measured in docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, Table, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert, aggregate_order_by, insert

from usageql.db.buckets import bucket
from usageql.db.compacted import kept_at_ingest
from usageql.db.tables import usage_daily_latency, usage_monthly_latency
from usageql.db.unnest import parameter_values, unnest_parameters
from usageql.ingest.records import MessageRow, row_values

COUNTED = ("latency", "ttft")  # the counts per bucket, of latency_ms and ttft_ms
_BUCKET_KEYS = row_values("app_id", "ts", "model", "latency_ms", "ttft_ms")

Counts = dict[tuple[Any, ...], list[int]]  # (app, day, model, bucket) -> requests per COUNTED


def bucket_rows(rows: Iterable[MessageRow]) -> Counts:
    """Per (app, UTC day, model, bucket), how many messages' latency and time to first token
    fell in the bucket (model '' when absent)."""
    counts: Counts = {}
    for row in rows:
        app, ts, model, latency, ttft = _BUCKET_KEYS(row)
        if latency is None and ttft is None:
            continue
        day = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for place, value in enumerate((latency, ttft)):
            if value is not None:
                key = (app, day, model or "", bucket(value))
                found = counts.get(key)
                if found is None:
                    found = counts[key] = [0, 0]
                found[place] += 1
    return counts


def histogram_values(rows: Iterable[MessageRow]) -> dict[str, list[Any]]:
    """The values histogram_upserts adds the requests of `rows` with: their bucket counts as
    rows, in key order (none when no row has a latency or time to first token)."""
    return parameter_values(_PREFIX, list(_SENT), bucket_rows(rows))


_PREFIX = "latency_sent"
_SENT = {
    "app_id": usage_daily_latency.c.app_id.type,
    "day": usage_daily_latency.c.day.type,
    "model": usage_daily_latency.c.model.type,
    "bucket": Integer(),
    "latency": BigInteger(),
    "ttft": BigInteger(),
}


def histogram_upserts() -> list[tuple[str, Insert]]:
    """Per latency table, the upsert adding the requests sent (histogram_values) to its
    histograms."""
    sent = unnest_parameters(_PREFIX, **_SENT).cte(_PREFIX)
    days, months = (
        select(sent).where(kept_at_ingest(sent.c.day, unit)).subquery() for unit in ("day", "month")
    )
    return [
        (usage_daily_latency.name, upsert(usage_daily_latency, packed(days))),
        (usage_monthly_latency.name, upsert(usage_monthly_latency, packed(per_month(months)))),
    ]


def per_month(counted: Any) -> Any:
    """Rows of (app_id, day, model, bucket, counts) added up per month, model and bucket."""
    month = func.date_trunc("month", counted.c.day, "UTC", type_=counted.c.day.type).label("month")
    groups = [counted.c.app_id, month, counted.c.model, counted.c.bucket]
    sums = [cast(func.sum(counted.c[name]), BigInteger()).label(name) for name in COUNTED]
    return select(*groups, *sums).group_by(*groups).subquery("per_month")


def packed(counted: Any) -> Select[Any]:
    """Rows of (key, bucket, counts) as one histogram per key, in key order."""
    time = counted.c.day if "day" in counted.c else counted.c.month
    keys = [counted.c.app_id, time, counted.c.model]
    order = counted.c.bucket
    return (
        select(
            *keys,
            func.array_agg(aggregate_order_by(counted.c.bucket, order)).label("buckets"),
            *(
                func.array_agg(aggregate_order_by(counted.c[name], order)).label(name)
                for name in COUNTED
            ),
        )
        .group_by(*keys)
        .order_by(*keys)
    )


def upsert(table: Table, histograms: Select[Any]) -> Insert:
    """Add `histograms` (the table's keys, then its three arrays) to `table`: a histogram
    already there takes the union of the buckets, ascending, and their counts added up."""
    key_names = [c.name for c in table.primary_key.columns]
    statement = insert(table).from_select([*key_names, "buckets", *COUNTED], histograms)
    old, new = table.c, statement.excluded
    both = old.buckets.concat(new.buckets)
    every = func.unnest(both).table_valued("bucket").render_derived()
    merged = {"buckets": _array(select(every.c.bucket), every.c.bucket, Integer())}
    for name in COUNTED:
        pairs = func.unnest(both, old[name].concat(new[name]))
        counted = pairs.table_valued("bucket", "n").render_derived()
        total = select(cast(func.sum(counted.c.n), BigInteger()))
        merged[name] = _array(total, counted.c.bucket, BigInteger())
    return statement.on_conflict_do_update(index_elements=key_names, set_=merged)


def _array(
    values: Select[Any], bucket_column: ColumnElement[Any], kind: Integer | BigInteger
) -> ColumnElement[Any]:
    """ARRAY(`values` per bucket, ascending)."""
    per_bucket = values.group_by(bucket_column).order_by(bucket_column).scalar_subquery()
    return func.array(per_bucket, type_=ARRAY(kind))
