"""The SQLAlchemy Core tables: the one description of the database that migrations must match.

Every primary key and unique constraint includes `app_id`, so the whole schema can be distributed by
app on Citus. Tables that are not about one app (global prices, operator keys) use the app id `*`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from usageql.db import span_class
from usageql.db.measures import MEASURES

# Constraint names follow one convention so that migrations can name what they alter.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ANY_APP = "*"
"""The app id of rows that apply to every app (global prices, keys not owned by one app)."""


def _timestamp(name: str, *, nullable: bool = False, default_now: bool = False) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


def _tokens(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default=text("0"))


apps = Table(
    "apps",
    metadata,
    Column("app_id", Text, nullable=False),
    _timestamp("created_at", default_now=True),
    PrimaryKeyConstraint("app_id"),
    comment="Tenants. Every other row belongs to one app.",
)

users = Table(
    "users",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("name", Text),
    Column("email", Text),
    _timestamp("profile_at", nullable=True),
    _timestamp("first_seen", nullable=True),
    _timestamp("last_seen", nullable=True),
    PrimaryKeyConstraint("app_id", "user_id"),
    comment="People (or end users of an app). name and email: the latest timestamp wins.",
)

chats = Table(
    "chats",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("title", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("user_id", Text),
    _timestamp("described_at", nullable=True),
    _timestamp("created_at", nullable=True),
    _timestamp("updated_at", nullable=True),
    PrimaryKeyConstraint("app_id", "chat_id"),
    comment="Conversations: title and tags from chat records (latest wins), times from messages.",
)

messages = Table(
    "messages",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    _timestamp("ts"),
    Column("role", Text, nullable=False),
    Column("chat_id", Text),
    Column("user_id", Text),
    Column("model", Text),
    Column("provider", Text),
    Column("source", Text),
    Column("api_key", Text),
    Column("status", Text, nullable=False, server_default=text("'success'")),
    Column("error_type", Text),
    _tokens("input_tokens"),
    _tokens("output_tokens"),
    _tokens("cache_read_tokens"),
    _tokens("cache_write_tokens"),
    _tokens("reasoning_tokens"),
    Column("cost", Numeric(20, 10), comment="USD; NULL when the request could not be priced"),
    Column("latency_ms", Double),
    Column("ttft_ms", Double),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("content_preview", Text),
    _timestamp("ingested_at", default_now=True),
    Column(
        "producer",
        Text,
        comment="The path it came by: api, import, litellm, otlp or demo (NULL before 0016)",
    ),
    PrimaryKeyConstraint("app_id", "message_id"),
    CheckConstraint("role IN ('user', 'assistant', 'system', 'tool')", name="role"),
    CheckConstraint("status IN ('success', 'error')", name="status"),
    CheckConstraint(
        "input_tokens >= 0 AND output_tokens >= 0 AND cache_read_tokens >= 0"
        " AND cache_write_tokens >= 0 AND reasoning_tokens >= 0",
        name="tokens_not_negative",
    ),
    Index(None, "app_id", "ts"),
    # Time ranges across apps (the partial hours a rollup answer reads raw): rows arrive in about
    # time order, so a BRIN index of a few hundred kB narrows them to a few pages. Autovacuum
    # summarizes each block range as it fills; until then a range is read whole. Minmax-multi:
    # rows that later fill the free end of old pages stay points instead of stretching a range.
    Index(
        None,
        "ts",
        postgresql_using="brin",
        postgresql_ops={"ts": "timestamptz_minmax_multi_ops"},
        postgresql_with={"autosummarize": "on"},
    ),
    # A chat's first user message (the chat browser's preview): its user messages in time order.
    Index(
        None,
        "app_id",
        "chat_id",
        "ts",
        postgresql_where=text("role = 'user' AND chat_id IS NOT NULL"),
    ),
    comment="The event fact table: one row per message; assistant messages are LLM requests.",
)

quarantined_messages = Table(
    "quarantined_messages",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("reason", Text, nullable=False, comment="each value beyond its bound, and the bound"),
    Column("message", JSONB, nullable=False, comment="the whole row of messages, as it was"),
    _timestamp("quarantined_at", default_now=True),
    PrimaryKeyConstraint("app_id", "message_id"),
    comment="Messages stored before ingestion bounded every number, with a value beyond those"
    " bounds: moved here, out of messages and every aggregate, by migration 0006.",
)

feedback = Table(
    "feedback",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("feedback_id", Text, nullable=False),
    _timestamp("ts"),
    Column("user_id", Text),
    Column("message_id", Text),
    Column("chat_id", Text),
    Column("model", Text, nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("comment", Text),
    _timestamp("ingested_at", default_now=True),
    PrimaryKeyConstraint("app_id", "feedback_id"),
    CheckConstraint("rating IN (1, -1)", name="rating"),
    Index(None, "app_id", "ts"),
    comment="Thumbs up (1) or down (-1) on a model's answer.",
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("app_id", Text, nullable=False, comment="the owning app, or '*' for operator keys"),
    Column("key_id", Text, nullable=False, comment="public part of the key, shown in listings"),
    Column("secret_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("name", Text),
    Column("scope_apps", ARRAY(Text), comment="NULL: every app"),
    Column("scope_users", ARRAY(Text), comment="NULL: every user"),
    _timestamp("created_at", default_now=True),
    _timestamp("last_used_at", nullable=True),
    _timestamp("revoked_at", nullable=True),
    PrimaryKeyConstraint("app_id", "key_id"),
    CheckConstraint("role IN ('admin', 'reader', 'ingest')", name="role"),
    Index(None, "key_id"),
    comment="Credentials for this API. Only a hash of the secret is stored.",
)

prices = Table(
    "prices",
    metadata,
    Column("app_id", Text, nullable=False, comment="'*' for prices that apply to every app"),
    Column("model", Text, nullable=False),
    Column("input", Numeric(20, 10), nullable=False),
    Column("output", Numeric(20, 10), nullable=False),
    Column("cache_read", Numeric(20, 10)),
    Column("cache_write", Numeric(20, 10)),
    Column("reasoning", Numeric(20, 10)),
    _timestamp("updated_at", default_now=True),
    PrimaryKeyConstraint("app_id", "model"),
    CheckConstraint(
        "input >= 0 AND output >= 0 AND coalesce(cache_read, 0) >= 0"
        " AND coalesce(cache_write, 0) >= 0 AND coalesce(reasoning, 0) >= 0",
        name="not_negative",
    ),
    comment="USD per million tokens. Missing cache or reasoning prices fall back to input/output.",
)

price_tiers = Table(
    "price_tiers",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("above_tokens", BigInteger, nullable=False),
    Column("input", Numeric(20, 10)),
    Column("output", Numeric(20, 10)),
    Column("cache_read", Numeric(20, 10)),
    Column("cache_write", Numeric(20, 10)),
    Column("reasoning", Numeric(20, 10)),
    PrimaryKeyConstraint("app_id", "model", "above_tokens"),
    ForeignKeyConstraint(
        ["app_id", "model"], ["prices.app_id", "prices.model"], ondelete="CASCADE"
    ),
    CheckConstraint(
        "above_tokens > 0 AND coalesce(input, 0) >= 0 AND coalesce(output, 0) >= 0"
        " AND coalesce(cache_read, 0) >= 0 AND coalesce(cache_write, 0) >= 0"
        " AND coalesce(reasoning, 0) >= 0",
        name="not_negative",
    ),
    comment="Long-context prices of a row of prices: USD per million tokens for requests whose"
    " input exceeds above_tokens (the highest such tier applies); NULL: the base price's.",
)

secrets = Table(
    "secrets",
    metadata,
    Column("app_id", Text, nullable=False, comment="'*' for server-wide secrets"),
    Column("name", Text, nullable=False),
    Column("value", Text, nullable=False),
    _timestamp("created_at", default_now=True),
    PrimaryKeyConstraint("app_id", "name"),
    comment="Server secrets made once and shared by every process (e.g. the cursor signing key).",
)


# Hourly rollups of `messages`, kept by the writer in the transaction that stores the messages:
# the keys, then a column per measure (usageql.db.measures). A key column holds '' where the event
# had no value (ingestion stores blank optional text as NULL, so '' is never a real value):
# primary keys cannot hold NULL.
def _rollup(
    name: str, keys: tuple[str, ...], comment: str, time: str = "hour", *extra: Any
) -> Table:
    return Table(
        name,
        metadata,
        Column("app_id", Text, nullable=False),
        _timestamp(time),
        *(Column(key, Text, nullable=False) for key in keys),
        *(measure.column() for measure in MEASURES),
        *extra,
        PrimaryKeyConstraint("app_id", time, *keys),
        comment=comment,
    )


DAY_HOURS = ("first_hour", "last_hour")
"""The columns of a daily table of users holding the UTC hours of day (0-23) of each row's first
and last message: whether a user had a message in the hours of a day before (or from) an hour is
then read from the day's rows (usageql.query.user_sets), not from a row per user and hour."""


