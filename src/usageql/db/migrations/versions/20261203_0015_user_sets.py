"""User numbers and daily sets of them, filled from the daily rollups.

Distinct users over a period read a row per user and day from `usage_daily_users` (per tag too,
from `usage_daily_tag_users`) and hash each user's text. The new tables hold, per UTC day (and
tag), one sorted array of numbers: `user_numbers` gives each user id a number (across apps, as
distinct users are counted), and `usage_daily_user_sets` and `usage_daily_tag_user_sets` hold the
numbers of each day's users. Both are filled from the daily rollups, which outlive pruned events:
the numbers in one statement, the sets a month per statement, each followed by a progress line in
the log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

# set table: (the daily table it is filled from, its keys, its comment)
_SETS = {
    "usage_daily_user_sets": (
        "usage_daily_users",
        (),
        "Per app and UTC day with messages, the numbers (user_numbers) of its users, sorted.",
    ),
    "usage_daily_tag_user_sets": (
        "usage_daily_tag_users",
        ("tag",),
        "Per app, UTC day and tag with messages, the numbers (user_numbers) of its users, sorted.",
    ),
}


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _fill(name: str, daily: str, keys: tuple[str, ...]) -> None:
    bind = op.get_bind()
    first, last = bind.execute(
        sa.text(
            "SELECT date_trunc('month', min(day), 'UTC'),"  # noqa: S608 (constants only)
            f" date_trunc('month', max(day), 'UTC') FROM {daily}"
        )
    ).one()
    months: list[datetime] = []
    month = first
    while month is not None and month <= last:
        months.append(month)
        month = _next_month(month)
    groups = ", ".join(["d.app_id", "d.day", *(f"d.{key}" for key in keys)])
    statement = sa.text(
        f"INSERT INTO {name} (app_id, day, {''.join(k + ', ' for k in keys)}users)"  # noqa: S608
        f" SELECT {groups}, coalesce(array_agg(DISTINCT n.number ORDER BY n.number)"
        " FILTER (WHERE n.number IS NOT NULL), '{}')"
        f" FROM {daily} AS d LEFT JOIN user_numbers AS n"
        " ON n.app_id = '*' AND n.user_id = d.user_id"
        f" WHERE d.day >= :start AND d.day < :end GROUP BY {groups}"
    )
    for done, month in enumerate(months, start=1):
        bind.execute(statement, {"start": month, "end": _next_month(month)})
        log.info(
            "migration 0015: %s: %s filled (%d of %d)", name, f"{month:%Y-%m}", done, len(months)
        )


def upgrade() -> None:
    # What is read here stays as it is until this transaction commits: ingestion by a server
    # still running the previous version waits (it would add to the daily tables only).
    op.execute(sa.text("LOCK TABLE usage_daily_users, usage_daily_tag_users IN SHARE MODE"))
    op.create_table(
        "user_numbers",
        sa.Column(
            "app_id",
            sa.Text(),
            nullable=False,
            comment="always '*': a user id's number is every app's",
        ),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "user_id", name=op.f("pk_user_numbers")),
        comment="A number per user id with a message, for the sets of usage_daily_user_sets. Not"
        " per app: distinct users are counted by id across apps, as over raw events.",
    )
    op.execute(
        sa.text(
            "INSERT INTO user_numbers (app_id, user_id) SELECT DISTINCT '*', user_id"
            " FROM usage_daily_users WHERE user_id <> '' ORDER BY 2"
        )
    )
    log.info("migration 0015: user_numbers: users numbered")
    for name, (daily, keys, comment) in _SETS.items():
        op.create_table(
            name,
            sa.Column("app_id", sa.Text(), nullable=False),
            sa.Column("day", sa.DateTime(timezone=True), nullable=False),
            *(sa.Column(key, sa.Text(), nullable=False) for key in keys),
            sa.Column(
                "users", ARRAY(sa.BigInteger()), server_default=sa.text("'{}'"), nullable=False
            ),
            sa.PrimaryKeyConstraint("app_id", "day", *keys, name=op.f(f"pk_{name}")),
            comment=comment,
        )
        _fill(name, daily, keys)
    op.execute("ANALYZE user_numbers, usage_daily_user_sets, usage_daily_tag_user_sets")


def downgrade() -> None:
    for name in reversed(_SETS):
        op.drop_table(name)
    op.drop_table("user_numbers")
