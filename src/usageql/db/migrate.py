"""Alembic migrations, run from code: `usageql migrate` and migrate-on-start use this module."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Serialises concurrent migrators (a server and a CLI starting together): an arbitrary fixed key.
_ADVISORY_LOCK_KEY = 7_270_431_911


@dataclass(frozen=True, slots=True)
class MigrationState:
    """Where a database stands against the migrations this code ships."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """True when the database is at the newest revision."""
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def migration_state(engine: AsyncEngine) -> MigrationState:
    """The database's revision next to the code's."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    return MigrationState(current=current, head=head_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, MigrationState]:
    """Bring the database to `revision`, holding a lock so concurrent callers take turns.

    The engine's statement timeout (the server's, USAGEQL_STATEMENT_TIMEOUT_MS) does not apply:
    filling a new table from a large database, or waiting for another migrator's lock, takes
    longer than any query should. Returns the revision it was at before, and where it stands now.
    """

    def run(connection: Connection) -> str | None:
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        before = _current(connection)
        command.upgrade(alembic_config(connection), revision)
        return before

    async with engine.begin() as connection:
        before = await connection.run_sync(run)
    state = await migration_state(engine)
    if before != state.current:
        log.info("database migrated", extra={"from": before, "to": state.current})
    return before, state
