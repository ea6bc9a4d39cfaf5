"""The ASGI GraphQL endpoint: strawberry's view with usageql's context."""

from __future__ import annotations

import json

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from usageql.auth import AuthError, TooManyRequestsError, admit, request_principal
from usageql.config import Settings
from usageql.db.outage import Unavailable
from usageql.graphql.body import (
    query_string_too_long,
    read_bounded,
    replaying,
    too_large_answer,
    too_large_request,
)
from usageql.graphql.context import Context
from usageql.graphql.schema import build_schema
from usageql.pages import Pages

# What any key that may read answers (`server` is for operators only), so the first run of a
# reader key, which the page's hint suggests creating, shows no error.
FIRST_QUERY = """{
  viewer { role apps users }
  apps { id messages users chats firstEventAt lastEventAt }
}"""


KEY_NEEDED = (
    "/graphql takes a reader or admin key for queries (`usageql keys create --role reader` makes"
    " one) and an ingest or admin key for recordMessages, recordFeedback and upsertChats"
    " (`--role ingest`)"
)
"""What a 401 adds to what was wrong: the roles this endpoint's operations need."""


def _refusal(error: AuthError | Unavailable | TooManyRequestsError, scope: Scope) -> JSONResponse:
    """Why an operation was not run, in GraphQL's error format: no usable key (401), the key's
    concurrent requests all in progress (429), or no database to check the key (503)."""
    if isinstance(error, AuthError):
        message = f"{error}; {KEY_NEEDED}"
        return _errors(401, message, {"code": "UNAUTHENTICATED"}, {"WWW-Authenticate": "Bearer"})
    retry = {"Retry-After": str(error.retry_after)}
    if isinstance(error, TooManyRequestsError):
        extensions = {
            "code": "TOO_MANY_REQUESTS",
            "limit": error.limit,
            "retryAfter": error.retry_after,
        }
        return _errors(429, str(error), extensions, retry)
    request_id = scope.get("state", {}).get("request_id")
    extensions = {"code": "UNAVAILABLE", "retryAfter": error.retry_after, "requestId": request_id}
    return _errors(503, error.message, extensions, retry)


def _errors(
    status: int, message: str, extensions: dict[str, object], headers: dict[str, str]
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return JSONResponse(body, status_code=status, headers=headers)


class GraphQLView(GraphQL[Context, None]):
    """POST and GET queries; GraphiQL for browsers when enabled."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings), graphql_ide="graphiql" if settings.graphiql else None
        )
        self.settings = settings
        self.pages = Pages()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL, built from ui/ (graphiql.html): it asks for an API key first when keys are
        on (every query, the schema's included, needs one), then opens on FIRST_QUERY."""
        config = {"auth": self.settings.auth, "graphiql": True, "firstQuery": FIRST_QUERY}
        return self.pages.response("graphiql", config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Operations need an API key, and hold one of its places among concurrent requests
        while they run; the GraphiQL page (a GET without a query) needs neither. No body or
        query string past USAGEQL_MAX_GRAPHQL_BYTES is read, let alone parsed."""
        if scope["type"] == "http":
            limit = self.settings.max_graphql_bytes
            if query_string_too_long(scope, limit):  # before anything parses it
                await JSONResponse(too_large_request(limit), 413)(scope, receive, send)
                return
            request = Request(scope, receive)
            if request.method == "POST" or "query" in request.query_params:
                keys = request.app.state.keys
                try:
                    principal = await request_principal(request.headers.get("authorization"), keys)
                    admission = admit(keys, principal)
                except (AuthError, Unavailable, TooManyRequestsError) as error:
                    await _refusal(error, scope)(scope, receive, send)
                    return
                scope.setdefault("state", {})["principal"] = principal
                with admission:
                    body = await read_bounded(scope, receive, limit)
                    if body is None:
                        await JSONResponse(too_large_request(limit), 413)(scope, receive, send)
                        return
                    await super().__call__(scope, replaying(body, receive), send)
                return
        await super().__call__(scope, receive, send)

    def encode_json(self, data: object) -> bytes:
        """JSON of an answer (UTF-8), or of an error in its place when it is larger than the
        server sends."""
        encoded = _json(data)
        limit = self.settings.max_response_bytes
        if len(encoded) <= limit:
            return encoded
        return _json(too_large_answer(data, len(encoded), limit))

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


def _json(data: object) -> bytes:
    """orjson's encoding (a large series' answer: ~5x faster than the json module's), or the
    json module's for what orjson refuses (an integer past 64 bits: a BigInt sum)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()