def _day_hours() -> tuple[Any, ...]:
    first, last = DAY_HOURS
    return (
        Column(first, SmallInteger, nullable=False, comment="UTC hour of the first message"),
        Column(last, SmallInteger, nullable=False, comment="UTC hour of the last message"),
        CheckConstraint(f"0 <= {first} AND {first} <= {last} AND {last} <= 23", name="day_hours"),
    )


usage_hourly = _rollup(
    "usage_hourly",
    ("model", "provider", "source", "role", "status"),
    "Sums of messages per app, UTC hour, model, provider, source, role and status.",
)
usage_hourly_chats = _rollup(
    "usage_hourly_chats",
    ("chat_id", "user_id", "model"),
    "Sums of messages per app, UTC hour, chat, user and model: exact distinct chats and users"
    " from rollups.",
)
usage_hourly_tags = _rollup(
    "usage_hourly_tags",
    ("tag", "user_id", "model"),
    "Sums of messages per app, UTC hour, tag, user and model; a message counts once per tag.",
)
# Narrower sums of usage_hourly, for the questions that ask only apps (and models) by time: a
# month of a series in a zone whose days are not UTC days reads ~5 rows per hour, not ~70.
usage_hourly_apps = _rollup(
    "usage_hourly_apps", (), "Sums of messages per app and UTC hour: totals and their series."
)
usage_hourly_models = _rollup(
    "usage_hourly_models",
    ("model",),
    "Sums of messages per app, UTC hour and model: per-model totals and series.",
)

