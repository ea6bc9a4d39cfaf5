"""The GraphQL schema, merged from per-domain root types.

Export it with `usageql export-schema`, which writes schema.graphql.
"""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from usageql.graphql.apps import AppsQuery
from usageql.graphql.ingest import IngestMutation
from usageql.graphql.prices import PricesMutation, PricesQuery
from usageql.graphql.scalars import SCALARS
from usageql.graphql.server import ServerQuery
from usageql.graphql.usage import UsageQuery


@strawberry.type(description="The root of every read.")
class Query(UsageQuery, ServerQuery, AppsQuery, PricesQuery):
    pass


@strawberry.type(description="The root of every write.")
class Mutation(IngestMutation, PricesMutation):
    pass


schema = strawberry.Schema(
    query=Query, mutation=Mutation, config=StrawberryConfig(scalar_map=SCALARS)
)
