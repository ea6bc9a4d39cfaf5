"""The GraphQL schema, merged from per-domain root types.

Export it with `usageql export-schema`, which writes schema.graphql.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from usageql.config import Settings
from usageql.graphql.apps import AppsQuery
from usageql.graphql.ingest import IngestMutation
from usageql.graphql.limits import MaskFaults, QueryCost
from usageql.graphql.prices import PricesMutation, PricesQuery
from usageql.graphql.scalars import SCALARS
from usageql.graphql.server import ServerQuery
from usageql.graphql.usage import UsageQuery
from usageql.graphql.viewer import ViewerQuery
from usageql.query.execute import ServerBusyError

log = logging.getLogger(__name__)


@strawberry.type(description="The root of every read.")
class Query(UsageQuery, ViewerQuery, ServerQuery, AppsQuery, PricesQuery):
    pass


@strawberry.type(description="The root of every write.")
class Mutation(IngestMutation, PricesMutation):
    pass


class Schema(strawberry.Schema):
    """Client mistakes (bad arguments, cursors, time zones) are answered, not logged as faults;
    a server out of database connections is answered too, and logged as a warning."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        faults = []
        for error in errors:
            if isinstance(error.original_error, ServerBusyError):  # the operator's to see
                log.warning("server busy: %s", error.message, extra={"path": error.path})
            elif error.original_error is None or isinstance(error.original_error, ValueError):
                log.info("client error: %s", error.message, extra={"path": error.path})
            else:
                faults.append(error)
        if faults:
            super().process_errors(faults, execution_context)


def build_schema(settings: Settings) -> Schema:
    """The schema with the settings' limits (their SDL is the same for any settings)."""
    extensions: list[Any] = [
        partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(QueryCost, limit=settings.max_query_cost),
        MaskFaults,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=extensions,
    )


schema = build_schema(Settings())
