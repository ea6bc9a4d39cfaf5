"""Opening the database usageql runs on: the configured server or the embedded one."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.config import Settings
from usageql.db.embedded import EmbeddedPostgres
from usageql.db.engine import create_engine, safe_url

if TYPE_CHECKING:
    from usageql.db.migrate import MigrationState

log = logging.getLogger(__name__)

_VERSIONS = Path(__file__).parent / "migrations" / "versions"
# alembic.ini's file_template: <yyyymmdd>_<revision>_<slug>.py, revisions numbered in order.
_VERSION_FILE = re.compile(r"\d{8}_(?P<revision>[0-9a-z]+)_\w+\.py")


def newest_revision() -> str | None:
    """The newest migration's revision, read from the file names without importing Alembic
    (None when no file is named as alembic.ini names them). tests/test_database.py holds it
    equal to Alembic's own head."""
    named = sorted(p.name for p in _VERSIONS.iterdir() if _VERSION_FILE.fullmatch(p.name))
    match = _VERSION_FILE.fullmatch(named[-1]) if named else None
    return None if match is None else match["revision"]


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached or prepared; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: its engine, where it points, and the embedded server if any."""

    engine: AsyncEngine
    read_engine: AsyncEngine  # queries: a read replica when DATABASE_READ_URL is set, else engine
    url: str
    embedded: EmbeddedPostgres | None  # the embedded server, when this process runs it
    is_embedded: (
        bool  # the database is usageql's embedded PostgreSQL (this process's or a parent's)
    )

    async def server_version(self) -> str:
        """PostgreSQL's version string, e.g. `15.19`."""
        async with self.engine.connect() as connection:
            return str(await connection.scalar(text("SHOW server_version")))

    async def migration_state(self) -> MigrationState:
        """The database's schema revision against the code's."""
        from usageql.db.migrate import migration_state  # noqa: PLC0415 (alembic: see migrate)

        return await migration_state(self.engine)

    async def migrate(self) -> tuple[str | None, MigrationState]:
        """Migrate to the newest revision: (the revision before, the state after)."""
        from usageql.db.migrate import upgrade  # noqa: PLC0415 (see migrate_unless_current)

        try:
            return await upgrade(self.engine)
        except (OSError, DBAPIError) as error:
            raise self._unreachable(error) from error

    async def migrate_unless_current(self) -> None:
        """Migrate, unless the database is at the newest revision already.

        That check reads the revision table with plain SQL: importing Alembic takes a tenth of
        a second, which `usageql keys list` and most server starts need not pay.
        """
        try:
            async with self.engine.connect() as connection:
                current = None
                if await connection.scalar(text("SELECT to_regclass('alembic_version')")):
                    current = await connection.scalar(
                        text("SELECT version_num FROM alembic_version")
                    )
        except (OSError, DBAPIError) as error:
            raise self._unreachable(error) from error
        if current is None or current != newest_revision():
            await self.migrate()

    def _unreachable(self, error: Exception) -> DatabaseUnavailableError:
        reason = getattr(error, "orig", None) or error
        return DatabaseUnavailableError(
            f"could not connect to and migrate the database at {self.url}: {reason}"
        )


@asynccontextmanager
async def open_database(settings: Settings, *, migrate: bool) -> AsyncIterator[Database]:
    """Connect (starting the embedded server when no DATABASE_URL is set); optionally migrate.

    On exit the pool is closed and the embedded server, if any, is released.
    """
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is not None:
        url = settings.database_url
    elif settings.embedded_url is not None:
        url = settings.embedded_url  # a parent process runs the embedded server
    else:
        embedded = EmbeddedPostgres(settings.embedded_pgdata)
        url = await asyncio.to_thread(embedded.start)
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        statement_timeout_ms=settings.statement_timeout_ms,
        random_page_cost=settings.random_page_cost,
    )
    replica = None
    if settings.database_read_url is not None:
        replica = create_engine(
            settings.database_read_url,
            pool_size=settings.pool_size,
            statement_timeout_ms=settings.statement_timeout_ms,
            random_page_cost=settings.random_page_cost,
        )
    # Every read is one statement: in autocommit it costs no BEGIN and ROLLBACK round trips.
    read_engine = (replica or engine).execution_options(isolation_level="AUTOCOMMIT")
    try:
        database = Database(
            engine=engine,
            read_engine=read_engine,
            url=safe_url(url),
            embedded=embedded,
            is_embedded=settings.database_url is None,
        )
        if migrate:
            await database.migrate_unless_current()
        yield database
    finally:
        await engine.dispose()
        if replica is not None:
            await replica.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
