"""Apps built from settings, running their lifespan, with HTTP clients that hold API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from usageql.app import create_app
from usageql.auth import Role, create_key
from usageql.config import Settings


@asynccontextmanager
async def authorized_client(
    app: Starlette,
    role: Role = Role.ADMIN,
    *,
    apps: Sequence[str] = (),
    users: Sequence[str] = (),
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a started app with a new key of `role` (checked once, so remembered)."""
    key, _ = await create_key(app.state.database.engine, role, apps=apps, users=users)
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://usageql.test", headers=headers
    ) as client:
        response = await client.post("/graphql", json={"query": "{ viewer { role } }"})
        assert response.status_code == 200, response.text
        yield client


@asynccontextmanager
async def app_client(
    settings: Settings, *, with_key: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app with these settings (with an admin key unless told not to: the
    database may be unreachable); the app opens and closes with it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if with_key:
            async with authorized_client(app) as client:
                yield client
        else:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client
