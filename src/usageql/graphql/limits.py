"""Limits that keep one request from costing the server too much, and masking of faults.

The cost of a query is the most rows it can return: each list counts its largest size (its
`limit` or `first`, or the buckets of its series over the range it is asked for), multiplied by
the sizes of the lists it is nested in, in the spirit of GitHub's node limit (see cost.py). It
is checked before anything runs and reported in the response's `extensions.cost`. The records an
operation's mutations send are counted over every alias and checked against the batch limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from usageql.db.first_events import DataCatalog
from usageql.graphql.cost import Facts, estimate


class QueryCost(SchemaExtension):
    """Refuse operations that could return more than `limit` rows, or that send more than
    `max_records` records in all; report the cost."""

    def __init__(self, limit: int, max_records: int) -> None:
        self.limit = limit
        self.max_records = max_records
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            found = estimate(
                context.schema._schema,  # graphql-core's (strawberry's extensions use it too)
                context.graphql_document,
                context.operation_name,
                context.variables,
                _facts(context.context),
            )
            if found is not None:
                self.cost = found.rows
                self._check(found.rows, found.records)
        yield

    def _check(self, rows: int, records: int) -> None:
        if records > self.max_records:
            raise GraphQLError(
                f"{records:,} records in one request (recordMessages, recordFeedback and"
                f" upsertChats together, whatever their aliases); at most {self.max_records:,}"
                " are accepted (USAGEQL_MAX_BATCH_RECORDS): split them over several requests."
                " Nothing was stored",
                extensions={"code": "TOO_MANY_RECORDS", "records": records,
                            "limit": self.max_records},
            )  # fmt: skip
        if rows > self.limit:
            raise GraphQLError(
                f"this query could ask for {rows:,} rows, more than the limit of"
                f" {self.limit:,}: ask for fewer rows (limit, first, a shorter from/to, a"
                " coarser granularity) or nest fewer lists (USAGEQL_MAX_QUERY_COST)",
                extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": rows, "limit": self.limit},
            )

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"rows": self.cost, "limit": self.limit}}


def _facts(context: Any) -> Facts:
    """What the estimate needs of the server: the apps' first events (kept by the app's
    lifespan; empty until read) and the caller's apps."""
    request = getattr(context, "request", None)
    state = getattr(getattr(request, "app", None), "state", None)
    first_events = getattr(state, "first_events", None)
    catalog = DataCatalog() if first_events is None else first_events.catalog
    principal = getattr(context, "principal", None)
    apps = None if principal is None else principal.apps
    return Facts(catalog=catalog, apps=apps, now=datetime.now(UTC))


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
