"""The meaning of every metric and dimension, in one place: its SQL over the events table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, null

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
}


# What a rating row says itself; every other dimension is the rated message's.
FEEDBACK_DIMENSIONS: dict[Dimension, ColumnElement[str]] = {
    Dimension.APP: feedback.c.app_id,
    Dimension.MODEL: feedback.c.model,
    Dimension.USER: feedback.c.user_id,
    Dimension.CHAT: feedback.c.chat_id,
}


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric's aggregate, and whether sums of it over parts give it over the whole."""

    sql: Callable[[], ColumnElement[Any]]
    additive: bool


_request = m.role == "assistant"


def _sum(column: ColumnElement[int]) -> Callable[[], ColumnElement[Any]]:
    return lambda: func.coalesce(func.sum(column), 0)


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


def _spend() -> ColumnElement[Any]:
    return known_spend(
        func.coalesce(func.sum(m.cost), 0),
        func.count().filter(_request),
        func.count().filter(and_(_request, m.cost.is_(None))),
    )


def _percentile(column: ColumnElement[float], share: float) -> Callable[[], ColumnElement[Any]]:
    return lambda: func.percentile_cont(share).within_group(column)


METRICS: dict[Metric, MetricDef] = {
    Metric.MESSAGES: MetricDef(lambda: func.count(), additive=True),  # noqa: PLW0108
    Metric.REQUESTS: MetricDef(lambda: func.count().filter(_request), additive=True),
    Metric.SUCCESSFUL_REQUESTS: MetricDef(
        lambda: func.count().filter(and_(_request, m.status == "success")), additive=True
    ),
    Metric.FAILED_REQUESTS: MetricDef(
        lambda: func.count().filter(and_(_request, m.status == "error")), additive=True
    ),
    Metric.INPUT_TOKENS: MetricDef(_sum(m.input_tokens), additive=True),
    Metric.OUTPUT_TOKENS: MetricDef(_sum(m.output_tokens), additive=True),
    Metric.CACHE_READ_TOKENS: MetricDef(_sum(m.cache_read_tokens), additive=True),
    Metric.CACHE_WRITE_TOKENS: MetricDef(_sum(m.cache_write_tokens), additive=True),
    Metric.REASONING_TOKENS: MetricDef(_sum(m.reasoning_tokens), additive=True),
    Metric.TOTAL_TOKENS: MetricDef(_sum(m.input_tokens + m.output_tokens), additive=True),
    Metric.SPEND: MetricDef(_spend, additive=True),
    Metric.UNPRICED_REQUESTS: MetricDef(
        lambda: func.count().filter(and_(_request, m.cost.is_(None))), additive=True
    ),
    Metric.USERS: MetricDef(lambda: func.count(m.user_id.distinct()), additive=False),
    Metric.CHATS: MetricDef(lambda: func.count(m.chat_id.distinct()), additive=False),
    Metric.MODELS: MetricDef(lambda: func.count(m.model.distinct()), additive=False),
    Metric.LATENCY_AVG: MetricDef(lambda: func.avg(m.latency_ms), additive=False),
    Metric.LATENCY_P50: MetricDef(_percentile(m.latency_ms, 0.5), additive=False),
    Metric.LATENCY_P90: MetricDef(_percentile(m.latency_ms, 0.9), additive=False),
    Metric.LATENCY_P95: MetricDef(_percentile(m.latency_ms, 0.95), additive=False),
    Metric.LATENCY_P99: MetricDef(_percentile(m.latency_ms, 0.99), additive=False),
    Metric.LATENCY_MAX: MetricDef(lambda: func.max(m.latency_ms), additive=False),
    Metric.TTFT_AVG: MetricDef(lambda: func.avg(m.ttft_ms), additive=False),
    Metric.TTFT_P50: MetricDef(_percentile(m.ttft_ms, 0.5), additive=False),
    Metric.TTFT_P90: MetricDef(_percentile(m.ttft_ms, 0.9), additive=False),
    Metric.TTFT_P95: MetricDef(_percentile(m.ttft_ms, 0.95), additive=False),
    Metric.TTFT_P99: MetricDef(_percentile(m.ttft_ms, 0.99), additive=False),
    Metric.TTFT_MAX: MetricDef(lambda: func.max(m.ttft_ms), additive=False),
    Metric.POSITIVE_FEEDBACK: MetricDef(
        lambda: func.count().filter(feedback.c.rating == 1), additive=True
    ),
    Metric.NEGATIVE_FEEDBACK: MetricDef(
        lambda: func.count().filter(feedback.c.rating == -1), additive=True
    ),
    Metric.PROVIDER: MetricDef(
        lambda: func.max(m.provider).filter(m.provider.is_not(None)), additive=False
    ),
}

# Metrics that come back as floats (averages and percentiles are computed in double precision).
FLOAT_METRICS = frozenset(
    metric for metric in METRICS if metric.value.startswith(("latency_", "ttft_"))
)
