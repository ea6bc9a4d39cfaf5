"""Messages stored beyond the ingestion bounds move to `quarantined_messages`, out of every
aggregate.

Ingestion now bounds every number so that no sum can overflow (tokens, latencies, cost, metadata
numbers). Rows stored before could hold larger values (a latency of 1e308 made every average
fail), so this migration moves each such message, whole and with the reason, into
`quarantined_messages`, deletes it from `messages`, rebuilds the hourly rollups of exactly the
(app, hour)s it was in, and says what it moved: a warning through alembic's logger, which
`usageql migrate` and the server's start show. The downgrade moves them back.

The bounds are written here, not imported: a migration is a snapshot of its day.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_TOKENS_MAX = 10**9  # per request and token column
_MS_MAX = 7 * 24 * 3600 * 1000  # latency_ms, ttft_ms: 7 days
_COST_MAX = 100_000  # USD per request
_METADATA_MAX = 2**53  # a metadata integer's magnitude (beyond it, doubles skip integers)
_SHOWN = 20  # rows listed in the output; the table holds them all

# (field, its value as text, its bound as text, SQL true when the row is beyond the bound).
# NaN and infinities are beyond every bound (NaN sorts above every number in PostgreSQL).
_BOUNDED = [
    (name, f"{name}::text", f"0 to {top}", f"{name} NOT BETWEEN 0 AND {top}")
    for name, top in (
        ("input_tokens", _TOKENS_MAX),
        ("output_tokens", _TOKENS_MAX),
        ("cache_read_tokens", _TOKENS_MAX),
        ("cache_write_tokens", _TOKENS_MAX),
        ("reasoning_tokens", _TOKENS_MAX),
        ("latency_ms", _MS_MAX),
        ("ttft_ms", _MS_MAX),
        ("cost", _COST_MAX),
    )
]
# A metadata integer beyond the bound. jsonb keeps no trace of a number's JSON spelling, so a
# whole float (1e20) counts as an integer too; every number stored beyond 2^53 came from a
# double or a 64-bit integer, and is whole.
_BIG_NUMBER = (
    f"jsonb_typeof(value) = 'number' AND abs(value::numeric) > {_METADATA_MAX}"
    " AND value::numeric = trunc(value::numeric)"
)
_BIG_METADATA = f"EXISTS (SELECT FROM jsonb_each(metadata) WHERE {_BIG_NUMBER})"
_BEYOND = " OR ".join([*(beyond for *_, beyond in _BOUNDED), _BIG_METADATA])
_REASON = "concat_ws('; ', {})".format(
    ", ".join(
        [
            *(
                f"CASE WHEN {beyond} THEN '{name} = ' || {value} || ' (allowed: {bound})' END"
                for name, value, bound, beyond in _BOUNDED
            ),
            "(SELECT string_agg('metadata.' || key || ' = ' || value::text || ' (allowed:"  # noqa: S608
            f" -{_METADATA_MAX} to {_METADATA_MAX})', '; ' ORDER BY key)"
            f" FROM jsonb_each(metadata) WHERE {_BIG_NUMBER})",
        ]
    )
)

# Each rollup: its key columns, each key's value in a row of `messages` m (+ `tag`), the FROM.
_ROLLUPS = {
    "usage_hourly": (
        "model, provider, source, role, status",
        "coalesce(m.model, ''), coalesce(m.provider, ''), coalesce(m.source, ''), m.role, m.status",
        "",
    ),
    "usage_hourly_users": ("user_id, model", "coalesce(m.user_id, ''), coalesce(m.model, '')", ""),
    "usage_hourly_chats": (
        "chat_id, user_id, model",
        "coalesce(m.chat_id, ''), coalesce(m.user_id, ''), coalesce(m.model, '')",
        "",
    ),
    "usage_hourly_tags": (
        "tag, user_id, model",
        "tag, coalesce(m.user_id, ''), coalesce(m.model, '')",
        " CROSS JOIN LATERAL unnest(m.tags) AS tag",
    ),
}
# Each message's contribution, as the writer computes it (usageql.ingest.rollup).
_MEASURES = """
    count(*),
    count(*) FILTER (WHERE m.role = 'assistant'),
    count(*) FILTER (WHERE m.role = 'assistant' AND m.status = 'success'),
    count(*) FILTER (WHERE m.role = 'assistant' AND m.status = 'error'),
    sum(m.input_tokens), sum(m.output_tokens), sum(m.cache_read_tokens),
    sum(m.cache_write_tokens), sum(m.reasoning_tokens),
    coalesce(sum(m.cost), 0),
    count(*) FILTER (WHERE m.role = 'assistant' AND m.cost IS NULL),
    max(m.latency_ms), max(m.ttft_ms)
