"""The ASGI GraphQL endpoint: strawberry's view with usageql's context."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from usageql.auth import AuthError, request_principal
from usageql.config import Settings
from usageql.graphql.context import Context
from usageql.graphql.schema import build_schema

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
FIRST_QUERY = """{
  apps { id messages users chats firstEventAt lastEventAt }
  server { version postgresVersion embeddedDatabase }
}"""


def graphiql_page() -> str:
    """GraphiQL, loading its scripts from usageql itself and opening on FIRST_QUERY."""
    template = (Path(__file__).parent / "graphiql.html").read_text(encoding="utf-8")
    return template.replace("{{static}}", f"{STATIC_PATH}/graphiql").replace(
        "{{first_query}}", FIRST_QUERY
    )


class GraphQLView(GraphQL[Context, None]):
    """POST and GET queries; GraphiQL for browsers when enabled."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings), graphql_ide="graphiql" if settings.graphiql else None
        )
        self.settings = settings
        self._page = graphiql_page()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self._page)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Operations need an API key; the GraphiQL page (a GET without a query) does not."""
        if scope["type"] == "http":
            request = Request(scope, receive)
            if request.method == "POST" or "query" in request.query_params:
                try:
                    principal = await request_principal(
                        request.headers.get("authorization"), request.app.state.keys
                    )
                except AuthError as error:
                    refusal = JSONResponse(
                        {"errors": [{"message": str(error),
                                     "extensions": {"code": "UNAUTHENTICATED"}}]},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )  # fmt: skip
                    await refusal(scope, receive, send)
                    return
                scope.setdefault("state", {})["principal"] = principal
        await super().__call__(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            settings=self.settings,
            database=request.app.state.database,
            request=request,
            response=response,
            principal=request.scope.get("state", {}).get("principal"),
        )
