"""`Metrics`: only the selected fields are computed. Which ones is read from the selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from usageql.graphql.scalars import BigInt
from usageql.query.model import Metric

# Metrics GraphQL field -> query metric; nested objects map their own fields.
_PLAIN = {
    "messages": Metric.MESSAGES,
    "requests": Metric.REQUESTS,
    "successfulRequests": Metric.SUCCESSFUL_REQUESTS,
    "failedRequests": Metric.FAILED_REQUESTS,
    "spend": Metric.SPEND,
    "unpricedRequests": Metric.UNPRICED_REQUESTS,
    "users": Metric.USERS,
    "chats": Metric.CHATS,
    "models": Metric.MODELS,
}
_TOKENS = {
    "input": Metric.INPUT_TOKENS,
    "output": Metric.OUTPUT_TOKENS,
    "cacheRead": Metric.CACHE_READ_TOKENS,
    "cacheWrite": Metric.CACHE_WRITE_TOKENS,
    "reasoning": Metric.REASONING_TOKENS,
    "total": Metric.TOTAL_TOKENS,
}
_LATENCY = {
    "avg": Metric.LATENCY_AVG,
    "p50": Metric.LATENCY_P50,
    "p90": Metric.LATENCY_P90,
    "p95": Metric.LATENCY_P95,
    "p99": Metric.LATENCY_P99,
    "max": Metric.LATENCY_MAX,
}
_TTFT = {
    "avg": Metric.TTFT_AVG,
    "p50": Metric.TTFT_P50,
    "p90": Metric.TTFT_P90,
    "p95": Metric.TTFT_P95,
    "p99": Metric.TTFT_P99,
    "max": Metric.TTFT_MAX,
}
_NESTED = {"tokens": _TOKENS, "latencyMs": _LATENCY, "ttftMs": _TTFT}


def fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    """Selected fields, with fragments expanded."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from fields(selection.selections)


def child(selections: Iterable[Selection], name: str) -> list[Selection]:
    """The selections under every `name` field among `selections`."""
    found: list[Selection] = []
    for field in fields(selections):
        if field.name == name:
            found += field.selections
    return found


def selected(selections: Iterable[Selection], name: str) -> bool:
    """True when the field `name` is selected."""
    return any(field.name == name for field in fields(selections))


def wanted(metrics_selections: Iterable[Selection]) -> frozenset[Metric]:
    """The metrics a `Metrics` selection asks for."""
    found: set[Metric] = set()
    for field in fields(metrics_selections):
        if field.name in _PLAIN:
            found.add(_PLAIN[field.name])
        elif field.name in _NESTED:
            mapping = _NESTED[field.name]
            found.update(mapping[f.name] for f in fields(field.selections) if f.name in mapping)
    return frozenset(found)


@strawberry.type(description="Token counts: input includes cache reads and writes; output "
                 "includes reasoning; total = input + output.")  # fmt: skip
class TokenCounts:
    values: strawberry.Private[Mapping[Metric, Any]]

    @strawberry.field(description="Prompt tokens, cache reads and writes included.")
    def input(self) -> BigInt:
        return BigInt(self.values.get(Metric.INPUT_TOKENS, 0))

    @strawberry.field(description="Generated tokens, reasoning included.")
    def output(self) -> BigInt:
        return BigInt(self.values.get(Metric.OUTPUT_TOKENS, 0))

    @strawberry.field(description="Prompt tokens read from the provider's cache.")
    def cache_read(self) -> BigInt:
        return BigInt(self.values.get(Metric.CACHE_READ_TOKENS, 0))

    @strawberry.field(description="Prompt tokens written to the provider's cache.")
    def cache_write(self) -> BigInt:
        return BigInt(self.values.get(Metric.CACHE_WRITE_TOKENS, 0))

    @strawberry.field(description="Output tokens spent on reasoning.")
    def reasoning(self) -> BigInt:
        return BigInt(self.values.get(Metric.REASONING_TOKENS, 0))

    @strawberry.field(description="input + output.")
    def total(self) -> BigInt:
        return BigInt(self.values.get(Metric.TOTAL_TOKENS, 0))


@strawberry.type(
    description="A distribution of milliseconds, to the microsecond (3 decimals); null when no"
    " event has a value."
)
class Distribution:
    values: strawberry.Private[Mapping[Metric, Any]]
    names: strawberry.Private[Mapping[str, Metric]]

    def _get(self, name: str) -> float | None:
        value = self.values.get(self.names[name])
        return None if value is None else float(value)

    @strawberry.field(description="Mean.")
    def avg(self) -> float | None:
        return self._get("avg")

    @strawberry.field(description="Median (continuous percentile).")
    def p50(self) -> float | None:
        return self._get("p50")

    @strawberry.field(description="90th percentile.")
    def p90(self) -> float | None:
        return self._get("p90")

    @strawberry.field(description="95th percentile.")
    def p95(self) -> float | None:
        return self._get("p95")

    @strawberry.field(description="99th percentile.")
    def p99(self) -> float | None:
        return self._get("p99")

    @strawberry.field(description="Largest value.")
    def max(self) -> float | None:
        return self._get("max")


@strawberry.type(description="Metrics over a scope's events; only the selected ones are computed.")
class Metrics:
    values: strawberry.Private[Mapping[Metric, Any]]

    def _count(self, metric: Metric) -> int:
        return int(self.values.get(metric) or 0)

    @strawberry.field(description="Messages of every role.")
    def messages(self) -> int:
        return self._count(Metric.MESSAGES)

    @strawberry.field(description="LLM requests (assistant messages).")
    def requests(self) -> int:
        return self._count(Metric.REQUESTS)

    @strawberry.field(description="Requests with status success.")
    def successful_requests(self) -> int:
        return self._count(Metric.SUCCESSFUL_REQUESTS)

    @strawberry.field(description="Requests with status error.")
    def failed_requests(self) -> int:
        return self._count(Metric.FAILED_REQUESTS)

    @strawberry.field(description="Token counts.")
    def tokens(self) -> TokenCounts:
        return TokenCounts(values=self.values)

    @strawberry.field(
        description="USD: reported costs and costs computed at ingest, summed over the priced "
        "requests (unpricedRequests says how many the sum leaves out). Null when the row has "
        "requests and none is priced (nor any other message reports a cost): unknown, not free. "
        "0 when it has no requests. Rows ordered by spend put null last."
    )
    def spend(self) -> float | None:
        value = self.values.get(Metric.SPEND, 0)  # no row at all (an empty bucket): 0
        return None if value is None else float(value)

    @strawberry.field(description="Requests of models without a price (no cost, never 0).")
    def unpriced_requests(self) -> int:
        return self._count(Metric.UNPRICED_REQUESTS)

    @strawberry.field(description="Distinct users.")
    def users(self) -> int:
        return self._count(Metric.USERS)

    @strawberry.field(description="Distinct chats.")
    def chats(self) -> int:
        return self._count(Metric.CHATS)

    @strawberry.field(description="Distinct models.")
    def models(self) -> int:
        return self._count(Metric.MODELS)

    @strawberry.field(description="Request latency in milliseconds.")
    def latency_ms(self) -> Distribution:
        return Distribution(values=self.values, names=_LATENCY)

    @strawberry.field(description="Time to first token in milliseconds.")
    def ttft_ms(self) -> Distribution:
        return Distribution(values=self.values, names=_TTFT)
