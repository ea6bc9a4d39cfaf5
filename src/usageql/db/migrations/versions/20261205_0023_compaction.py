"""Days added up once they have ended: `compaction` records how far the daily tables reach.

Every batch added its events to the rollups per UTC day and month, the day sets of users and the
latency histograms, in its own transaction: sixteen upserts a batch, most of them rewriting the
same rows of the same day again and again (PostgreSQL's CPU per event doubled over issue 15). From
here, a batch adds them only to the hourly rollups; the other tables take each UTC day once it has
ended (usageql.ingest.compact), and readers take the hours of days not compacted yet. Late events,
whose day is compacted already, are still added as they are stored.

A database with events has its daily tables complete: they reach the start of the current UTC
day, and today's rows, kept as before until now, are added again from its hours tonight. An empty
one reaches nothing yet (-infinity). Nothing is rewritten here, so this takes no time.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REACHED = """
INSERT INTO compaction (app_id, compacted_before)
SELECT '*', CASE WHEN EXISTS (SELECT FROM usage_hourly)
    THEN date_trunc('day', now(), 'UTC') ELSE '-infinity' END
"""


def upgrade() -> None:
    op.create_table(
        "compaction",
        sa.Column("app_id", sa.Text(), nullable=False, comment="'*': one moment for every app"),
        sa.Column("compacted_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "compacted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_compaction")),
        comment="The daily and monthly rollups hold every event before `compacted_before` (a UTC"
        " midnight; -infinity: none yet; infinity: every event, all kept as it is stored). Later"
        " events are in the hourly rollups until their UTC day ends and is compacted"
        " (usageql.db.compact).",
    )
    op.execute(_REACHED)


_BEHIND = """
SELECT compacted_before <> 'infinity'
    AND EXISTS (SELECT FROM usage_hourly WHERE hour >= compacted_before)
FROM compaction
"""


def downgrade() -> None:
    # The writer of 0022 kept every day as it stored events; days not added yet would be missing.
    if op.get_bind().execute(sa.text(_BEHIND)).scalar():
        raise RuntimeError(
            "the daily rollups do not hold the latest days yet: run `usageql compact --eager`,"
            " then downgrade again"
        )
    op.drop_table("compaction")
