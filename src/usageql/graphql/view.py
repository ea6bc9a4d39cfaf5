"""The ASGI GraphQL endpoint: strawberry's view with usageql's context."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from usageql.config import Settings
from usageql.graphql.context import Context
from usageql.graphql.schema import schema


class GraphQLView(GraphQL[Context, None]):
    """POST and GET queries; GraphiQL for browsers when enabled."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None)
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            settings=self.settings,
            database=request.app.state.database,
            request=request,
            response=response,
        )