"""
_HOURS = "usageql_quarantined_hours"


def _rebuild_rollups() -> None:
    """Recompute every rollup row of the (app, hour)s in the temporary table _HOURS from the
    messages stored now. The rollup tables are locked against ingestion's upserts meanwhile:
    a batch that stored messages in those hours before the lock is read here whole, and one
    waiting on the lock adds its sums to the rebuilt rows after this transaction commits."""
    op.execute(sa.text(f"LOCK TABLE {', '.join(_ROLLUPS)} IN SHARE ROW EXCLUSIVE MODE"))
    for name, (keys, key_values, unnest) in _ROLLUPS.items():
        groups = ", ".join(map(str, range(1, 3 + len(keys.split(", ")))))
        op.execute(
            sa.text(
                f"DELETE FROM {name} r USING {_HOURS} h"  # noqa: S608 (names are constants)
                " WHERE r.app_id = h.app_id AND r.hour = h.hour"
            )
        )
        op.execute(
            sa.text(
                f"INSERT INTO {name} SELECT m.app_id, h.hour, {key_values}, {_MEASURES}"  # noqa: S608
                f" FROM messages m JOIN {_HOURS} h ON m.app_id = h.app_id"
                " AND m.ts >= h.hour AND m.ts < h.hour + interval '1 hour'"
                f"{unnest} GROUP BY {groups}"
            )
        )


def _hours_of_quarantined() -> None:
    op.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE {_HOURS} ON COMMIT DROP AS SELECT DISTINCT app_id,"  # noqa: S608
            " date_trunc('hour', (message->>'ts')::timestamptz, 'UTC') AS hour"
            " FROM quarantined_messages"
        )
    )


def upgrade() -> None:
    op.create_table(
        "quarantined_messages",
        sa.Column("app_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column(
            "reason",
            sa.Text(),
            nullable=False,
            comment="each value beyond its bound, and the bound",
        ),
        sa.Column(
            "message",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="the whole row of messages, as it was",
        ),
        sa.Column(
            "quarantined_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", "message_id", name=op.f("pk_quarantined_messages")),
        comment="Messages stored before ingestion bounded every number, with a value beyond those"
        " bounds: moved here, out of messages and every aggregate, by migration 0006.",
    )
    bind = op.get_bind()
    moved = bind.execute(
        sa.text(
            "WITH beyond AS ("  # noqa: S608 (constants only)
            f" DELETE FROM messages WHERE {_BEYOND} RETURNING *)"
            " INSERT INTO quarantined_messages (app_id, message_id, reason, message)"
            f" SELECT app_id, message_id, {_REASON}, to_jsonb(beyond) FROM beyond"
        )
    ).rowcount
    if not moved:
        return
    _hours_of_quarantined()
    _rebuild_rollups()
    shown = bind.execute(
        sa.text(
            "SELECT app_id, message_id, reason FROM quarantined_messages"
            " ORDER BY app_id, message_id LIMIT :shown"
        ),
        {"shown": _SHOWN},
    ).all()
    lines = [f"  app {app!r}, message {id!r}: {reason}" for app, id, reason in shown]
    if moved > len(shown):
        lines.append(f"  ... and {moved - len(shown):,} more, all in quarantined_messages")
    log.warning(
        "migration 0006: %s stored message(s) held values beyond the ingestion bounds; they were"
        " moved to the table quarantined_messages and taken out of every aggregate (the hourly"
        " rollups of their hours were rebuilt):\n%s",
        f"{moved:,}",
        "\n".join(lines),
    )


def downgrade() -> None:
    bind = op.get_bind()
    _hours_of_quarantined()
    restored = bind.execute(
        sa.text(
            "INSERT INTO messages SELECT (jsonb_populate_record(NULL::messages, message)).*"
            " FROM quarantined_messages ORDER BY app_id, message_id ON CONFLICT DO NOTHING"
        )
    ).rowcount
    kept = bind.scalar(sa.text("SELECT count(*) FROM quarantined_messages"))
    if kept:
        _rebuild_rollups()
        log.warning(
            "migration 0006 undone: %s quarantined message(s) moved back to messages and the"
            " rollups of their hours rebuilt; %s whose id was stored again since were dropped",
            f"{restored:,}",
            f"{kept - restored:,}",
        )
    op.drop_table("quarantined_messages")
