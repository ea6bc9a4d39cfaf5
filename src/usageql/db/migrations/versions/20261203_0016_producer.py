"""The producer of each message: the path it came by (api, import, litellm, otlp, demo).

`source` is the surface an application reports (chat, api, task); `producer` is set by usageql
from the receiver a record came through, so a message from LiteLLM's logging callback can be told
from one an application posted itself. Messages stored before this migration have none (NULL):
which path they took was not kept. Adding a nullable column without a default rewrites nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column(
            "producer",
            sa.Text(),
            nullable=True,
            comment="The path it came by: api, import, litellm, otlp or demo (NULL before 0016)",
        ),
    )


def downgrade() -> None:
    op.drop_column("messages", "producer")
