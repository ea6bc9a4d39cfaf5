"""The meaning of every dimension and metric, in one place.

A dimension is its SQL over the events table. A metric is declared once in METRICS, with all that
is said of it anywhere: its GraphQL field and type, how its SQL value is decoded, whether rows can
be ordered by it, whether it adds up over parts, and its aggregate, written once over `Rows`: raw
events, or the rows of an hourly rollup, which keep the keys (named as in `messages`) and the
measures of usageql.db.measures. A rollup table answers a metric when it has every column the
metric's aggregate reads. The GraphQL types and enums, the compiler, the rollup planner and the
decoding of answers are derived from METRICS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Subquery, and_, case, func, literal_column, null

from usageql.db.measures import MEASURE
from usageql.db.tables import feedback, messages
from usageql.query.model import Dimension, Metric

m = messages.c

# One row per tag of an event (FROM messages, unnest(messages.tags) AS tag): selecting or
# filtering on it makes a statement count each event once per tag.
TAG: ColumnElement[str] = func.unnest(m.tags).column_valued("tag")

DIMENSIONS: dict[Dimension, ColumnElement[str]] = {
    Dimension.APP: m.app_id,
    Dimension.MODEL: m.model,
    Dimension.PROVIDER: m.provider,
    Dimension.USER: m.user_id,
    Dimension.CHAT: m.chat_id,
    Dimension.TAG: TAG,
    Dimension.SOURCE: m.source,
    Dimension.API_KEY: m.api_key,
    Dimension.STATUS: m.status,
    Dimension.ROLE: m.role,
    Dimension.PRODUCER: m.producer,
}


# What a rating row says itself; every other dimension is the rated message's.
FEEDBACK_DIMENSIONS: dict[Dimension, ColumnElement[str]] = {
    Dimension.APP: feedback.c.app_id,
    Dimension.MODEL: feedback.c.model,
    Dimension.USER: feedback.c.user_id,
    Dimension.CHAT: feedback.c.chat_id,
}


class Rows(Protocol):
    """What a metric's aggregate is computed over: raw events, or rollup rows."""

    def measure(self, name: str) -> ColumnElement[Any]:
        """A measure of usageql.db.measures, over the rows."""

    def column(self, name: str) -> ColumnElement[Any]:
        """A column of each row, named as in `messages` (rollup rows have only their keys)."""


class _Events:
    """Raw events: the rows of `messages`."""

    def measure(self, name: str) -> ColumnElement[Any]:
        return MEASURE[name].over_events(m)

    def column(self, name: str) -> ColumnElement[Any]:
        return m[name]


class RollupRows:
    """The rows of a rollup relation (usageql.query.rollups.relation)."""

    def __init__(self, rows: Subquery) -> None:
        self.rows = rows

    def measure(self, name: str) -> ColumnElement[Any]:
        return MEASURE[name].over_rows(self.rows.c[name])

    def column(self, name: str) -> ColumnElement[Any]:
        return self.rows.c[name]


class _Reads:
    """Notes the columns an aggregate reads; what it builds is never run."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def measure(self, name: str) -> ColumnElement[Any]:
        self.names.add(name)
        return literal_column(name)

    def column(self, name: str) -> ColumnElement[Any]:
        return self.measure(name)


MEASURED_DECIMALS = 3
"""Latencies are milliseconds measured to the microsecond at best: an average or interpolated
percentile carries float noise past that (24999.279999999948), which no one measured."""


def _milliseconds(raw: Any) -> float:
    return round(float(raw), MEASURED_DECIMALS)


def _as_is(raw: Any) -> Any:
    return raw


@dataclass(frozen=True, slots=True)
class Value:
    """What a metric's value is: its GraphQL type, and how its SQL result is decoded."""

    graphql: str | None  # the type of its GraphQL field (None: GraphQL serves it elsewhere)
    decode: Callable[[Any], Any]  # a SQL result that is not NULL -> the answer's value


COUNT = Value("Int!", int)  # counted; a sum of counts over rollup rows comes back as numeric
TOKENS = Value("BigInt!", int)  # a sum of token counts: numeric in PostgreSQL, whole numbers
MILLISECONDS = Value("Float", _milliseconds)  # double precision; NULL when no event has a value
USD = Value("Float", _as_is)  # numeric (Decimal); NULL when unknown (known_spend)
TEXT = Value(None, _as_is)  # a label computed alongside metrics

Aggregate = Callable[[Rows], ColumnElement[Any]]


