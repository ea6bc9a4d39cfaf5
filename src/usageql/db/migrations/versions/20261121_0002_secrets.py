"""Secrets shared by every server process (the key that signs pagination cursors).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("app_id", sa.Text(), nullable=False, comment="'*' for server-wide secrets"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", "name", name=op.f("pk_secrets")),
        comment="Server secrets made once and shared by every process (e.g. the cursor signing key).",
    )


def downgrade() -> None:
    op.drop_table("secrets")
