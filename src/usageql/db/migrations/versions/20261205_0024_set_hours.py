"""Each user's first and last UTC hour of the day beside the day sets of user numbers.

Distinct users over the first or last hours of a UTC day (a Berlin week takes the first 22 or 23
hours of the UTC Sunday it ends in and the last one or two of the one it starts in) read every
row of that day in `usage_daily_users` or `usage_daily_tag_users` and looked up each user's
number (~8,000 rows for the overview's weeks per user-agent tag at 10M events), and the short
ends a row per user and hour of the hourly tables. `first_hours` and `last_hours`, aligned with
`users`, hold each member's first and last hour of the day, and `unnamed_first` and
`unnamed_last` those of the day's messages without a user: both ends then come from the day's
set row alone. They are filled from the daily tables of users (which outlive pruned events), a
month per statement, each followed by a progress line in the log; the sets are rewritten from
the same rows, so each array lines up with `users`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

# set table: (the daily table of users its members' hours come from, the keys besides app and day)
TABLES = {
    "usage_daily_user_sets": ("usage_daily_users", ()),
    "usage_daily_tag_user_sets": ("usage_daily_tag_users", ("tag",)),
}
_ALIGNED = (
    "cardinality(first_hours) = cardinality(users) AND cardinality(last_hours) = cardinality(users)"
)


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _fill(table: str, daily: str, keys: tuple[str, ...]) -> None:
    bind = op.get_bind()
    span = f"SELECT date_trunc('month', min(day), 'UTC'), max(day) FROM {table}"  # noqa: S608
    first, last = bind.execute(sa.text(span)).one()
    months: list[datetime] = []
    while first is not None and first <= last:
        months.append(first)
        first = _next_month(first)
    groups = ", ".join(f"d.{key}" for key in ("app_id", "day", *keys))
    same = " AND ".join(f"s.{key} = h.{key}" for key in ("app_id", "day", *keys))
    named = "FILTER (WHERE n.number IS NOT NULL)"
    statement = sa.text(
        f"UPDATE {table} AS s SET users = h.users, first_hours = h.firsts,"  # noqa: S608
        " last_hours = h.lasts, unnamed_first = h.unnamed_first, unnamed_last = h.unnamed_last"
        f" FROM (SELECT {groups},"
        f" coalesce(array_agg(n.number ORDER BY n.number) {named}, '{{}}') AS users,"
        f" coalesce(array_agg(d.first_hour ORDER BY n.number) {named}, '{{}}') AS firsts,"
        f" coalesce(array_agg(d.last_hour ORDER BY n.number) {named}, '{{}}') AS lasts,"
        " min(d.first_hour) FILTER (WHERE n.number IS NULL) AS unnamed_first,"
        " max(d.last_hour) FILTER (WHERE n.number IS NULL) AS unnamed_last"
        f" FROM {daily} AS d LEFT JOIN user_numbers AS n"
        " ON n.app_id = '*' AND n.user_id = d.user_id"
        f" WHERE d.day >= :start AND d.day < :end GROUP BY {groups}) AS h"
        f" WHERE {same}"
    )
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0024: %s: %s filled (%d of %d)", table, f"{month:%Y-%m}", done, len(months)
        )
    # Every set was added up with its day's rows of users (the writer, compaction); a set without
    # them would have its members count in every part of their day.
    unfilled = bind.execute(
        sa.text(
            f"UPDATE {table} SET"  # noqa: S608
            " first_hours = array_fill(0::smallint, ARRAY[cardinality(users)]),"
            " last_hours = array_fill(23::smallint, ARRAY[cardinality(users)])"
            f" WHERE NOT ({_ALIGNED})"
        )
    ).rowcount
    if unfilled:
        log.warning(
            "migration 0024: %s: %d sets had no rows of users; their members count in every"
            " hour of their day",
            table,
            unfilled,
        )


def upgrade() -> None:
    # Ingestion and compaction by a server still running the previous version wait until this
    # commits.
    op.execute(
        sa.text("LOCK TABLE usage_daily_user_sets, usage_daily_tag_user_sets IN EXCLUSIVE MODE")
    )
    for table, (daily, keys) in TABLES.items():
        for column, which in (("first_hours", "first"), ("last_hours", "last")):
            op.add_column(
                table,
                sa.Column(
                    column,
                    ARRAY(sa.SmallInteger()),
                    nullable=False,
                    server_default=sa.text("'{}'"),
                    comment=f"UTC hour of each user's {which} message, in the order of users",
                ),
            )
        for column, which in (("unnamed_first", "first"), ("unnamed_last", "last")):
            op.add_column(
                table,
                sa.Column(
                    column,
                    sa.SmallInteger(),
                    nullable=True,
                    comment=f"UTC hour of the {which} message without a user",
                ),
            )
        _fill(table, daily, keys)
        op.create_check_constraint(op.f(f"ck_{table}_aligned"), table, _ALIGNED)


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_aligned"), table, type_="check")
        for column in ("unnamed_last", "unnamed_first", "last_hours", "first_hours"):
            op.drop_column(table, column)
