"""Sums per app and hour, per app, hour and model, and per app and UTC day; added up from
usage_hourly.

A series of totals in a zone whose days are not UTC days (Europe/Berlin) takes every hour of its
period from an hourly table: ~70 rows per hour of `usage_hourly` at 1M events, ~5 of
`usage_hourly_apps`. These tables have fewer keys than `usage_hourly` and the same measures, so
they are filled from it (which outlives pruned events), a week of hours per statement with a
progress line in the log.

The measures are written here, not imported: a migration is a snapshot of its day.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

DAYS_PER_STATEMENT = 7

# table: (its time column, its keys besides the app and the time, its comment)
_TABLES = {
    "usage_hourly_apps": (
        "hour",
        (),
        "Sums of messages per app and UTC hour: totals and their series.",
    ),
    "usage_hourly_models": (
        "hour",
        ("model",),
        "Sums of messages per app, UTC hour and model: per-model totals and series.",
    ),
    "usage_daily_apps": (
        "day",
        (),
        "Sums of messages per app and UTC day: totals and their series.",
    ),
}
_SUMMED = (
    "messages", "requests", "successful_requests", "failed_requests", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost",
    "unpriced_requests",
)  # fmt: skip
_MAXIMA = ("latency_max", "ttft_max")


def _measure_columns() -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = [
        sa.Column(
            name,
            sa.Numeric() if name == "cost" else sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
        )
        for name in _SUMMED
    ]
    columns += [sa.Column(name, sa.Double(), nullable=True) for name in _MAXIMA]
    return columns


def _spans(first: datetime | None, last: datetime | None) -> list[tuple[datetime, datetime]]:
    """[start, end) spans of DAYS_PER_STATEMENT days from `first` past `last`."""
    spans: list[tuple[datetime, datetime]] = []
    if first is None or last is None:
        return spans
    start = first
    while start <= last:
        spans.append((start, start + timedelta(days=DAYS_PER_STATEMENT)))
        start += timedelta(days=DAYS_PER_STATEMENT)
    return spans


def upgrade() -> None:
    # What is read here stays as it is until this transaction commits: ingestion by a server
    # still running the previous version waits (it would add to usage_hourly only).
    op.execute(sa.text("LOCK TABLE usage_hourly IN SHARE MODE"))
    for name, (time, keys, comment) in _TABLES.items():
        op.create_table(
            name,
            sa.Column("app_id", sa.Text(), nullable=False),
            sa.Column(time, sa.DateTime(timezone=True), nullable=False),
            *(sa.Column(key, sa.Text(), nullable=False) for key in keys),
            *_measure_columns(),
            sa.PrimaryKeyConstraint("app_id", time, *keys, name=op.f(f"pk_{name}")),
            comment=comment,
        )
    bind = op.get_bind()
    first, last = bind.execute(
        sa.text("SELECT date_trunc('day', min(hour), 'UTC'), max(hour) FROM usage_hourly")
    ).one()
    spans = _spans(first, last)
    measures = ", ".join([f"sum({n})" for n in _SUMMED] + [f"max({n})" for n in _MAXIMA])
    for name, (time, keys, _) in _TABLES.items():
        period = "hour" if time == "hour" else "date_trunc('day', hour, 'UTC')"
        columns = ", ".join(("app_id", time, *keys, *_SUMMED, *_MAXIMA))
        groups = ", ".join(map(str, range(1, 3 + len(keys))))
        selected = ", ".join(("app_id", period, *keys))
        statement = sa.text(
            f"INSERT INTO {name} ({columns}) SELECT {selected}, {measures}"  # noqa: S608 (constants only)
            f" FROM usage_hourly WHERE hour >= :start AND hour < :end GROUP BY {groups}"
        )
        for done, (start, end) in enumerate(spans, start=1):
            bind.execute(statement, {"start": start, "end": end})
            log.info(
                "migration 0010: %s filled to %s (%d of %d)",
                name,
                f"{end:%Y-%m-%d}",
                done,
                len(spans),
            )


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_table(name)