@dataclass(frozen=True, slots=True)
class Approximation:
    """What an approximate metric estimates from log-spaced buckets (usageql.query.sketch): a
    percentile (`share`) or the mean (None) of a column of `messages`."""

    column: str  # latency_ms or ttft_ms, also the name of its count in usage_daily_latency
    share: float | None


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric: what it is, where GraphQL serves it, and its aggregate."""

    value: Value
    sql: Aggregate
    field: str | None = None  # in GraphQL's Metrics: "users", or "tokens.input" in an object
    from_rollups: bool = True  # False: only raw events answer it (percentiles need each value)
    orderable: bool = False  # a member of the GraphQL enum Metric, which rows are ordered by
    additive: bool = False  # its values over disjoint sets of events add up to its value
    # Estimated within 1% where the buckets answer (GraphQL: the field with `approximate: true`);
    # `sql` then gives the exact value, computed wherever they do not.
    approximate: Approximation | None = None
    # The column it counts the distinct values of, when that is all it is (count(DISTINCT c)).
    distinct_of: str | None = None

    def over_events(self) -> ColumnElement[Any]:
        """Its aggregate over raw events (`messages`, or `feedback` for ratings)."""
        return self.sql(_Events())

    def over_rollup(self, rows: Subquery) -> ColumnElement[Any]:
        """Its aggregate over a rollup relation's rows."""
        return self.sql(RollupRows(rows))

    def reads(self) -> frozenset[str]:
        """The rollup columns (measures and keys) its aggregate reads."""
        reads = _Reads()
        self.sql(reads)
        return frozenset(reads.names)

    def decode(self, raw: Any) -> Any:
        """Its value in an answer, from its SQL result."""
        return None if raw is None else self.value.decode(raw)