# Daily rollups (UTC days), kept like the hourly ones: a period's whole UTC days are read from
# them, its other hours from the hourly tables (usageql.query.pieces). Fewer keys than their
# hourly partners where the dashboards ask less (users and tags without model; tags alone).
usage_daily = _rollup(
    "usage_daily",
    ("model", "provider", "source", "role", "status"),
    "Sums of messages per app, UTC day, model, provider, source, role and status.",
    time="day",
)
usage_daily_apps = _rollup(
    "usage_daily_apps",
    (),
    "Sums of messages per app and UTC day: totals and their series.",
    time="day",
)
usage_daily_users = _rollup(
    "usage_daily_users",
    ("user_id",),
    "Sums of messages per app, UTC day and user: distinct users over whole days.",
    "day",
    *_day_hours(),
)
usage_daily_tags = _rollup(
    "usage_daily_tags",
    ("tag",),
    "Sums of messages per app, UTC day and tag; a message counts once per tag.",
    time="day",
)
usage_daily_tag_users = _rollup(
    "usage_daily_tag_users",
    ("tag", "user_id"),
    "Sums of messages per app, UTC day, tag and user; a message counts once per tag.",
    "day",
    *_day_hours(),
)
# Monthly rollups (UTC months) of the daily tables that lists over long periods and all time read
# most: a user's sums, and each user's tags (usageql.query.pieces: months only where no time
# bucket or window can cut one).
usage_monthly_users = _rollup(
    "usage_monthly_users",
    ("user_id",),
    "Sums of messages per app, UTC month and user: lists of users over whole months.",
    time="month",
)
usage_monthly_tag_users = _rollup(
    "usage_monthly_tag_users",
    ("tag", "user_id"),
    "Sums of messages per app, UTC month, tag and user; a message counts once per tag.",
    time="month",
)
ARRAYS_INLINE = {"toast_tuple_target": 8160}
"""The storage of the tables whose rows hold arrays merged by every batch (user sets, latency
histograms): PostgreSQL compresses a row longer than 2 kB (the default target) each time it
writes it, which made up most of the cost of adding a batch to a month's histogram (docs/scaling.md,
"Arrays kept inline"). With the target at a page, a row up to 8 kB is stored as it is; longer ones
are still compressed and moved out of line."""

