"""Alembic environment: runs on the connection usageql hands it, or on DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from usageql.config import Settings
from usageql.db.engine import create_engine
from usageql.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_settings() -> None:
    settings = Settings.from_env()
    if settings.database_url is None:
        raise SystemExit("set DATABASE_URL to run alembic directly (or use `usageql migrate`)")
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

bound = config.attributes.get("connection")
if bound is not None:
    _run(bound)
else:
    asyncio.run(_run_on_settings())