def known_spend(
    cost: ColumnElement[Any], requests: ColumnElement[Any], unpriced: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Spend from a row's sums of cost (0 for what has none), requests and unpriced requests:
    the sum, or NULL when it would only hide what is unknown: the row has requests, none of them
    priced, and no cost at all. A row without requests spent 0 (nothing is unknown in it).
    Raw events and rollup rows both give these three sums, so both answer alike; a reported cost
    of 0 on a message other than a request counts as none, since a rollup's sum cannot tell."""
    unknown = and_(requests > 0, unpriced == requests, cost == 0)
    return case((unknown, null()), else_=cost)


def _measure(name: str) -> Aggregate:
    return lambda rows: rows.measure(name)


def _total_tokens(rows: Rows) -> ColumnElement[Any]:
    return rows.measure("input_tokens") + rows.measure("output_tokens")


def _spend(rows: Rows) -> ColumnElement[Any]:
    requests, unpriced = rows.measure("requests"), rows.measure("unpriced_requests")
    return known_spend(rows.measure("cost"), requests, unpriced)


def _count_distinct(column: str, field: str) -> MetricDef:
    """A metric that counts the distinct values of one column."""

    def aggregate(rows: Rows) -> ColumnElement[Any]:
        return func.count(rows.column(column).distinct())

    return MetricDef(COUNT, aggregate, field, orderable=True, distinct_of=column)


def _chats(rows: Rows) -> ColumnElement[Any]:
    """Distinct chats, each an (app, chat id) pair as in the chats table and the chat browser:
    one id in two apps is two chats, so the chats of several apps add up (usageql.query.chats_count
    counts them app by app). The pair is counted as one text that tells it apart from every other
    (chat id, ':', app, ':', the chat id's length; NULL without a chat): PostgreSQL sorts texts by
    abbreviated keys, a row value field by field, twice as slow over a month of chat rollup rows."""
    chat = rows.column("chat_id")
    pair = chat.concat(":").concat(rows.column("app_id")).concat(":")
    return func.count(pair.concat(func.length(chat)).distinct())


def _latest_provider(rows: Rows) -> ColumnElement[Any]:
    provider = rows.column("provider")
    return func.max(provider).filter(provider.is_not(None))


def _average(column: str) -> Aggregate:
    return lambda rows: func.avg(rows.column(column))


def _percentile(column: str, share: float) -> Aggregate:
    return lambda rows: func.percentile_cont(share).within_group(rows.column(column))


def _rated(rating: int) -> Aggregate:
    return lambda _: func.count().filter(feedback.c.rating == rating)


_SHARES = (None, 0.5, 0.9, 0.95, 0.99)  # the mean, then the percentiles GraphQL serves
APPROX_LATENCY = (
    Metric.APPROX_LATENCY_AVG,
    Metric.APPROX_LATENCY_P50,
    Metric.APPROX_LATENCY_P90,
    Metric.APPROX_LATENCY_P95,
    Metric.APPROX_LATENCY_P99,
)
APPROX_TTFT = (
    Metric.APPROX_TTFT_AVG,
    Metric.APPROX_TTFT_P50,
    Metric.APPROX_TTFT_P90,
    Metric.APPROX_TTFT_P95,
    Metric.APPROX_TTFT_P99,
)
_GRAPHQL = {"latency_ms": "latencyMs", "ttft_ms": "ttftMs"}


def _approximate(column: str, share: float | None) -> MetricDef:
    """The estimate of a percentile (or the mean, share None) of `column`; exact where the
    buckets do not answer."""
    name = "avg" if share is None else f"p{round(share * 100)}"
    exact = _average(column) if share is None else _percentile(column, share)
    return MetricDef(
        MILLISECONDS,
        exact,
        f"{_GRAPHQL[column]}.{name}",
        from_rollups=False,
        approximate=Approximation(column, share),
    )


# In the order of the GraphQL enum Metric (its members are the orderable ones).
METRICS: dict[Metric, MetricDef] = {
    Metric.MESSAGES: MetricDef(
        COUNT, _measure("messages"), "messages", orderable=True, additive=True
    ),
    Metric.REQUESTS: MetricDef(
        COUNT, _measure("requests"), "requests", orderable=True, additive=True
    ),
    Metric.SUCCESSFUL_REQUESTS: MetricDef(
        COUNT, _measure("successful_requests"), "successfulRequests", orderable=True, additive=True
    ),
    Metric.FAILED_REQUESTS: MetricDef(
        COUNT, _measure("failed_requests"), "failedRequests", orderable=True, additive=True
    ),
    Metric.INPUT_TOKENS: MetricDef(
        TOKENS, _measure("input_tokens"), "tokens.input", orderable=True, additive=True
    ),
    Metric.OUTPUT_TOKENS: MetricDef(
        TOKENS, _measure("output_tokens"), "tokens.output", orderable=True, additive=True
    ),
    Metric.CACHE_READ_TOKENS: MetricDef(
        TOKENS, _measure("cache_read_tokens"), "tokens.cacheRead", orderable=True, additive=True
    ),
    Metric.CACHE_WRITE_TOKENS: MetricDef(
        TOKENS, _measure("cache_write_tokens"), "tokens.cacheWrite", orderable=True, additive=True
    ),
    Metric.REASONING_TOKENS: MetricDef(
        TOKENS, _measure("reasoning_tokens"), "tokens.reasoning", orderable=True, additive=True
    ),
    Metric.TOTAL_TOKENS: MetricDef(
        TOKENS, _total_tokens, "tokens.total", orderable=True, additive=True
    ),
    Metric.SPEND: MetricDef(USD, _spend, "spend", orderable=True, additive=True),
    Metric.UNPRICED_REQUESTS: MetricDef(
        COUNT, _measure("unpriced_requests"), "unpricedRequests", additive=True
    ),
    Metric.USERS: _count_distinct("user_id", "users"),
    Metric.CHATS: MetricDef(COUNT, _chats, "chats", orderable=True),
    Metric.MODELS: _count_distinct("model", "models"),
    Metric.LATENCY_AVG: MetricDef(
        MILLISECONDS, _average("latency_ms"), "latencyMs.avg", from_rollups=False
    ),
    Metric.LATENCY_P50: MetricDef(
        MILLISECONDS, _percentile("latency_ms", 0.5), "latencyMs.p50", from_rollups=False
    ),
    Metric.LATENCY_P90: MetricDef(
        MILLISECONDS, _percentile("latency_ms", 0.9), "latencyMs.p90", from_rollups=False
    ),
    Metric.LATENCY_P95: MetricDef(
        MILLISECONDS, _percentile("latency_ms", 0.95), "latencyMs.p95", from_rollups=False
    ),
    Metric.LATENCY_P99: MetricDef(
        MILLISECONDS, _percentile("latency_ms", 0.99), "latencyMs.p99", from_rollups=False
    ),
    Metric.LATENCY_MAX: MetricDef(MILLISECONDS, _measure("latency_max"), "latencyMs.max"),
    Metric.TTFT_AVG: MetricDef(MILLISECONDS, _average("ttft_ms"), "ttftMs.avg", from_rollups=False),
    Metric.TTFT_P50: MetricDef(
        MILLISECONDS, _percentile("ttft_ms", 0.5), "ttftMs.p50", from_rollups=False
    ),
    Metric.TTFT_P90: MetricDef(
        MILLISECONDS, _percentile("ttft_ms", 0.9), "ttftMs.p90", from_rollups=False
    ),
    Metric.TTFT_P95: MetricDef(
        MILLISECONDS, _percentile("ttft_ms", 0.95), "ttftMs.p95", from_rollups=False
    ),
    Metric.TTFT_P99: MetricDef(
        MILLISECONDS, _percentile("ttft_ms", 0.99), "ttftMs.p99", from_rollups=False
    ),
    Metric.TTFT_MAX: MetricDef(MILLISECONDS, _measure("ttft_max"), "ttftMs.max"),
    **{
        metric: _approximate(column, share)
        for column, metrics in (
            ("latency_ms", APPROX_LATENCY),
            ("ttft_ms", APPROX_TTFT),
        )
        for share, metric in zip(_SHARES, metrics, strict=True)
    },
    # Ratings (questions whose source is FEEDBACK), served by the Feedback type.
    Metric.POSITIVE_FEEDBACK: MetricDef(COUNT, _rated(1), from_rollups=False, additive=True),
    Metric.NEGATIVE_FEEDBACK: MetricDef(COUNT, _rated(-1), from_rollups=False, additive=True),
    # Not a number: the provider of a model (the most recent one, if it changed).
    Metric.PROVIDER: MetricDef(TEXT, _latest_provider),
}


def answered_by(columns: Iterable[str]) -> frozenset[Metric]:
    """The metrics that rollup rows with these columns (keys and measures) answer exactly."""
    names = set(columns)
    return frozenset(
        metric
        for metric, definition in METRICS.items()
        if definition.from_rollups and definition.reads() <= names
    )