# Distinct users as sets (usageql.query.user_sets): a number per user id, given in a transaction
# of its own before the batch's (usageql.ingest.user_sets), and per UTC day (and tag) the set of
# the numbers of the users with a message. Unnesting a day's array and hashing numbers costs a
# fraction of reading a row per user and day and hashing its text (docs/scaling.md, "User sets").
user_numbers = Table(
    "user_numbers",
    metadata,
    Column("app_id", Text, nullable=False, comment="always '*': a user id's number is every app's"),
    Column("user_id", Text, nullable=False),
    Column("number", BigInteger, Identity(), nullable=False),
    PrimaryKeyConstraint("app_id", "user_id"),
    comment="A number per user id with a message, for the sets of usage_daily_user_sets. Not"
    " per app: distinct users are counted by id across apps, as over raw events.",
)


SET_HOURS = ("first_hours", "last_hours")
"""The columns of a set table aligned with its `users`: each user's UTC hour of day (0-23) of
their first and last message that day. The first or last hours of a day (a Berlin week's first
22 or 23 hours of the UTC day it ends in, and its last one or two of the day it starts in) are
then read from the day's set row alone (usageql.query.user_sets). `unnamed_first` and
`unnamed_last` hold the same of the day's messages without a user (null when there are none):
such hours are a group of the answer with no users, as over raw events."""


