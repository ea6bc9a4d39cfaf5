"""The BRIN index on message times keeps several intervals per block range (minmax-multi).

After a VACUUM records the free space at the end of each page, later small rows land in old
pages. A plain minmax summary then stretches every block range to the newest time and a
17-minute range read 20,643 of 52,515 pages (1M demo events); minmax-multi keeps those rows as
separate points and the same range reads 384.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(ops: dict[str, str]) -> None:
    op.create_index(
        op.f("ix_messages_ts"),
        "messages",
        ["ts"],
        postgresql_using="brin",
        postgresql_ops=ops,
        postgresql_with={"autosummarize": "on"},
    )


def upgrade() -> None:
    op.drop_index(op.f("ix_messages_ts"), table_name="messages")
    _create({"ts": "timestamptz_minmax_multi_ops"})


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_ts"), table_name="messages")
    _create({})
