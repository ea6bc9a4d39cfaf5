"""Statistics on each rollup key as the compiler reads it (NULLIF(key, '')), for the planner.

A rollup key holds '' where the event had none, and the rollup relation hands it on as NULL
(usageql.query.rollups), so every condition the compiler puts on a key is on NULLIF(key, ''),
an expression PostgreSQL had no statistics for: it guessed a fixed share per condition, so a
month of weekly users per user-agent tag (23,626 daily rows) was planned as one row and its
distinct pairs sorted, spilling to disk, where hashing them takes a third less. ANALYZE
gathers these with the tables' own statistics; this migration runs it once so that they exist
from the start.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "usage_hourly": ("model", "provider", "source", "role", "status"),
    "usage_hourly_users": ("user_id", "model"),
    "usage_hourly_chats": ("chat_id", "user_id", "model"),
    "usage_hourly_tags": ("tag", "user_id", "model"),
    "usage_hourly_models": ("model",),
    "usage_daily": ("model", "provider", "source", "role", "status"),
    "usage_daily_users": ("user_id",),
    "usage_daily_tags": ("tag",),
    "usage_daily_tag_users": ("tag", "user_id"),
}


def upgrade() -> None:
    for table, keys in KEYS.items():
        for key in keys:
            op.execute(f"CREATE STATISTICS st_{table}_{key} ON (NULLIF({key}, '')) FROM {table}")
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table, keys in KEYS.items():
        for key in keys:
            op.execute(f"DROP STATISTICS st_{table}_{key}")
