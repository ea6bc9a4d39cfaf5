"""Long-context price tiers: `price_tiers` holds the prices a model charges past a number of input
tokens (LiteLLM's `*_above_200k_tokens`), one row per threshold, removed with their price.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_tiers",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("above_tokens", sa.BigInteger(), nullable=False),
        sa.Column("input", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("output", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("cache_read", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("cache_write", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("reasoning", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.CheckConstraint(
            "above_tokens > 0 AND coalesce(input, 0) >= 0 AND coalesce(output, 0) >= 0"
            " AND coalesce(cache_read, 0) >= 0 AND coalesce(cache_write, 0) >= 0"
            " AND coalesce(reasoning, 0) >= 0",
            name=op.f("ck_price_tiers_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "model"],
            ["prices.app_id", "prices.model"],
            name=op.f("fk_price_tiers_app_id_prices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", "model", "above_tokens", name=op.f("pk_price_tiers")),
        comment="Long-context prices of a row of prices: USD per million tokens for requests whose"
        " input exceeds above_tokens (the highest such tier applies); NULL: the base price's.",
    )


def downgrade() -> None:
    op.drop_table("price_tiers")
