"""`Metrics`: only the selected fields are computed. Which ones is read from the selection.

The fields are written here for their descriptions; which metric each serves is the registry's
(usageql.query.catalog.METRICS), and tests/test_catalog.py fails when the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from usageql.graphql.scalars import BigInt
from usageql.query.catalog import METRICS
from usageql.query.model import Metric

APPROXIMATE = "~approximate"
"""Appended to an object's field (latencyMs) in FIELDS: its fields with `approximate: true`."""

_APPROXIMATE = (
    "true: avg and the percentiles within 1% of the exact values (relative error at most 0.99%),"
    " from log-spaced buckets 2% wide kept per app, model and UTC day: a few rows per model and day"
    " instead of every request. Exact values are given where the buckets do not answer (filters or"
    " breakdowns by anything but app, model and time; periods without a whole UTC day). max stays"
    " exact. false (the default): exact."
)


def _graphql_fields() -> dict[str, dict[str, Metric]]:
    """GraphQL field -> query metric, per object: Metrics' own fields (""), then the objects
    nested in it (tokens, latencyMs, ttftMs), as the registry places them; then, for an object
    with approximate metrics, the same with `approximate: true` (its other fields unchanged)."""
    found: dict[str, dict[str, Metric]] = {}
    estimates: dict[str, dict[str, Metric]] = {}
    for metric, definition in METRICS.items():
        if definition.field is not None:
            inside, _, name = definition.field.rpartition(".")
            into = found if definition.approximate is None else estimates
            into.setdefault(inside, {})[name] = metric
    for inside, names in estimates.items():
        found[inside + APPROXIMATE] = {**found[inside], **names}
    return found


FIELDS = _graphql_fields()
_OWN = FIELDS[""]


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
        if field.name in _OWN:
            found.add(_OWN[field.name])
        elif field.name in FIELDS:
            approximate = field.arguments.get("approximate") is True
            mapping = FIELDS[field.name + APPROXIMATE if approximate else field.name]
            found.update(mapping[f.name] for f in fields(field.selections) if f.name in mapping)
    return frozenset(found)


@strawberry.type(description="Token counts: input includes cache reads and writes; output "
                 "includes reasoning; total = input + output.")  # fmt: skip
class TokenCounts:
    values: strawberry.Private[Mapping[Metric, Any]]

    def _get(self, name: str) -> BigInt:
        return BigInt(self.values.get(FIELDS["tokens"][name], 0))

    @strawberry.field(description="Prompt tokens, cache reads and writes included.")
    def input(self) -> BigInt:
        return self._get("input")

    @strawberry.field(description="Generated tokens, reasoning included.")
    def output(self) -> BigInt:
        return self._get("output")

    @strawberry.field(description="Prompt tokens read from the provider's cache.")
    def cache_read(self) -> BigInt:
        return self._get("cacheRead")

    @strawberry.field(description="Prompt tokens written to the provider's cache.")
    def cache_write(self) -> BigInt:
        return self._get("cacheWrite")

    @strawberry.field(description="Output tokens spent on reasoning.")
    def reasoning(self) -> BigInt:
        return self._get("reasoning")

    @strawberry.field(description="input + output.")
    def total(self) -> BigInt:
        return self._get("total")


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

    def _count(self, name: str) -> int:
        return int(self.values.get(_OWN[name]) or 0)

    @strawberry.field(description="Messages of every role.")
    def messages(self) -> int:
        return self._count("messages")

    @strawberry.field(description="LLM requests (assistant messages).")
    def requests(self) -> int:
        return self._count("requests")

    @strawberry.field(description="Requests with status success.")
    def successful_requests(self) -> int:
        return self._count("successfulRequests")

    @strawberry.field(description="Requests with status error.")
    def failed_requests(self) -> int:
        return self._count("failedRequests")

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
        value = self.values.get(_OWN["spend"], 0)  # no row at all (an empty bucket): 0
        return None if value is None else float(value)

    @strawberry.field(description="Requests of models without a price (no cost, never 0).")
    def unpriced_requests(self) -> int:
        return self._count("unpricedRequests")

    @strawberry.field(description="Distinct users.")
    def users(self) -> int:
        return self._count("users")

    @strawberry.field(description="Distinct chats.")
    def chats(self) -> int:
        return self._count("chats")

    @strawberry.field(description="Distinct models.")
    def models(self) -> int:
        return self._count("models")

    @strawberry.field(description="Request latency in milliseconds.")
    def latency_ms(
        self, approximate: Annotated[bool, strawberry.argument(description=_APPROXIMATE)] = False
    ) -> Distribution:
        return Distribution(values=self.values, names=_names("latencyMs", approximate=approximate))

    @strawberry.field(description="Time to first token in milliseconds.")
    def ttft_ms(
        self, approximate: Annotated[bool, strawberry.argument(description=_APPROXIMATE)] = False
    ) -> Distribution:
        return Distribution(values=self.values, names=_names("ttftMs", approximate=approximate))


def _names(field: str, *, approximate: bool) -> Mapping[str, Metric]:
    return FIELDS[field + APPROXIMATE if approximate else field]
