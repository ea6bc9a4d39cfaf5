"""Chat spans and hourly first appearances: exact distinct chats of app-level questions, fast.

`chat_spans` holds each chat's first and last message time and a class of its length;
`chat_firsts_hourly` counts chats per app and UTC hour of their first message. Both are filled
here from what is stored, in week-long batches with a progress line each: from `messages`, and,
for the hours before the retention horizon (`usageql prune`), from `usage_hourly_chats`, which
keeps each chat's hours but not its minutes: a chat first or last seen in a pruned hour gets that
hour's start, which is exact for every question whose bounds fall on whole hours (the others
already need the pruned raw events, and fail saying so). An index on `usage_hourly_chats`
(app, chat, hour) lets a query ask whether one chat had a message in a period.

The SQL is written here, not imported: a migration is a snapshot of its day.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("usageql.migrations")

# A chat's length class: 0 under 1 s, k for [2^(k-1), 2^k) s, 32 from 2^31 s (68 years) on.
_SPAN_CLASS = (
    "width_bucket(extract(epoch FROM last_at - first_at),"
    f" '{{{','.join(str(2**k) for k in range(32))}}}'::numeric[])::smallint"
)
_BATCH = timedelta(days=7)

# One batch of spans: each chat's first and last time among some rows, merged with what is stored.
_UPSERT = (
    "INSERT INTO chat_spans (app_id, chat_id, first_at, last_at) {rows}"
    " ON CONFLICT (app_id, chat_id) DO UPDATE SET"
    " first_at = least(chat_spans.first_at, excluded.first_at),"
    " last_at = greatest(chat_spans.last_at, excluded.last_at)"
)
_FROM_MESSAGES = _UPSERT.format(
    rows="SELECT app_id, chat_id, min(ts), max(ts) FROM messages"
    " WHERE chat_id IS NOT NULL AND ts >= :start AND ts < :end GROUP BY app_id, chat_id"
    " ORDER BY app_id, chat_id"
)
_FROM_ROLLUP = _UPSERT.format(
    rows="SELECT app_id, chat_id, min(hour), max(hour) FROM usage_hourly_chats"
    " WHERE chat_id <> '' AND hour >= :start AND hour < :end GROUP BY app_id, chat_id"
    " ORDER BY app_id, chat_id"
)


def upgrade() -> None:
    op.create_table(
        "chat_spans",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "span_class",
            sa.SmallInteger(),
            sa.Computed(_SPAN_CLASS, persisted=True),
            nullable=False,
            comment="0 under 1 s, k for [2^(k-1), 2^k) s: a chat spanning a moment t with this"
            " class began after t - 2^k s",
        ),
        sa.Column(
            "moved_from",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="first_at before the latest upsert that changed the row (read only by that"
            " upsert, to move the chat's first appearance between hours)",
        ),
        sa.PrimaryKeyConstraint("app_id", "chat_id", name=op.f("pk_chat_spans")),
        comment="Each chat's first and last message time, from the messages stored (the start of"
        " the hour for chats first or last seen in hours pruned before migration 0008).",
    )
    op.create_table(
        "chat_firsts_hourly",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chats", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "hour", name=op.f("pk_chat_firsts_hourly")),
        comment="Chats per app and UTC hour of their first message (chat_spans.first_at).",
    )
    _fill()
    op.create_index(
        op.f("ix_chat_spans_app_id_span_class_first_at"),
        "chat_spans",
        ["app_id", "span_class", "first_at"],
    )
    started = time.monotonic()
    op.create_index(
        op.f("ix_usage_hourly_chats_app_id_chat_id_hour"),
        "usage_hourly_chats",
        ["app_id", "chat_id", "hour"],
    )
    log.info("migration 0008: usage_hourly_chats indexed by chat in %.1f s", _since(started))
    # Statistics now, not when autovacuum comes by: the first queries plan with them.
    op.execute(sa.text("ANALYZE chat_spans, chat_firsts_hourly"))


def _fill() -> None:
    bind = op.get_bind()
    started = time.monotonic()
    oldest, newest = bind.execute(sa.text("SELECT min(ts), max(ts) FROM messages")).one()
    _batches(_FROM_MESSAGES, oldest, newest, "messages")
    horizon = bind.scalar(sa.text("SELECT pruned_before FROM retention WHERE app_id = '*'"))
    if horizon is not None:
        first_hour = bind.scalar(
            sa.text("SELECT min(hour) FROM usage_hourly_chats WHERE hour < :horizon"),
            {"horizon": horizon},
        )
        _batches(_FROM_ROLLUP, first_hour, horizon - timedelta(hours=1), "pruned hours")
    bind.execute(
        sa.text(
            "INSERT INTO chat_firsts_hourly (app_id, hour, chats)"
            " SELECT app_id, date_trunc('hour', first_at, 'UTC'), count(*) FROM chat_spans"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        )
    )
    chats = bind.scalar(sa.text("SELECT count(*) FROM chat_spans"))
    log.info("migration 0008: %s chat spans filled in %.1f s", f"{chats:,}", _since(started))


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
        log.info("migration 0008: chat spans from %s, week %d of %d", what, done, total)
        start = end


def _since(started: float) -> float:
    return time.monotonic() - started


def downgrade() -> None:
    op.drop_index(
        op.f("ix_usage_hourly_chats_app_id_chat_id_hour"), table_name="usage_hourly_chats"
    )
    op.drop_table("chat_firsts_hourly")
    op.drop_table("chat_spans")
