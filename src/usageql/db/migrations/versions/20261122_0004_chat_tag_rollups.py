"""Hourly rollups per chat and per tag (filled from the messages already stored); a BRIN index
on message times.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "messages", "requests", "successful_requests", "failed_requests", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
)  # fmt: skip
# name: (key columns, each key's value in a row of `messages` (+ `tag`), FROM, comment)
_ROLLUPS = {
    "usage_hourly_chats": (
        ("chat_id", "user_id", "model"),
        "coalesce(chat_id, ''), coalesce(user_id, ''), coalesce(model, '')",
        "messages",
        "Sums of messages per app, UTC hour, chat, user and model: exact distinct chats from"
        " rollups.",
    ),
    "usage_hourly_tags": (
        ("tag", "user_id", "model"),
        "tag, coalesce(user_id, ''), coalesce(model, '')",
        "messages, unnest(tags) AS tag",
        "Sums of messages per app, UTC hour, tag, user and model; a message counts once per tag.",
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


def upgrade() -> None:
    pruned = op.get_bind().scalar(sa.text("SELECT min(pruned_before) FROM retention"))
    if pruned is not None:
        raise RuntimeError(
            f"raw events before {pruned.isoformat()} were pruned, so the chat and tag rollups"
            " this migration adds cannot be filled for those hours; restore the pruned events"
            " (or start a new database) before upgrading"
        )
    for name, (keys, key_values, source, comment) in _ROLLUPS.items():
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
        groups = ", ".join(map(str, range(1, 3 + len(keys))))
        op.execute(
            sa.text(
                f"INSERT INTO {name} SELECT app_id, date_trunc('hour', ts, 'UTC'), {key_values},"  # noqa: S608 (names are constants)
                f" {_MEASURES_SQL} FROM {source} GROUP BY {groups}"
            )
        )

    op.create_index(
        op.f("ix_messages_ts"),
        "messages",
        ["ts"],
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_ts"), table_name="messages")
    for name in _ROLLUPS:
        op.drop_table(name)
