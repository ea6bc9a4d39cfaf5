"""An app built from settings, running its lifespan, with an HTTP client against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from usageql.app import create_app
from usageql.config import Settings


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app with these settings; the app's database opens and closes with it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://usageql.test") as client:
            yield client
