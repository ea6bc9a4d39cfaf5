"""The metric registry (usageql.query.catalog.METRICS) and what is written apart from it agree:
every metric has its GraphQL field and every field of Metrics its metric, of the registry's type,
serving that metric's value; additivity follows from the measures a metric reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from graphql import GraphQLObjectType, get_named_type

from usageql.db.measures import MEASURE, Merge
from usageql.graphql.metrics import Metrics
from usageql.graphql.schema import schema
from usageql.query.catalog import COUNT, METRICS, MILLISECONDS, TEXT, TOKENS, USD
from usageql.query.model import Metric


def test_every_metric_is_defined_in_the_enums_order() -> None:
    assert list(METRICS) == list(Metric)


def _graphql_metric_fields() -> dict[str, str]:
    """Metrics' fields and those of the objects nested in it ("tokens.input"), with their types."""
    found = {}
    metrics = schema._schema.type_map["Metrics"]
    assert isinstance(metrics, GraphQLObjectType)
    for name, field in metrics.fields.items():
        kind = get_named_type(field.type)
        if isinstance(kind, GraphQLObjectType):
            found.update({f"{name}.{inner}": str(f.type) for inner, f in kind.fields.items()})
        else:
            found[name] = str(field.type)
    return found


def test_every_metric_has_its_graphql_field_and_every_field_its_metric() -> None:
    registry = {d.field: d.value.graphql for d in METRICS.values() if d.field is not None}
    assert _graphql_metric_fields() == registry


def _resolve(values: dict[Metric, Any], path: str, *, approximate: bool = False) -> Any:
    """The value GraphQL gives the field at `path` ("spend", "tokens.input") of Metrics; an
    object on the way (latencyMs) asked with `approximate: true` when `approximate`."""
    target: Any = Metrics(values=values)
    for name in path.split("."):
        definition = type(target).__strawberry_definition__
        field = next(
            f for f in definition.fields if schema.config.name_converter.from_field(f) == name
        )
        assert field.base_resolver is not None, path
        arguments = {"approximate": True} if approximate and field.arguments else {}
        target = field.base_resolver.wrapped_func(target, **arguments)
    return target


_SAMPLES = {COUNT: 7, TOKENS: 7, MILLISECONDS: 1.5, USD: Decimal("2.5")}
_SERVED = {COUNT: 7, TOKENS: 7, MILLISECONDS: 1.5, USD: 2.5}


def test_each_graphql_field_serves_its_metric() -> None:
    for metric, definition in METRICS.items():
        if definition.field is None:
            continue
        others: dict[Metric, Any] = dict.fromkeys(METRICS, 99)
        values = {**others, metric: _SAMPLES[definition.value]}
        answer = _resolve(values, definition.field, approximate=definition.approximate is not None)
        assert answer == _SERVED[definition.value], metric
        assert type(answer) is type(_SERVED[definition.value]), metric


def test_approximate_fields_serve_the_estimates_and_the_exact_maximum() -> None:
    values = {metric: float(n) for n, metric in enumerate(METRICS)}
    for metric, definition in METRICS.items():
        if definition.approximate is not None:
            exact = _resolve(values, str(definition.field))
            assert exact != values[metric]  # without the argument: the exact metric's value
    maximum = _resolve(values, "latencyMs.max", approximate=True)
    assert maximum == values[Metric.LATENCY_MAX]  # the largest value is exact either way


def test_metrics_are_decoded_by_their_value() -> None:
    assert METRICS[Metric.MESSAGES].decode(Decimal(12)) == 12  # a sum over rollup rows
    assert METRICS[Metric.TOTAL_TOKENS].decode(Decimal(10**12)) == 10**12
    assert METRICS[Metric.LATENCY_P95].decode(24999.279999999948) == 24999.28
    assert METRICS[Metric.SPEND].decode(Decimal("0.1234567890")) == Decimal("0.1234567890")
    assert METRICS[Metric.SPEND].decode(None) is None
    assert METRICS[Metric.PROVIDER].value is TEXT


def test_a_rollup_metric_is_additive_when_it_reads_only_summed_measures() -> None:
    for metric, definition in METRICS.items():
        if not definition.from_rollups:
            continue
        reads = definition.reads()
        assert reads, metric
        summed = all(name in MEASURE and MEASURE[name].merge is Merge.SUM for name in reads)
        assert definition.additive is summed, metric
