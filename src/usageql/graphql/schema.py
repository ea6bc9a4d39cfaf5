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
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext

from usageql.config import Settings
from usageql.graphql.apps import AppsQuery
from usageql.graphql.errors import HideSuggestions, Outages, clipped, retryable
from usageql.graphql.execution import PlainFieldExecution
from usageql.graphql.ingest import IngestMutation
from usageql.graphql.limits import CLIENT_ERRORS, MaskFaults, QueryCost
from usageql.graphql.prices import PricesMutation, PricesQuery
from usageql.graphql.scalars import SCALARS
from usageql.graphql.server import ServerQuery
from usageql.graphql.usage import UsageQuery
from usageql.graphql.viewer import ViewerQuery

log = logging.getLogger(__name__)


@strawberry.type(description="The root of every read.")
class Query(UsageQuery, ViewerQuery, ServerQuery, AppsQuery, PricesQuery):
    pass


@strawberry.type(description="The root of every write.")
class Mutation(IngestMutation, PricesMutation):
    pass


class Schema(strawberry.Schema):
    """Client mistakes (bad arguments, cursors, time zones) are answered, not logged as faults;
    an unavailable database or a server out of connections is answered too (503), and logged
    as a warning. Logged messages are clipped: a client error may quote a huge argument."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        faults = []
        for error in errors:
            original = error.original_error
            if original is not None and retryable(original) is not None:  # the operator's to see
                cause = original.__cause__ or original
                log.warning(
                    "unavailable: %s (%s)",
                    clipped(error.message),
                    clipped(repr(cause)),
                    extra={"path": error.path},
                )
            elif original is None or isinstance(original, (*CLIENT_ERRORS, GraphQLError)):
                log.info("client error: %s", clipped(error.message), extra={"path": error.path})
            else:
                faults.append(error)
        if faults:
            super().process_errors(faults, execution_context)


class CachedNames(NameConverter):
    """Strawberry's GraphQL names, each worked out once. Strawberry camel-cases the Python name
    of every field of an input type each time it converts an argument of that type: 16 names
    for a `filter`, for every row whose `usage` takes one (LiteLLM's users list: 25 rows, a
    quarter of the server's time on the request). The names never change while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        found = self._names.get(name)
        if found is None:
            found = self._names[name] = super().apply_naming_config(name)
        return found


def build_schema(settings: Settings) -> Schema:
    """The schema with the settings' limits (their SDL is the same for any settings).

    Outages comes after MaskFaults, so it answers an unavailable database before MaskFaults
    would hide it as an internal error (extensions finish in reverse order).
    """
    # Validation rules made once: a rule class made per request would defeat ValidationCache,
    # whose key holds the rules (strawberry's limiters make theirs in their constructors).
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection:
        rules += DisableIntrospection().validation_rules
    extensions: list[Any] = [
        # Dashboards send the same few documents again and again: parse and validate each once.
        partial(ParserCache, maxsize=512),
        partial(ValidationCache, maxsize=512),
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(QueryCost, limit=settings.max_query_cost, max_records=settings.max_batch_records),
        MaskFaults,
        Outages,
    ]
    if not settings.introspection:
        extensions.append(HideSuggestions)
    return Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS, name_converter=CachedNames()),
        extensions=extensions,
        execution_context_class=PlainFieldExecution,
    )


schema = build_schema(Settings())
