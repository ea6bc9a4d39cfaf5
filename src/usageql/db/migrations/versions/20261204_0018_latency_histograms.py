"""Latency buckets as one histogram row per app, UTC day (or month) and model.

A row per (app, day, model, bucket) made a batch of 5,000 requests insert or update ~2,600 rows
of each latency table, the costliest part of its rollups. A row per (app, day, model) holds the
same counts as three arrays of one length (the buckets ascending, and each bucket's requests by
latency and by time to first token): a batch adds to a few dozen rows. The counts are moved
unchanged, a month per statement, each followed by a progress line in the log; the downgrade
unpacks them again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

TABLES = (("usage_daily_latency", "day"), ("usage_monthly_latency", "month"))

# From rows per bucket to a histogram per key, and back.
_PACK = (
    "INSERT INTO {table} (app_id, {time}, model, buckets, latency, ttft)"
    " SELECT app_id, {time}, model, array_agg(bucket ORDER BY bucket),"
    " array_agg(latency ORDER BY bucket), array_agg(ttft ORDER BY bucket)"
    " FROM {source} WHERE {time} >= :start AND {time} < :end GROUP BY 1, 2, 3"
)
_UNPACK = (
    "INSERT INTO {table} (app_id, {time}, model, bucket, latency, ttft)"
    " SELECT app_id, {time}, model, u.bucket, u.latency, u.ttft FROM {source}"
    " CROSS JOIN LATERAL unnest(buckets, latency, ttft) AS u(bucket, latency, ttft)"
    " WHERE {time} >= :start AND {time} < :end"
)


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _comment(time: str) -> str:
    kept = "as arrays: approximate percentiles within 1%."
    if time == "month":
        kept = "as arrays: usage_daily_latency added up per month."
    return (
        f"Per app, UTC {time} and model, requests per log-spaced bucket (2% wide) of their"
        f" latency and of their time to first token, {kept}"
    )


def _histograms(table: str, time: str) -> None:
    op.create_table(
        table,
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column(time, sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("buckets", sa.ARRAY(sa.Integer()), nullable=False),
        sa.Column("latency", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("ttft", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.CheckConstraint(
            "cardinality(latency) = cardinality(buckets)"
            " AND cardinality(ttft) = cardinality(buckets)",
            name=op.f(f"ck_{table}_counts_per_bucket"),
        ),
        sa.PrimaryKeyConstraint("app_id", time, "model", name=op.f(f"pk_{table}")),
        comment=_comment(time),
    )


def _rows(table: str, time: str) -> None:
    op.create_table(
        table,
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column(time, sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("latency", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("ttft", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("app_id", time, "model", "bucket", name=op.f(f"pk_{table}")),
    )


def _move(table: str, time: str, create: Callable[[str, str], None], copy: str, verb: str) -> None:
    """Replace `table` by one `create` makes, copying its rows a month per statement."""
    old = f"{table}_old"
    op.execute(sa.text(f"ALTER TABLE {table} RENAME TO {old}"))
    op.execute(sa.text(f"ALTER INDEX pk_{table} RENAME TO pk_{old}"))
    create(table, time)
    bind = op.get_bind()
    span = f"SELECT date_trunc('month', min({time}), 'UTC'), max({time}) FROM {old}"  # noqa: S608
    first, last = bind.execute(sa.text(span)).one()
    months: list[datetime] = []
    while first is not None and first <= last:
        months.append(first)
        first = _next_month(first)
    statement = sa.text(copy.format(table=table, time=time, source=old))
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0018: %s: %s %s (%d of %d)",
            table,
            f"{month:%Y-%m}",
            verb,
            done,
            len(months),
        )
    op.drop_table(old)
    op.execute(sa.text(f"ANALYZE {table}"))


def upgrade() -> None:
    # Ingestion by a server still running the previous version waits until this commits.
    op.execute(sa.text("LOCK TABLE usage_daily_latency, usage_monthly_latency IN EXCLUSIVE MODE"))
    for table, time in TABLES:
        _move(table, time, _histograms, _PACK, "packed")


def downgrade() -> None:
    op.execute(sa.text("LOCK TABLE usage_daily_latency, usage_monthly_latency IN EXCLUSIVE MODE"))
    for table, time in TABLES:
        _move(table, time, _rows, _UNPACK, "unpacked")
    # Comments as 0009 and 0017 left them.
    op.create_table_comment(
        "usage_daily_latency",
        "Requests per app, UTC day, model and log-spaced bucket (2% wide) of their latency and of"
        " their time to first token: approximate percentiles within 1%.",
    )
    op.create_table_comment(
        "usage_monthly_latency",
        "Requests per app, UTC month, model and log-spaced bucket (2% wide) of their latency and"
        " of their time to first token: usage_daily_latency added up per month.",
    )
