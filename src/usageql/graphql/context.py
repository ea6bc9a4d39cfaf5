"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from usageql.auth import Principal
from usageql.config import Settings
from usageql.db.database import Database
from usageql.db.secrets import server_secret
from usageql.graphql.reads import Reads
from usageql.query.bound import NOTHING
from usageql.query.horizon import Horizon


@dataclass
class Context:
    """What a resolver may use: settings, the caller's reads (within its bound), the database
    for writes, and the HTTP request."""

    settings: Settings
    database: Database
    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal | None  # None: not authenticated (no operation may run)
    reads: Reads = field(init=False)

    def __post_init__(self) -> None:
        # Created per request: answers are never shared between requests.
        # Reads go to the replica when one is configured; keys and writes stay on the primary.
        horizon: Horizon = self.request.app.state.horizon  # set by the app's lifespan
        bound = NOTHING if self.principal is None else self.principal.bound
        self.reads = Reads(
            self.database.read_engine, bound, use_rollups=self.settings.rollups, horizon=horizon
        )

    def caller(self) -> Principal:
        """The authenticated caller (permission classes let no one else through)."""
        if self.principal is None:
            raise PermissionError("not authenticated: send `Authorization: Bearer uq_...`")
        return self.principal

    async def cursor_key(self) -> bytes:
        """The key that signs cursors: read at startup, or on first use if it was not."""
        state = self.request.app.state
        if getattr(state, "cursor_key", None) is None:
            state.cursor_key = await server_secret(self.database.engine, "cursor")
        key: bytes = state.cursor_key
        return key


Info = strawberry.Info[Context, None]
