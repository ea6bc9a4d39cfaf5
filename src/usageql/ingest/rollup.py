"""Hourly rollups, kept in the transaction that stores the messages they sum.

`rollup_rows` is pure: it sums stored message rows (in `MESSAGE_COLUMNS` order) per rollup key.
`rollups_upsert` adds those sums to every rollup table (`ROLLUPS`), so an event is in the rollups as
soon as its batch commits. Only rows that were really inserted are summed, so duplicates
change nothing here either. Keys are written in sorted order, like every other upsert of the
writer, so concurrent batches lock rollup rows in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import add
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.types import TypeEngine

from usageql.db.tables import (
    ROLLUP_MEASURES,
    usage_hourly,
    usage_hourly_chats,
    usage_hourly_tags,
    usage_hourly_users,
)
from usageql.ingest.unnest import unnest

# Positions in a message row (write.MESSAGE_COLUMNS).
_APP, _TS, _ROLE, _CHAT, _USER, _MODEL, _PROVIDER, _SOURCE, _STATUS = 0, 2, 3, 4, 5, 6, 7, 8, 10
_TOKENS = slice(12, 17)  # input, output, cache read, cache write, reasoning
_COST, _LATENCY, _TTFT, _TAGS = 17, 18, 19, 20

# The rollup tables, in the order their sums come from rollup_rows.
ROLLUPS = (usage_hourly, usage_hourly_users, usage_hourly_chats, usage_hourly_tags)

Key = tuple[Any, ...]
Measures = tuple[Any, ...]  # ROLLUP_MEASURES of one key
Sums = dict[Key, Measures]
_SUMMED = len(ROLLUP_MEASURES) - 2  # the last measures (latency_max, ttft_max) are maxima
_ZERO = Decimal(0)


def rollup_rows(rows: Iterable[Sequence[Any]]) -> tuple[Sums, Sums, Sums, Sums]:
    """Sums per (app, hour, model, provider, source, role, status), per (app, hour, user, model),
    per (app, hour, chat, user, model) and per (app, hour, tag, user, model), each a tuple of
    ROLLUP_MEASURES. Absent key values are ''; a message counts once for each of its tags."""
    hourly: Sums = {}
    per_user: Sums = {}
    per_chat: Sums = {}
    per_tag: Sums = {}
    for row in rows:
        ts: datetime = row[_TS]
        hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        app, role, status, cost = row[_APP], row[_ROLE], row[_STATUS], row[_COST]
        model, user = row[_MODEL] or "", row[_USER] or ""
        request = role == "assistant"
        measures = (
            1,
            int(request),
            int(request and status == "success"),
            int(request and status == "error"),
            *row[_TOKENS],
            _ZERO if cost is None else cost,
            int(request and cost is None),
            row[_LATENCY],
            row[_TTFT],
        )
        keyed = [
            (hourly, (app, hour, model, row[_PROVIDER] or "", row[_SOURCE] or "", role, status)),
            (per_user, (app, hour, user, model)),
            (per_chat, (app, hour, row[_CHAT] or "", user, model)),
        ]
        # distinct: ingestion drops repeated tags
        keyed.extend((per_tag, (app, hour, tag, user, model)) for tag in row[_TAGS] or ())
        for sums, key in keyed:
            total = sums.get(key)
            sums[key] = measures if total is None else _merged(total, measures)
    return hourly, per_user, per_chat, per_tag


def _merged(a: Measures, b: Measures) -> Measures:
    return (*map(add, a[:_SUMMED], b[:_SUMMED]), *map(_max, a[_SUMMED:], b[_SUMMED:]))


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def rollups_upsert(rows: Sequence[Sequence[Any]]) -> Insert | None:
    """One statement adding the messages in `rows` (just inserted) to every rollup table."""
    if not rows:
        return None
    upserts = [_upsert(table, sums) for table, sums in zip(ROLLUPS, rollup_rows(rows), strict=True)]
    *first, last = upserts
    return last.add_cte(
        *(upsert.cte(table.name) for upsert, table in zip(first, ROLLUPS[:-1], strict=True))
    )


def _upsert(table: Table, sums: Sums) -> Insert:
    keys = sorted(sums)
    key_names = [c.name for c in table.primary_key.columns]
    names = [*key_names, *ROLLUP_MEASURES]
    # Column-wise: one tuple of values per name (empty ones when no message has a tag).
    values = [*zip(*keys, strict=True), *zip(*map(sums.__getitem__, keys), strict=True)]
    values = values or [()] * len(names)
    columns: dict[str, tuple[TypeEngine[Any], list[Any]]] = {
        name: (table.c[name].type, list(column)) for name, column in zip(names, values, strict=True)
    }
    statement = insert(table).from_select(list(columns), unnest(**columns))
    new, old = statement.excluded, table.c
    added = {name: old[name] + new[name] for name in ROLLUP_MEASURES[:_SUMMED]}
    maxima = {name: func.greatest(old[name], new[name]) for name in ROLLUP_MEASURES[_SUMMED:]}
    return statement.on_conflict_do_update(index_elements=key_names, set_={**added, **maxima})
