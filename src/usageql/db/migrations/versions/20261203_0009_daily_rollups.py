"""Daily rollups (UTC days) beside the hourly ones, and log-spaced latency buckets for approximate
percentiles; filled from what is stored.

The daily rollups are added up from the hourly ones, which outlive pruned events, so they cover
every period the hourly ones do. The buckets need each request's values, so they are counted from
the messages still stored; when events were pruned, `retention.sketched_from` records the horizon
before which there are none (approximate percentiles before it fail as exact ones do).
Both are filled a few days per statement, each followed by a progress line in the log, so that no
statement runs long (the statement timeout applies) and a long migration shows where it is.

The bucket and the measures are written here, not imported: a migration is a snapshot of its day.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

DAYS_PER_STATEMENT = 7

# daily table: (the hourly table it is added up from, its keys, its comment)
_DAILY = {
    "usage_daily": (
        "usage_hourly",
        ("model", "provider", "source", "role", "status"),
        "Sums of messages per app, UTC day, model, provider, source, role and status.",
    ),
    "usage_daily_users": (
        "usage_hourly_users",
        ("user_id",),
        "Sums of messages per app, UTC day and user: distinct users over whole days.",
    ),
    "usage_daily_tags": (
        "usage_hourly_tags",
        ("tag",),
        "Sums of messages per app, UTC day and tag; a message counts once per tag.",
    ),
    "usage_daily_tag_users": (
        "usage_hourly_tags",
        ("tag", "user_id"),
        "Sums of messages per app, UTC day, tag and user; a message counts once per tag.",
    ),
}
_SUMMED = (
    "messages", "requests", "successful_requests", "failed_requests", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost",
    "unpriced_requests",
)  # fmt: skip
_MAXIMA = ("latency_max", "ttft_max")
# A value's bucket (usageql.db.buckets as of this migration): ceil(log(x) / log(1.02)); 0 alone.
_ZERO = -(2**31)


def _bucket(value: str) -> str:
    return (
        f"CASE WHEN {value} <= 0 THEN {_ZERO}"
        f" ELSE ceil(ln({value}::float8) / ln(1.02::float8))::integer END"
    )


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


def _create_tables() -> None:
    for name, (_, keys, comment) in _DAILY.items():
        op.create_table(
            name,
            sa.Column("app_id", sa.Text(), nullable=False),
            sa.Column("day", sa.DateTime(timezone=True), nullable=False),
            *(sa.Column(key, sa.Text(), nullable=False) for key in keys),
            *_measure_columns(),
            sa.PrimaryKeyConstraint("app_id", "day", *keys, name=op.f(f"pk_{name}")),
            comment=comment,
        )
    op.create_table(
        "usage_daily_latency",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("latency", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("ttft", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint(
            "app_id", "day", "model", "bucket", name=op.f("pk_usage_daily_latency")
        ),
        comment="Requests per app, UTC day, model and log-spaced bucket (2% wide) of their latency"
        " and of their time to first token: approximate percentiles within 1%.",
    )
    op.add_column(
        "retention",
        sa.Column(
            "sketched_from",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="usage_daily_latency holds no requests before this: the horizon when migration"
            " 0009 filled it from the stored events",
        ),
    )


def _weeks(first: datetime | None, last: datetime | None) -> list[tuple[datetime, datetime]]:
    """[start, end) spans of DAYS_PER_STATEMENT days covering the days of first..last."""
    if first is None or last is None:
        return []
    spans, start = [], first
    while start <= last:
        spans.append((start, start + timedelta(days=DAYS_PER_STATEMENT)))
        start += timedelta(days=DAYS_PER_STATEMENT)
    return spans


def _fill(name: str, statement: str, bounds: str) -> None:
    """Run `statement` (with :start and :end) over every span of days `bounds` (a query of the
    first and last day) gives, logging progress."""
    bind = op.get_bind()
    first, last = bind.execute(sa.text(bounds)).one()
    spans = _weeks(first, last)
    for done, (start, end) in enumerate(spans, start=1):
        bind.execute(sa.text(statement), {"start": start, "end": end})
        log.info(
            "migration 0009: %s filled to %s (%d of %d)", name, f"{end:%Y-%m-%d}", done, len(spans)
        )


def _fill_daily() -> None:
    measures = [f"sum({name})" for name in _SUMMED] + [f"max({name})" for name in _MAXIMA]
    for name, (hourly, keys, _) in _DAILY.items():
        groups = ", ".join(map(str, range(1, 3 + len(keys))))
        _fill(
            name,
            f"INSERT INTO {name} (app_id, day, {', '.join(keys)}, {', '.join(_SUMMED + _MAXIMA)})"  # noqa: S608 (constants only)
            f" SELECT app_id, date_trunc('day', hour, 'UTC'), {', '.join(keys)},"
            f" {', '.join(measures)} FROM {hourly} WHERE hour >= :start AND hour < :end"
            f" GROUP BY {groups}",
            f"SELECT date_trunc('day', min(hour), 'UTC'), max(hour) FROM {hourly}",  # noqa: S608
        )


def _fill_buckets() -> None:
    _fill(
        "usage_daily_latency",
        "INSERT INTO usage_daily_latency (app_id, day, model, bucket, latency, ttft)"  # noqa: S608
        " SELECT m.app_id, date_trunc('day', m.ts, 'UTC'), coalesce(m.model, ''),"
        f" {_bucket('v.value')}, sum(v.latency), sum(v.ttft)"
        " FROM messages m CROSS JOIN LATERAL (VALUES (m.latency_ms, 1, 0), (m.ttft_ms, 0, 1))"
        " AS v(value, latency, ttft)"
        " WHERE v.value IS NOT NULL AND m.ts >= :start AND m.ts < :end"
        " GROUP BY 1, 2, 3, 4",
        "SELECT date_trunc('day', min(ts), 'UTC'), max(ts) FROM messages",
    )
    op.execute(sa.text("UPDATE retention SET sketched_from = pruned_before"))


def upgrade() -> None:
    # What is read here stays as it is until this transaction commits: ingestion by a server
    # still running the previous version waits (it would add to the hourly tables only).
    op.execute(
        sa.text(
            "LOCK TABLE messages, usage_hourly, usage_hourly_users, usage_hourly_tags IN SHARE MODE"
        )
    )
    _create_tables()
    _fill_daily()
    _fill_buckets()


def downgrade() -> None:
    op.drop_column("retention", "sketched_from")
    op.drop_table("usage_daily_latency")
    for name in _DAILY:
        op.drop_table(name)
