"""Latency buckets per UTC month, added up from the daily ones.

Approximate percentiles over a month read ~76k bucket rows of `usage_daily_latency` at 1M events
(~240k at 10M). Counts add up, so a period that covers most of a month reads the month's rows
less those of its days outside the period (usageql.query.sketch). The monthly table is the daily
one added up per month, whatever was pruned or counted before `retention.sketched_from`; one
statement per month, each followed by a progress line in the log.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def upgrade() -> None:
    # What is read here stays as it is until this transaction commits: ingestion by a server
    # still running the previous version waits (it would add to the daily table only).
    op.execute(sa.text("LOCK TABLE usage_daily_latency IN SHARE MODE"))
    op.create_table(
        "usage_monthly_latency",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("month", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("latency", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("ttft", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint(
            "app_id", "month", "model", "bucket", name=op.f("pk_usage_monthly_latency")
        ),
        comment="Requests per app, UTC month, model and log-spaced bucket (2% wide) of their"
        " latency and of their time to first token: usage_daily_latency added up per month.",
    )
    bind = op.get_bind()
    first, last = bind.execute(
        sa.text(
            "SELECT date_trunc('month', min(day), 'UTC'), date_trunc('month', max(day), 'UTC')"
            " FROM usage_daily_latency"
        )
    ).one()
    months: list[datetime] = []
    while first is not None and first <= last:
        months.append(first)
        first = _next_month(first)
    statement = sa.text(
        "INSERT INTO usage_monthly_latency (app_id, month, model, bucket, latency, ttft)"
        " SELECT app_id, date_trunc('month', day, 'UTC'), model, bucket, sum(latency),"
        " sum(ttft) FROM usage_daily_latency WHERE day >= :start AND day < :end"
        " GROUP BY 1, 2, 3, 4"
    )
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0017: usage_monthly_latency: %s added up (%d of %d)",
            f"{month:%Y-%m}",
            done,
            len(months),
        )
    op.execute("ANALYZE usage_monthly_latency")


def downgrade() -> None:
    op.drop_table("usage_monthly_latency")
