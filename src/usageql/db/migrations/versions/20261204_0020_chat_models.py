"""Each chat's first and last message time per model, with the chat's tags beside them.

Open WebUI's model overview asks the chats of one model over a month (the chat browser and the
chat tags). Found in `usage_hourly_chats` they are a row per chat and hour (~97k rows for 92k
chats at 10M events), made distinct, then each looked up in `chats` for its tags and times: about
a second. `chat_models` holds a row per (chat, model): the chats of a model in a period are an
index range of it, already distinct, with their tags. An index on `chats` by `updated_at` (ties
by app and chat id in byte order) lets the chat browser walk the latest chats until it has a page of those in scope.

Filled here from what is stored, a week of messages per statement with a progress line each, and
for the hours before the retention horizon from `usage_hourly_chats` (a chat first or last seen
with a model in a pruned hour gets that hour's start, exact for every question whose bounds fall
on whole hours; the others already need the pruned raw events), each with its chat's tags.

The SQL is written here, not imported: a migration is a snapshot of its day.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

_BATCH = timedelta(days=7)
# One batch: each (chat, model)'s first and last time among some rows, with the chat's tags,
# merged with what is stored.
_UPSERT = (
    "INSERT INTO chat_models (app_id, chat_id, model, first_at, last_at, tags, described_at)"
    " SELECT spans.*, coalesce(chats.tags, '{{}}'), chats.described_at FROM ({rows}) AS spans"
    " LEFT JOIN chats USING (app_id, chat_id) ORDER BY app_id, chat_id, model"
    " ON CONFLICT (app_id, chat_id, model) DO UPDATE SET"
    " first_at = least(chat_models.first_at, excluded.first_at),"
    " last_at = greatest(chat_models.last_at, excluded.last_at)"
)
_FROM_MESSAGES = _UPSERT.format(
    rows="SELECT app_id, chat_id, model, min(ts) AS first_at, max(ts) AS last_at FROM messages"
    " WHERE chat_id IS NOT NULL AND model IS NOT NULL AND ts >= :start AND ts < :end"
    " GROUP BY app_id, chat_id, model"
)
_FROM_ROLLUP = _UPSERT.format(
    rows="SELECT app_id, chat_id, model, min(hour) AS first_at, max(hour) AS last_at"
    " FROM usage_hourly_chats WHERE chat_id <> '' AND model <> '' AND hour >= :start"
    " AND hour < :end GROUP BY app_id, chat_id, model"
)


def upgrade() -> None:
    op.create_table(
        "chat_models",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "tags",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
            comment="the chat's tags (chats.tags), kept beside its models",
        ),
        sa.Column(
            "described_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="chats.described_at of the tags copied: a copy never replaces a later one",
        ),
        sa.PrimaryKeyConstraint("app_id", "chat_id", "model", name=op.f("pk_chat_models")),
        comment="Each chat's first and last message time per model, from the messages stored"
        " (the start of the hour for hours pruned before migration 0020).",
    )
    started = time.monotonic()
    bind = op.get_bind()
    oldest, newest = bind.execute(sa.text("SELECT min(ts), max(ts) FROM messages")).one()
    _batches(_FROM_MESSAGES, oldest, newest, "messages")
    horizon = bind.scalar(sa.text("SELECT pruned_before FROM retention WHERE app_id = '*'"))
    if horizon is not None:
        first_hour = bind.scalar(
            sa.text("SELECT min(hour) FROM usage_hourly_chats WHERE hour < :horizon"),
            {"horizon": horizon},
        )
        _batches(_FROM_ROLLUP, first_hour, horizon - timedelta(hours=1), "pruned hours")
    rows = bind.scalar(sa.text("SELECT count(*) FROM chat_models"))
    log.info("migration 0020: %s chat models filled in %.1f s", f"{rows:,}", _since(started))
    op.create_index(
        op.f("ix_chat_models_app_id_model_last_at"),
        "chat_models",
        ["app_id", "model", "last_at"],
    )
    started = time.monotonic()
    op.create_index(
        "ix_chats_updated_at_app_id_chat_id",
        "chats",
        [
            sa.text("updated_at DESC NULLS LAST"),
            sa.text('app_id COLLATE "C"'),
            sa.text('chat_id COLLATE "C"'),
        ],
    )
    log.info("migration 0020: chats indexed by updated_at in %.1f s", _since(started))
    # Statistics now, not when autovacuum comes by: the first queries plan with them.
    op.execute(sa.text("ANALYZE chat_models"))


def _batches(statement: str, oldest: datetime | None, newest: datetime | None, what: str) -> None:
    """Run `statement` over [oldest, newest] a week at a time, saying how far it got."""
    if oldest is None or newest is None:
        return
    bind = op.get_bind()
    total = (newest - oldest) // _BATCH + 1
    start = oldest
    for done in range(1, total + 1):
        end = newest + timedelta(microseconds=1) if done == total else start + _BATCH
        bind.execute(sa.text(statement), {"start": start, "end": end})
        log.info("migration 0020: chat models from %s, week %d of %d", what, done, total)
        start = end


def _since(started: float) -> float:
    return time.monotonic() - started


def downgrade() -> None:
    op.drop_index("ix_chats_updated_at_app_id_chat_id", table_name="chats")
    op.drop_table("chat_models")
