"""Initial schema: apps, users, chats, messages, feedback, API keys and prices.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:10:39.472201
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column(
            "app_id", sa.Text(), nullable=False, comment="the owning app, or '*' for operator keys"
        ),
        sa.Column(
            "key_id", sa.Text(), nullable=False, comment="public part of the key, shown in listings"
        ),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column(
            "scope_apps", postgresql.ARRAY(sa.Text()), nullable=True, comment="NULL: every app"
        ),
        sa.Column(
            "scope_users", postgresql.ARRAY(sa.Text()), nullable=True, comment="NULL: every user"
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'reader', 'ingest')", name=op.f("ck_api_keys_role")),
        sa.PrimaryKeyConstraint("app_id", "key_id", name=op.f("pk_api_keys")),
        comment="Credentials for this API. Only a hash of the secret is stored.",
    )
    op.create_index(op.f("ix_api_keys_key_id"), "api_keys", ["key_id"], unique=False)
    op.create_table(
        "apps",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_apps")),
        comment="Tenants. Every other row belongs to one app.",
    )
    op.create_table(
        "chats",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("described_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "chat_id", name=op.f("pk_chats")),
        comment="Conversations: title and tags from chat records (latest wins), times from messages.",
    )
    op.create_table(
        "feedback",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("feedback_id", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("chat_id", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rating IN (1, -1)", name=op.f("ck_feedback_rating")),
        sa.PrimaryKeyConstraint("app_id", "feedback_id", name=op.f("pk_feedback")),
        comment="Thumbs up (1) or down (-1) on a model's answer.",
    )
    op.create_index(op.f("ix_feedback_app_id_ts"), "feedback", ["app_id", "ts"], unique=False)
    op.create_table(
        "messages",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("api_key", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'success'"), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "cache_read_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "cache_write_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("reasoning_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "cost",
            sa.Numeric(precision=20, scale=10),
            nullable=True,
            comment="USD; NULL when the request could not be priced",
        ),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("ttft_ms", sa.Double(), nullable=True),
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("content_preview", sa.Text(), nullable=True),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('user', 'assistant', 'system', 'tool')", name=op.f("ck_messages_role")
        ),
        sa.CheckConstraint("status IN ('success', 'error')", name=op.f("ck_messages_status")),
        sa.CheckConstraint(
            "input_tokens >= 0 AND output_tokens >= 0 AND cache_read_tokens >= 0 AND cache_write_tokens >= 0 AND reasoning_tokens >= 0",
            name=op.f("ck_messages_tokens_not_negative"),
        ),
        sa.PrimaryKeyConstraint("app_id", "message_id", name=op.f("pk_messages")),
        comment="The event fact table: one row per message; assistant messages are LLM requests.",
    )
    op.create_index(op.f("ix_messages_app_id_ts"), "messages", ["app_id", "ts"], unique=False)
    op.create_table(
        "prices",
        sa.Column(
            "app_id", sa.Text(), nullable=False, comment="'*' for prices that apply to every app"
        ),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("input", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("output", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("cache_read", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("cache_write", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("reasoning", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "input >= 0 AND output >= 0 AND coalesce(cache_read, 0) >= 0 AND coalesce(cache_write, 0) >= 0 AND coalesce(reasoning, 0) >= 0",
            name=op.f("ck_prices_not_negative"),
        ),
        sa.PrimaryKeyConstraint("app_id", "model", name=op.f("pk_prices")),
        comment="USD per million tokens. Missing cache or reasoning prices fall back to input/output.",
    )
    op.create_table(
        "users",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("profile_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "user_id", name=op.f("pk_users")),
        comment="People (or end users of an app). name and email: the latest timestamp wins.",
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("prices")
    op.drop_index(op.f("ix_messages_app_id_ts"), table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_feedback_app_id_ts"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("chats")
    op.drop_table("apps")
    op.drop_index(op.f("ix_api_keys_key_id"), table_name="api_keys")
    op.drop_table("api_keys")
