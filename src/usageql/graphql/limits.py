"""Limits that keep one request from costing the server too much, and masking of faults.

The cost of a query is the number of rows it can ask for: each list field counts its size
(its `limit` or `first`, or the buckets of a series), multiplied by the sizes of the lists it is
nested in, in the spirit of GitHub's node limit. It is checked before anything runs and reported
in the response's `extensions.cost`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)
from strawberry.extensions import MaskErrors, SchemaExtension

# Rows a list field returns when its size argument is absent (the schema's defaults).
_SIZES = {"models": 50, "users": 50, "tags": 250, "apps": 50, "breakdown": 100, "chats": 50,
          "chatTags": 10, "prices": 50}  # fmt: skip
_SIZE_ARGUMENTS = ("limit", "first")
# Buckets a series can have: a year of days, a month of hours...
_SERIES = {"timeseries": "granularity", "feedback": "granularity", "activeUsers": "period"}
_BUCKETS = {"HOUR": 744, "DAY": 366, "WEEK": 53, "MONTH": 36, "QUARTER": 12, "YEAR": 5}


class QueryCost(SchemaExtension):
    """Refuse queries that could ask for more than `limit` rows; report the cost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            chosen = [
                o
                for o in operations
                if context.operation_name is None
                or (o.name is not None and o.name.value == context.operation_name)
            ]
            variables = context.variables or {}
            self.cost = sum(
                _cost(o.selection_set, fragments, variables, 1, set()) for o in chosen[:1]
            )
            if self.cost > self.limit:
                raise GraphQLError(
                    f"this query could ask for {self.cost:,} rows, more than the limit of"
                    f" {self.limit:,}: ask for fewer rows (limit, first, a coarser granularity)"
                    " or nest fewer lists",
                    extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": self.cost,
                                "limit": self.limit},
                )  # fmt: skip
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"rows": self.cost, "limit": self.limit}}


def _cost(
    selections: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    multiplier: int,
    seen: set[str],
) -> int:
    if selections is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                inner = fragments[name].selection_set
                total += _cost(inner, fragments, variables, multiplier, seen | {name})
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, variables, multiplier, seen)
        elif isinstance(selection, FieldNode):
            size = _size(selection, variables)
            rows = multiplier * size if size else multiplier
            total += multiplier * size if size else 0
            total += _cost(selection.selection_set, fragments, variables, rows, seen)
    return total


def _size(field: FieldNode, variables: Mapping[str, Any]) -> int:
    """Rows a list field may return; 0 for fields that are not lists of rows (scalars such as
    Metrics.users have no selection set, whatever their name)."""
    if field.selection_set is None:
        return 0
    name = field.name.value
    arguments = {a.name.value: _value(a.value, variables) for a in field.arguments or ()}
    if name in _SERIES:
        return _BUCKETS.get(str(arguments.get(_SERIES[name], "DAY")), 366)
    if name in _SIZES:
        for argument in _SIZE_ARGUMENTS:
            value = arguments.get(argument)
            if isinstance(value, int) and value > 0:
                return value
        return _SIZES[name]
    return 0


def _value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    return value_from_ast_untyped(node, dict(variables))


CLIENT_ERRORS = (ValueError, PermissionError)


class MaskFaults(MaskErrors):
    """Answer faults (anything but a client's mistake) with a request id, not their text; the
    text is logged with the same id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_fault)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = _request_id(self.execution_context.context)
        return GraphQLError(
            message=f"internal error (request id {request_id}); it is logged under that id",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )


def _is_fault(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (*CLIENT_ERRORS, GraphQLError))


def _request_id(context: Any) -> str:
    request = getattr(context, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    return str(state.get("request_id", "unknown"))
