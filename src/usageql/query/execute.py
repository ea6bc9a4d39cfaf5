"""The one place the query layer runs SQL: a compiled question in, answers per scope out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.query.catalog import FLOAT_METRICS
from usageql.query.compile import Compiled
from usageql.query.model import Metric

KeyValue = str | datetime | None

# Sums of bigint columns come back from PostgreSQL as numeric; they are whole numbers.
_WHOLE = frozenset(
    {
        Metric.INPUT_TOKENS,
        Metric.OUTPUT_TOKENS,
        Metric.CACHE_READ_TOKENS,
        Metric.CACHE_WRITE_TOKENS,
        Metric.REASONING_TOKENS,
        Metric.TOTAL_TOKENS,
    }
)


@dataclass(frozen=True, slots=True)
class Row:
    """One answer row: its group key values and its metrics."""

    keys: tuple[KeyValue, ...]
    values: dict[Metric, Any]


async def run(
    engine: AsyncEngine, compiled: Compiled, scopes: Sequence[tuple[KeyValue, ...]]
) -> list[list[Row]]:
    """Rows for each scope (given by its narrowing values), in the statement's order.

    Each call takes its own pooled connection, so concurrent resolvers never share one.
    """
    async with engine.connect() as connection:
        result = await connection.execute(compiled.statement)
        records = result.all()
    narrow = len(compiled.narrow_keys)
    groups = len(compiled.group_keys)
    by_scope: dict[tuple[KeyValue, ...], list[Row]] = {scope: [] for scope in scopes}
    for record in records:
        scope = tuple(record[:narrow])
        rows = by_scope.get(scope)
        if rows is None:  # a combination of narrowing values nobody asked for
            continue
        values = {
            metric: _value(metric, record[narrow + groups + i])
            for i, metric in enumerate(compiled.metrics)
        }
        rows.append(Row(keys=tuple(record[narrow : narrow + groups]), values=values))
    return [by_scope[scope] for scope in scopes]


def _value(metric: Metric, raw: Any) -> Any:
    if raw is None:
        return None
    if metric in _WHOLE:
        return int(raw)
    if metric in FLOAT_METRICS:
        return float(raw)
    if isinstance(raw, Decimal) and metric is not Metric.SPEND:
        return int(raw)
    return raw
