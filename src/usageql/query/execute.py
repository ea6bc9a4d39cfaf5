"""The one place the query layer runs SQL: a compiled question in, answers per scope out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import any_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import users
from usageql.query.catalog import FLOAT_METRICS
from usageql.query.compile import Compiled, texts
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
    total: int | None = None  # rows in the scope before offset and limit, when asked for


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
        total = int(record[-1]) if compiled.with_total else None
        rows.append(Row(keys=tuple(record[narrow : narrow + groups]), values=values, total=total))
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


@dataclass(frozen=True, slots=True)
class Profile:
    """What is known of a user: the latest name and email, first and last activity."""

    id: str
    name: str | None
    email: str | None
    first_seen: datetime | None
    last_seen: datetime | None


async def user_profiles(
    engine: AsyncEngine, ids: Sequence[str], apps: Sequence[str] | None
) -> dict[str, Profile]:
    """Profiles of `ids` (across `apps`, or every app): one statement for any number of ids."""
    statement = select(users).where(users.c.user_id == any_(texts(ids)))
    if apps is not None:
        statement = statement.where(users.c.app_id == any_(texts(apps)))
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    merged: dict[str, Profile] = {}
    newest: dict[str, datetime | None] = {}
    for row in rows:
        seen = merged.get(row.user_id)
        if seen is None:
            merged[row.user_id] = Profile(
                row.user_id, row.name, row.email, row.first_seen, row.last_seen
            )
            newest[row.user_id] = row.profile_at
            continue
        is_newer = row.profile_at is not None and (
            newest[row.user_id] is None or row.profile_at > newest[row.user_id]
        )
        merged[row.user_id] = Profile(
            row.user_id,
            (row.name if is_newer and row.name else seen.name) or row.name,
            (row.email if is_newer and row.email else seen.email) or row.email,
            _min(seen.first_seen, row.first_seen),
            _max(seen.last_seen, row.last_seen),
        )
        if is_newer:
            newest[row.user_id] = row.profile_at
    return merged


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
