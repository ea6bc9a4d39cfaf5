"""Hourly rollups of messages (filled from the messages already stored) and the retention horizon.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "messages", "requests", "successful_requests", "failed_requests", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
)  # fmt: skip
_ROLLUPS = {
    "usage_hourly": (
        ("model", "provider", "source", "role", "status"),
        "Sums of messages per app, UTC hour, model, provider, source, role and status.",
    ),
    "usage_hourly_users": (
        ("user_id", "model"),
        "Sums of messages per app, UTC hour, user and model: exact distinct users from rollups.",
    ),
}
# Each message's contribution, as the writer computes it (usageql.ingest.rollup).
_MEASURES_SQL = """
    count(*),
    count(*) FILTER (WHERE role = 'assistant'),
    count(*) FILTER (WHERE role = 'assistant' AND status = 'success'),
    count(*) FILTER (WHERE role = 'assistant' AND status = 'error'),
    sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
    sum(reasoning_tokens),
    coalesce(sum(cost), 0),
    count(*) FILTER (WHERE role = 'assistant' AND cost IS NULL),
    max(latency_ms), max(ttft_ms)
"""


def _create_rollup(name: str, keys: tuple[str, ...], comment: str) -> None:
    op.create_table(
        name,
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(key, sa.Text(), nullable=False) for key in keys),
        *(
            sa.Column(count, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for count in _COUNTS
        ),
        sa.Column("cost", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "unpriced_requests", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("latency_max", sa.Double(), nullable=True),
        sa.Column("ttft_max", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "hour", *keys, name=op.f(f"pk_{name}")),
        comment=comment,
    )
    # Rollups of the messages stored before this migration. Key columns hold '' for NULL.
    key_values = ", ".join(f"coalesce({key}, '')" for key in keys)
    op.execute(
        sa.text(
            f"INSERT INTO {name} SELECT app_id, date_trunc('hour', ts, 'UTC'), {key_values},"  # noqa: S608 (names are constants)
            f" {_MEASURES_SQL} FROM messages GROUP BY 1, 2, {', '.join(map(str, range(3, 3 + len(keys))))}"
        )
    )


def upgrade() -> None:
    for name, (keys, comment) in _ROLLUPS.items():
        _create_rollup(name, keys, comment)
    op.create_table(
        "retention",
        sa.Column("app_id", sa.Text(), nullable=False, comment="'*': the horizon of every app"),
        sa.Column("pruned_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "pruned_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_retention")),
        comment="Raw events before `pruned_before` were deleted; rollups still hold their sums.",
    )


def downgrade() -> None:
    op.drop_table("retention")
    for name in _ROLLUPS:
        op.drop_table(name)
