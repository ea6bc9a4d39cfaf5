"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from usageql.config import Settings
from usageql.db.database import Database
from usageql.graphql.loaders import UsageLoader


@dataclass
class Context:
    """What a resolver may use: settings, the database, and the HTTP request."""

    settings: Settings
    database: Database
    request: Request | WebSocket
    response: Response | WebSocket | None
    usage: UsageLoader = field(init=False)

    def __post_init__(self) -> None:
        # Created per request: answers are never shared between requests.
        self.usage = UsageLoader(self.database.engine)


Info = strawberry.Info[Context, None]
