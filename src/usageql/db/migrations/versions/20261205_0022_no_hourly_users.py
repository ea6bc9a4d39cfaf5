"""`usage_hourly_users` dropped: its rows were `usage_hourly_chats`' without the chat.

Every batch added its users' sums per (app, UTC hour, user, model) to `usage_hourly_users`,
grouped from the rows it sent for `usage_hourly_chats`, whose key is the same plus the chat. Most
users have one chat an hour, so the table held nearly as many rows (1,635 against 1,747 a batch
of the benchmark; 308k against 349k at 1M events) and cost PostgreSQL ~1.5 µs of CPU per event to
keep (back to back, bench/RESULTS.md, 2026-12-05). The questions it answered (distinct users and
per-user sums over hours) now group the chats' rows, which answer them exactly: a user's sums over
their chats' rows add up to theirs, and distinct users are distinct whatever rows they come from.

The downgrade creates the table again with its statistics (migration 0012) and fills it from
`usage_hourly_chats`, which outlives pruned events as it did.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = """
CREATE TABLE usage_hourly_users (
    app_id TEXT NOT NULL,
    hour TIMESTAMP WITH TIME ZONE NOT NULL,
    user_id TEXT NOT NULL,
    model TEXT NOT NULL,
    messages BIGINT DEFAULT 0 NOT NULL,
    requests BIGINT DEFAULT 0 NOT NULL,
    successful_requests BIGINT DEFAULT 0 NOT NULL,
    failed_requests BIGINT DEFAULT 0 NOT NULL,
    input_tokens BIGINT DEFAULT 0 NOT NULL,
    output_tokens BIGINT DEFAULT 0 NOT NULL,
    cache_read_tokens BIGINT DEFAULT 0 NOT NULL,
    cache_write_tokens BIGINT DEFAULT 0 NOT NULL,
    reasoning_tokens BIGINT DEFAULT 0 NOT NULL,
    cost NUMERIC DEFAULT 0 NOT NULL,
    unpriced_requests BIGINT DEFAULT 0 NOT NULL,
    latency_max DOUBLE PRECISION,
    ttft_max DOUBLE PRECISION,
    CONSTRAINT pk_usage_hourly_users PRIMARY KEY (app_id, hour, user_id, model)
)
"""
_COMMENT = (
    "COMMENT ON TABLE usage_hourly_users IS 'Sums of messages per app, UTC hour, user and model:"
    " exact distinct users from rollups.'"
)
_FILL = """
INSERT INTO usage_hourly_users
SELECT app_id, hour, user_id, model, sum(messages), sum(requests), sum(successful_requests),
    sum(failed_requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
    sum(cache_write_tokens), sum(reasoning_tokens), sum(cost), sum(unpriced_requests),
    max(latency_max), max(ttft_max)
FROM usage_hourly_chats GROUP BY app_id, hour, user_id, model
"""

# The chats' table's comment, with and without the users it now answers for.
_CHATS_AND_USERS = (
    "COMMENT ON TABLE usage_hourly_chats IS 'Sums of messages per app, UTC hour, chat, user and"
    " model: exact distinct chats and users from rollups.'"
)
_CHATS = (
    "COMMENT ON TABLE usage_hourly_chats IS 'Sums of messages per app, UTC hour, chat, user and"
    " model: exact distinct chats from rollups.'"
)


def upgrade() -> None:
    op.execute("DROP TABLE usage_hourly_users")
    op.execute(_CHATS_AND_USERS)


def downgrade() -> None:
    op.execute(_CREATE)
    op.execute(_COMMENT)
    op.execute(_FILL)
    op.execute(
        "CREATE STATISTICS st_usage_hourly_users_user_id ON (NULLIF(user_id, ''))"
        " FROM usage_hourly_users"
    )
    op.execute(
        "CREATE STATISTICS st_usage_hourly_users_model ON (NULLIF(model, ''))"
        " FROM usage_hourly_users"
    )
    op.execute("ANALYZE usage_hourly_users")
    op.execute(_CHATS)
