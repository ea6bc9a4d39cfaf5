"""What to compute, as plain frozen data: the query model the compiler turns into SQL.

A `Scope` is where a question is asked: a `Filter` (every filter argument on the path from the
root, combined with AND), a time zone, and the `Narrowing`s that drill-down rows added (a model, a
user, a time bucket...). A `Question` asks, within a scope, for metrics grouped by keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar


class Dimension(enum.Enum):
    """What events can be grouped by or narrowed to (the GraphQL `Dimension` enum)."""

    APP = "app"
    MODEL = "model"
    PROVIDER = "provider"
    USER = "user"
    CHAT = "chat"
    TAG = "tag"
    SOURCE = "source"
    API_KEY = "api_key"
    STATUS = "status"
    ROLE = "role"
    PRODUCER = (
        "producer"  # the path a message came by: api, import, litellm, otlp, open-webui, demo
    )


class Granularity(enum.Enum):
    """Calendar buckets, in the scope's time zone."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Metric(enum.Enum):
    """What can be computed over a set of events; each is defined in usageql.query.catalog."""

    MESSAGES = "messages"
    REQUESTS = "requests"
    SUCCESSFUL_REQUESTS = "successful_requests"
    FAILED_REQUESTS = "failed_requests"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    CACHE_READ_TOKENS = "cache_read_tokens"
    CACHE_WRITE_TOKENS = "cache_write_tokens"
    REASONING_TOKENS = "reasoning_tokens"
    TOTAL_TOKENS = "total_tokens"
    SPEND = "spend"
    UNPRICED_REQUESTS = "unpriced_requests"
    USERS = "users"
    CHATS = "chats"
    MODELS = "models"
    LATENCY_AVG = "latency_avg"
    LATENCY_P50 = "latency_p50"
    LATENCY_P90 = "latency_p90"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    LATENCY_MAX = "latency_max"
    TTFT_AVG = "ttft_avg"
    TTFT_P50 = "ttft_p50"
    TTFT_P90 = "ttft_p90"
    TTFT_P95 = "ttft_p95"
    TTFT_P99 = "ttft_p99"
    TTFT_MAX = "ttft_max"
    # Within 1% (relative), from log-spaced buckets per UTC day (`approximate: true` in GraphQL).
    APPROX_LATENCY_AVG = "approx_latency_avg"
    APPROX_LATENCY_P50 = "approx_latency_p50"
    APPROX_LATENCY_P90 = "approx_latency_p90"
    APPROX_LATENCY_P95 = "approx_latency_p95"
    APPROX_LATENCY_P99 = "approx_latency_p99"
    APPROX_TTFT_AVG = "approx_ttft_avg"
    APPROX_TTFT_P50 = "approx_ttft_p50"
    APPROX_TTFT_P90 = "approx_ttft_p90"
    APPROX_TTFT_P95 = "approx_ttft_p95"
    APPROX_TTFT_P99 = "approx_ttft_p99"
    # Over the feedback table (questions whose source is FEEDBACK).
    POSITIVE_FEEDBACK = "positive_feedback"
    NEGATIVE_FEEDBACK = "negative_feedback"
    # Not numbers, and not in the GraphQL Metric enum: labels computed alongside metrics.
    PROVIDER = "provider"  # the provider of a model (the most recent one, if it changed)


class Source(enum.Enum):
    """The table a question counts rows of."""

    EVENTS = "events"  # messages
    FEEDBACK = "feedback"  # ratings; other dimensions via the rated message
    CHAT_TAGS = "chat_tags"  # tags of the chats that have an event in scope (metric: CHATS)
    CHATS = "chats"  # the chats that have an event in scope, with their descriptions


class ChatField(enum.Enum):
    """What a chat list can be sorted by."""

    UPDATED_AT = "updated_at"
    TITLE = "title"
    USER_NAME = "user_name"
    MESSAGES = "message_count"


@dataclass(frozen=True, slots=True)
class ChatSort:
    """A chat list's order; ties are broken by app and chat id, ascending."""

    field: ChatField = ChatField.UPDATED_AT
    descending: bool = True


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Grouping by, or narrowing to, calendar buckets of one granularity."""

    granularity: Granularity


@dataclass(frozen=True, slots=True)
class MetadataKey:
    """Grouping by, or narrowing to, the value of one metadata key (as text)."""

    key: str


@dataclass(frozen=True, slots=True)
class Windows:
    """Grouping by given [start, end) windows, which may overlap (rolling periods): an event
    counts in every window that holds it. Rows are keyed by both bounds, since windows of one
    start can end apart (a month back from 29, 30 or 31 March is 28 February): the start is
    the row's key, the end its END_FIELD field."""

    END_FIELD: ClassVar[str] = "window_end"

    bounds: tuple[tuple[datetime, datetime], ...]


GroupKey = Dimension | TimeBucket | MetadataKey | Windows


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events: every set field must hold. Lists match any of their values; None: any."""

    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    values: tuple[tuple[Dimension, tuple[str, ...]], ...] = ()  # APP, MODEL, ... TAG, STATUS
    tag_contains: tuple[str, ...] = ()  # every pattern must be in one of the event's tags
    metadata: tuple[tuple[str, tuple[str, ...]], ...] = ()  # key -> any of the values

    def and_(self, other: Filter) -> Filter:
        """Events that pass both filters."""
        values = dict(self.values)
        for dimension, allowed in other.values:
            mine = values.get(dimension)
            values[dimension] = (
                allowed if mine is None else tuple(v for v in mine if v in set(allowed))
            )
        return Filter(
            start=_latest(self.start, other.start),
            end=_earliest(self.end, other.end),
            values=tuple(sorted(values.items(), key=lambda item: item[0].value)),
            tag_contains=tuple(sorted({*self.tag_contains, *other.tag_contains})),
            metadata=tuple(sorted({*self.metadata, *other.metadata})),
        )

    def allowed(self, dimension: Dimension) -> tuple[str, ...] | None:
        """The values `dimension` is restricted to, if it is."""
        return dict(self.values).get(dimension)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


@dataclass(frozen=True, slots=True)
class Narrowing:
    """A drill-down step: the scope of a row, e.g. MODEL = 'gpt-4o', or one day."""

    key: GroupKey
    value: str | datetime | None  # a bucket's start for TimeBucket keys


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a question is asked."""

    filter: Filter = field(default_factory=Filter)
    timezone: str = "UTC"
    narrowing: tuple[Narrowing, ...] = ()

    def narrowed(self, key: GroupKey, value: str | datetime | None) -> Scope:
        """The scope of one row keyed by `key` = `value`."""
        return replace(self, narrowing=(*self.narrowing, Narrowing(key, value)))

    def filtered(self, extra: Filter | None) -> Scope:
        """This scope, further restricted by a field's filter argument."""
        return self if extra is None else replace(self, filter=self.filter.and_(extra))


@dataclass(frozen=True, slots=True)
class Order:
    """Rows by a metric; ties broken by the group keys, ascending."""

    metric: Metric
    descending: bool = True


@dataclass(frozen=True, slots=True)
class Question:
    """Metrics grouped by keys (none: one total), ordered and limited per narrowed scope."""

    metrics: frozenset[Metric]
    group_by: tuple[GroupKey, ...] = ()
    order: Order | None = None
    limit: int | None = None
    offset: int = 0  # rows skipped in each scope (pagination)
    with_total: bool = False  # also count every row of each scope, before offset and limit
    exclude_null_keys: bool = True  # rows whose key is null (no model, no user) are left out
    source: Source = Source.EVENTS
    chat_sort: ChatSort | None = None  # for Source.CHATS
