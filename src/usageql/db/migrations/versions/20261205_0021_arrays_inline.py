"""Rows of merged arrays stored as they are, up to a page: no compression on every batch.

Every batch merges its requests into a histogram per (app, UTC day or month, model) and its users
into a set per (app, UTC day) and per (app, UTC day, tag). A month's histogram is three arrays of
~350 buckets, ~7 kB: over PostgreSQL's default target of 2 kB, so each time a batch rewrote the
row, PostgreSQL compressed its arrays again. With the target at a page (8,160 bytes, the most it
takes), such rows are stored as they are: rewriting a month's 34 histograms took 13-19 ms
compressed and 1.3-1.5 ms inline, and merging a day into them 59-68 ms against 24-25 ms (psql, a
1M-event data set; docs/scaling.md, "Arrays kept inline"). Longer rows are still compressed and
moved out of line, as before.

Only new row versions are stored so; rows already compressed are read as they are and stored
inline the next time a batch merges into them. Nothing is rewritten here, so this takes no time.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE usage_daily_user_sets SET (toast_tuple_target = 8160)")
    op.execute("ALTER TABLE usage_daily_tag_user_sets SET (toast_tuple_target = 8160)")
    op.execute("ALTER TABLE usage_daily_latency SET (toast_tuple_target = 8160)")
    op.execute("ALTER TABLE usage_monthly_latency SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE usage_daily_user_sets RESET (toast_tuple_target)")
    op.execute("ALTER TABLE usage_daily_tag_user_sets RESET (toast_tuple_target)")
    op.execute("ALTER TABLE usage_daily_latency RESET (toast_tuple_target)")
    op.execute("ALTER TABLE usage_monthly_latency RESET (toast_tuple_target)")
