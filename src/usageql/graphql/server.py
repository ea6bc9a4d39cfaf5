"""`Query.server`: what this usageql is and what it runs on."""

from __future__ import annotations

import strawberry

from usageql import __version__
from usageql.graphql.context import Info
from usageql.graphql.permissions import IsOperator


@strawberry.type(description="The usageql server answering this request.")
class Server:
    version: str = strawberry.field(description="usageql's version.")
    postgres_version: str = strawberry.field(description="The PostgreSQL server's version.")
    schema_revision: str | None = strawberry.field(
        description="The database schema's migration revision."
    )
    embedded_database: bool = strawberry.field(
        description="True when usageql runs its own embedded PostgreSQL."
    )


@strawberry.type
class ServerQuery:
    @strawberry.field(
        description="The server's version and the database it runs on (operators only: an "
        "admin key bound to no app and no user).",
        permission_classes=[IsOperator],
    )
    async def server(self, info: Info) -> Server:
        database = info.context.database
        state = await database.migration_state()
        return Server(
            version=__version__,
            postgres_version=await database.server_version(),
            schema_revision=state.current,
            embedded_database=database.is_embedded,
        )
