"""The UTC hours of day of each user's first and last message in the daily tables of users.

Distinct users over the hours of a UTC day before (or from) some hour, as a Berlin week or day
takes them from the UTC day it starts in, read a row per user and hour of the hourly tables
(~1,000 rows an hour at 10M events, against ~2,500 a day in the daily table of users per tag).
`first_hour` and `last_hour` (0-23) of a row of `usage_daily_users` or `usage_daily_tag_users`
say whether that user had a message in the first hours of the day (first_hour < h) or in its last
ones (last_hour >= h). They are filled from the hourly tables, which outlive pruned events, a
month per statement, each followed by a progress line in the log.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

# daily table: (the hourly table its hours come from, the keys besides app, time and user)
TABLES = {
    "usage_daily_users": ("usage_hourly_users", ()),
    "usage_daily_tag_users": ("usage_hourly_tags", ("tag",)),
}


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _fill(table: str, hourly: str, keys: tuple[str, ...]) -> None:
    bind = op.get_bind()
    span = f"SELECT date_trunc('month', min(day), 'UTC'), max(day) FROM {table}"  # noqa: S608
    first, last = bind.execute(sa.text(span)).one()
    months: list[datetime] = []
    while first is not None and first <= last:
        months.append(first)
        first = _next_month(first)
    same = " AND ".join(f"d.{key} = h.{key}" for key in ("app_id", "day", *keys, "user_id"))
    groups = ", ".join(("app_id", "day", *keys, "user_id"))
    statement = sa.text(
        f"UPDATE {table} AS d SET first_hour = h.first_hour, last_hour = h.last_hour"  # noqa: S608
        " FROM (SELECT app_id, date_trunc('day', hour, 'UTC') AS day,"
        f" {''.join(key + ', ' for key in keys)}user_id,"
        " min(extract(hour FROM hour AT TIME ZONE 'UTC'))::smallint AS first_hour,"
        " max(extract(hour FROM hour AT TIME ZONE 'UTC'))::smallint AS last_hour"
        f" FROM {hourly} WHERE hour >= :start AND hour < :end GROUP BY {groups}) AS h"
        f" WHERE {same}"
    )
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0019: %s: %s filled (%d of %d)", table, f"{month:%Y-%m}", done, len(months)
        )
    # Every day's row was added up from its hours (0009, ingestion); a row without any would be
    # counted in every part of its day, as if it had a message at each end of it.
    unfilled = bind.execute(
        sa.text(
            f"UPDATE {table} SET first_hour = 0, last_hour = 23"  # noqa: S608
            " WHERE first_hour IS NULL"
        )
    ).rowcount
    if unfilled:
        log.warning(
            "migration 0019: %s: %d rows had no hourly rows; their users count in every hour of"
            " their day",
            table,
            unfilled,
        )


def upgrade() -> None:
    # Ingestion by a server still running the previous version waits until this commits.
    op.execute(sa.text("LOCK TABLE usage_daily_users, usage_daily_tag_users IN EXCLUSIVE MODE"))
    for table, (hourly, keys) in TABLES.items():
        op.add_column(table, sa.Column("first_hour", sa.SmallInteger(), nullable=True))
        op.add_column(table, sa.Column("last_hour", sa.SmallInteger(), nullable=True))
        _fill(table, hourly, keys)
        for column, message in (("first_hour", "first"), ("last_hour", "last")):
            op.alter_column(
                table,
                column,
                nullable=False,
                comment=f"UTC hour of the {message} message",
                existing_type=sa.SmallInteger(),
            )
        op.create_check_constraint(
            op.f(f"ck_{table}_day_hours"),
            table,
            "0 <= first_hour AND first_hour <= last_hour AND last_hour <= 23",
        )
        op.execute(sa.text(f"ANALYZE {table}"))


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_day_hours"), table, type_="check")
        op.drop_column(table, "last_hour")
        op.drop_column(table, "first_hour")
