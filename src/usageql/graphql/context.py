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
from usageql.graphql.loaders import FirstMessageLoader, ProfileLoader, UsageLoader
from usageql.query.horizon import Horizon


@dataclass
class Context:
    """What a resolver may use: settings, the database, and the HTTP request."""

    settings: Settings
    database: Database
    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal | None  # None: not authenticated (no operation may run)
    usage: UsageLoader = field(init=False)
    profiles: ProfileLoader = field(init=False)
    first_messages: FirstMessageLoader = field(init=False)

    def __post_init__(self) -> None:
        # Created per request: answers are never shared between requests.
        # Reads go to the replica when one is configured; keys and writes stay on the primary.
        reads = self.database.read_engine
        horizon: Horizon = self.request.app.state.horizon  # set by the app's lifespan
        self.usage = UsageLoader(reads, use_rollups=self.settings.rollups, horizon=horizon)
        self.profiles = ProfileLoader(reads)
        self.first_messages = FirstMessageLoader(reads)

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