def _user_sets(name: str, keys: tuple[str, ...], comment: str) -> Table:
    first, last = SET_HOURS
    aligned = (
        f"cardinality({first}) = cardinality(users) AND cardinality({last}) = cardinality(users)"
    )
    return Table(
        name,
        metadata,
        Column("app_id", Text, nullable=False),
        _timestamp("day"),
        *(Column(key, Text, nullable=False) for key in keys),
        Column("users", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
        *(
            Column(
                name,
                ARRAY(SmallInteger),
                nullable=False,
                server_default=text("'{}'"),
                comment=f"UTC hour of each user's {which} message, in the order of users",
            )
            for name, which in ((first, "first"), (last, "last"))
        ),
        *(
            Column(
                f"unnamed_{which}",
                SmallInteger,
                comment=f"UTC hour of the {which} message without a user",
            )
            for which in ("first", "last")
        ),
        CheckConstraint(aligned, name="aligned"),
        PrimaryKeyConstraint("app_id", "day", *keys),
        comment=comment,
        postgresql_with=ARRAYS_INLINE,
    )


usage_daily_user_sets = _user_sets(
    "usage_daily_user_sets",
    (),
    "Per app and UTC day with messages, the numbers (user_numbers) of its users, sorted.",
)
usage_daily_tag_user_sets = _user_sets(
    "usage_daily_tag_user_sets",
    ("tag",),
    "Per app, UTC day and tag with messages, the numbers (user_numbers) of its users, sorted.",
)


def _latency(name: str, time: str, comment: str) -> Table:
    """Approximate percentiles (usageql.db.buckets): per app, UTC `time` (day or month) and
    model, a histogram of requests' latency and time to first token over log-spaced buckets,
    kept as three arrays of one length: the buckets that hold a request, ascending, and how many
    requests' latency and time to first token fell in each. A row per histogram, not per bucket:
    a batch adds to a few dozen rows instead of thousands (usageql.ingest.rollup)."""
    return Table(
        name,
        metadata,
        Column("app_id", Text, nullable=False),
        _timestamp(time),
        Column("model", Text, nullable=False),  # '' for requests without a model
        Column("buckets", ARRAY(Integer), nullable=False),
        Column("latency", ARRAY(BigInteger), nullable=False),
        Column("ttft", ARRAY(BigInteger), nullable=False),
        PrimaryKeyConstraint("app_id", time, "model"),
        CheckConstraint(
            "cardinality(latency) = cardinality(buckets)"
            " AND cardinality(ttft) = cardinality(buckets)",
            name="counts_per_bucket",
        ),
        comment=comment,
        postgresql_with=ARRAYS_INLINE,
    )


usage_daily_latency = _latency(
    "usage_daily_latency",
    "day",
    "Per app, UTC day and model, requests per log-spaced bucket (2% wide) of their latency and"
    " of their time to first token, as arrays: approximate percentiles within 1%.",
)
# The same counts per UTC month: a long period reads its months, less the days of them outside
# the period, instead of every day (usageql.query.sketch).
usage_monthly_latency = _latency(
    "usage_monthly_latency",
    "month",
    "Per app, UTC month and model, requests per log-spaced bucket (2% wide) of their latency"
    " and of their time to first token, as arrays: usage_daily_latency added up per month.",
)

retention = Table(
    "retention",
    metadata,
    Column("app_id", Text, nullable=False, comment="'*': the horizon of every app"),
    _timestamp("pruned_before", nullable=False),
    _timestamp("pruned_at", default_now=True),
    Column(
        "sketched_from",
        DateTime(timezone=True),
        comment="usage_daily_latency holds no requests before this: the horizon when migration"
        " 0009 filled it from the stored events",
    ),
    PrimaryKeyConstraint("app_id"),
    comment="Raw events before `pruned_before` were deleted; rollups still hold their sums.",
)

compaction = Table(
    "compaction",
    metadata,
    Column("app_id", Text, nullable=False, comment="'*': one moment for every app"),
    _timestamp("compacted_before"),
    _timestamp("compacted_at", default_now=True),
    PrimaryKeyConstraint("app_id"),
    comment="The daily and monthly rollups hold every event before `compacted_before` (a UTC"
    " midnight; -infinity: none yet; infinity: every event, all kept as it is stored). Later"
    " events are in the hourly rollups until their UTC day ends and is compacted"
    " (usageql.db.compact).",
)

# Distinct chats of app-level questions (usageql.query.chats_count), kept by the writer in the
# batch's transaction (usageql.ingest.chat_spans): a chat counts once, in the hour of its first
# message, and a period's distinct chats are those first seen in it plus those first seen before it
# and active in it.
chat_spans = Table(
    "chat_spans",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    _timestamp("first_at"),
    _timestamp("last_at"),
    Column(
        "span_class",
        SmallInteger,
        Computed(span_class.SQL, persisted=True),
        nullable=False,
        comment="0 under 1 s, k for [2^(k-1), 2^k) s: a chat spanning a moment t with this"
        " class began after t - 2^k s",
    ),
    Column(
        "moved_from",
        DateTime(timezone=True),
        comment="first_at before the latest upsert that changed the row (read only by that"
        " upsert, to move the chat's first appearance between hours)",
    ),
    PrimaryKeyConstraint("app_id", "chat_id"),
    Index(None, "app_id", "span_class", "first_at"),
    comment="Each chat's first and last message time, from the messages stored (the start of"
    " the hour for chats first or last seen in hours pruned before migration 0008).",
)
chat_firsts_hourly = Table(
    "chat_firsts_hourly",
    metadata,
    Column("app_id", Text, nullable=False),
    _timestamp("hour"),
    Column("chats", BigInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("app_id", "hour"),
    comment="Chats per app and UTC hour of their first message (chat_spans.first_at).",
)
# The chats of one model (or several) in a period, for the chat panels of a model's overview
# (usageql.query.chat_scope), kept by the writer in the batch's transaction beside `chat_spans`
# (usageql.ingest.chat_spans); `tags` is a copy of the chat's, set after the batch commits and
# by chat records (usageql.ingest.describe).
chat_models = Table(
    "chat_models",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("model", Text, nullable=False),
    _timestamp("first_at"),
    _timestamp("last_at"),
    Column(
        "tags",
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'"),
        comment="the chat's tags (chats.tags), kept beside its models",
    ),
    Column(
        "described_at",
        DateTime(timezone=True),
        comment="chats.described_at of the tags copied: a copy never replaces a later one",
    ),
    PrimaryKeyConstraint("app_id", "chat_id", "model"),
    Index(None, "app_id", "model", "last_at"),
    comment="Each chat's first and last message time per model, from the messages stored (the"
    " start of the hour for hours pruned before migration 0020).",
)
# The chat browser's default order (latest first, ties by app and chat id in byte order), walked
# until a page of chats in scope is found (usageql.query.chat_scope).
CHATS_BY_UPDATE = Index(
    "ix_chats_updated_at_app_id_chat_id",
    chats.c.updated_at.desc().nulls_last(),
    chats.c.app_id.collate("C"),
    chats.c.chat_id.collate("C"),
)
# Whether one chat had a message in a period (the chats first seen before it that outlast it).
Index(None, usage_hourly_chats.c.app_id, usage_hourly_chats.c.chat_id, usage_hourly_chats.c.hour)
# The chats of one model in a period (the chat panels of a model's overview), without reading
# every other model's rows of the period.
Index(None, usage_hourly_chats.c.app_id, usage_hourly_chats.c.model, usage_hourly_chats.c.hour)
