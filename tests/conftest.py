"""Fixtures: a real PostgreSQL (TEST_DATABASE_URL, else an embedded one), a fresh database per
test cloned from a migrated template, the app with its lifespan, and an HTTP client against it."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.app_client import authorized_client
from tests.serving import free_port
from tests.usage_data import load_usage_data
from usageql.app import create_app
from usageql.config import Settings
from usageql.db import first_events
from usageql.db.embedded import EmbeddedPostgres
from usageql.db.engine import asyncpg_url, create_engine
from usageql.db.migrate import upgrade
from usageql.ingest.compact import compact
from usageql.query import horizon


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run; its own database is only used to create others."""
    configured = os.environ.get("TEST_DATABASE_URL", "").strip()
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="usageql-test-") as directory:
        server = EmbeddedPostgres(Path(directory) / "pg", delete_on_stop=True)
        url = server.start()
        try:
            yield url
        finally:
            server.stop()


def database_url_for(server_url: str, name: str) -> str:
    """The server's URL pointing at database `name`."""
    return asyncpg_url(server_url).set(database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Creates uniquely named databases on the test server and drops them at the end."""

    def __init__(self, admin: AsyncEngine, server_url: str) -> None:
        self.admin = admin
        self.server_url = server_url
        self.created: list[str] = []

    def _quote(self, name: str) -> str:
        return self.admin.dialect.identifier_preparer.quote(name)

    async def create(self, *, template: str | None = None) -> str:
        """A new database's URL; empty, or a copy of `template`."""
        name = f"usageql_test_{uuid.uuid4().hex[:12]}"
        # Identifiers cannot be bound parameters; these names are generated here, never input.
        ddl = f"CREATE DATABASE {self._quote(name)}"
        if template is not None:
            ddl += f" TEMPLATE {self._quote(template)}"
        async with self.admin.connect() as connection:
            await connection.execute(text(ddl))
        self.created.append(name)
        return database_url_for(self.server_url, name)

    async def drop_all(self) -> None:
        async with self.admin.connect() as connection:
            for name in self.created:
                await connection.execute(
                    text(f"DROP DATABASE IF EXISTS {self._quote(name)} WITH (FORCE)")
                )
        self.created.clear()


@pytest.fixture(scope="session")
async def databases(server_url: str) -> AsyncIterator[DatabaseFactory]:
    admin = create_engine(server_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    factory = DatabaseFactory(admin, server_url)
    try:
        yield factory
    finally:
        await factory.drop_all()
        await admin.dispose()


@pytest.fixture(scope="session")
async def template_name(databases: DatabaseFactory) -> str:
    """A database migrated to head once per run; each test gets a copy of it. It keeps every
    event in the daily tables as it is stored (`usageql compact --eager`), the path of late
    events, so tests see their days there at once; tests/test_compaction.py and the `deferred`
    way of tests/test_correctness.py store them for compaction, as a new database does."""
    url = await databases.create()
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade(engine)
        await compact(engine, eager=True)
    finally:
        await engine.dispose()
    name = make_url(url).database
    assert name is not None
    return name


@pytest.fixture
async def empty_database_url(databases: DatabaseFactory) -> str:
    """A database with no tables at all."""
    return await databases.create()


@pytest.fixture
async def database_url(databases: DatabaseFactory, template_name: str) -> str:
    """A fresh database at the newest schema, private to this test."""
    return await databases.create(template=template_name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Keys are checked once per test and then remembered, so statement counts measure queries.
    # Nor does the server compact on its own (tests/test_compaction.py turns it on).
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        pool_size=4,
        auth_cache_seconds=3600,
        compact_seconds=0,
    )


@pytest.fixture
async def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Starlette]:
    # The server re-reads the retention horizon every 5 s on the engine whose statements tests
    # count; a test that prunes refreshes it itself.
    monkeypatch.setattr(horizon, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(first_events, "REFRESH_SECONDS", 3600.0)  # likewise the apps' first events
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def engine(app: Starlette) -> AsyncEngine:
    engine: AsyncEngine = app.state.database.engine
    return engine


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an admin key (checked once before the test starts)."""
    async with authorized_client(app) as client:
        yield client


@pytest.fixture
async def usage_data(app: Starlette, client: httpx.AsyncClient) -> None:
    """The hand-computed data set of tests/usage_data.py, stored through the HTTP API; the
    apps' first events are read again, as a server does within seconds (the query cost of open
    ranges counts from them)."""
    await load_usage_data(client)
    await app.state.first_events.refresh(app.state.database.read_engine)


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The environment of a `usageql` command run in-process against this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("USAGEQL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("USAGEQL_LOG_LEVEL", "warning")
    return database_url


@pytest.fixture
async def served(app: Starlette) -> AsyncIterator[str]:
    """The started app served over HTTP on a free port (LiteLLM posts with its own client)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server stopped before it started"
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
