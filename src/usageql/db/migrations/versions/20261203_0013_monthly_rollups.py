"""Monthly rollups (UTC months) of users and of users per tag, filled from the daily ones.

Lists over long periods and all time (users by requests, each user's user-agent tag) read a row
per key and day from the daily tables: all of `usage_daily_users` (69k rows at 1M events) for a
list of users with no period. The monthly tables hold a row per key and month. They have the same
keys and measures as the daily ones, which outlive pruned events, so they are added up from them,
a month per statement, each followed by a progress line in the log. Statistics on each key as the
compiler reads it (NULLIF(key, ''), as migration 0012 made for the other rollups) come with them.

The measures are written here, not imported: a migration is a snapshot of its day.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

# monthly table: (the daily table it is added up from, its keys, its comment)
_MONTHLY = {
    "usage_monthly_users": (
        "usage_daily_users",
        ("user_id",),
        "Sums of messages per app, UTC month and user: lists of users over whole months.",
    ),
    "usage_monthly_tag_users": (
        "usage_daily_tag_users",
        ("tag", "user_id"),
        "Sums of messages per app, UTC month, tag and user; a message counts once per tag.",
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


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _months(first: datetime | None, last: datetime | None) -> list[datetime]:
    """The starts of the UTC months from `first`'s to `last`'s (both month starts)."""
    months: list[datetime] = []
    month = first
    while month is not None and last is not None and month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def _fill(name: str, daily: str, keys: tuple[str, ...]) -> None:
    bind = op.get_bind()
    first, last = bind.execute(
        sa.text(
            "SELECT date_trunc('month', min(day), 'UTC'),"  # noqa: S608 (constants only)
            f" date_trunc('month', max(day), 'UTC') FROM {daily}"
        )
    ).one()
    months = _months(first, last)
    measures = ", ".join([f"sum({n})" for n in _SUMMED] + [f"max({n})" for n in _MAXIMA])
    columns = ", ".join(("app_id", "month", *keys, *_SUMMED, *_MAXIMA))
    groups = ", ".join(map(str, range(1, 3 + len(keys))))
    statement = sa.text(
        f"INSERT INTO {name} ({columns})"  # noqa: S608 (constants only)
        f" SELECT app_id, date_trunc('month', day, 'UTC'), {', '.join(keys)}, {measures}"
        f" FROM {daily} WHERE day >= :start AND day < :end GROUP BY {groups}"
    )
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0013: %s: %s added up (%d of %d)", name, f"{month:%Y-%m}", done, len(months)
        )


def upgrade() -> None:
    # What is read here stays as it is until this transaction commits: ingestion by a server
    # still running the previous version waits (it would add to the daily tables only).
    op.execute(sa.text("LOCK TABLE usage_daily_users, usage_daily_tag_users IN SHARE MODE"))
    for name, (daily, keys, comment) in _MONTHLY.items():
        op.create_table(
            name,
            sa.Column("app_id", sa.Text(), nullable=False),
            sa.Column("month", sa.DateTime(timezone=True), nullable=False),
            *(sa.Column(key, sa.Text(), nullable=False) for key in keys),
            *_measure_columns(),
            sa.PrimaryKeyConstraint("app_id", "month", *keys, name=op.f(f"pk_{name}")),
            comment=comment,
        )
        for key in keys:
            op.execute(f"CREATE STATISTICS st_{name}_{key} ON (NULLIF({key}, '')) FROM {name}")
        _fill(name, daily, keys)
        op.execute(f"ANALYZE {name}")


def downgrade() -> None:
    for name in reversed(_MONTHLY):
        op.drop_table(name)
