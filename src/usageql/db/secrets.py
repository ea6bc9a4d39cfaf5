"""Server secrets: made once (by whichever process comes first) and read by all."""

from __future__ import annotations

import secrets as random

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import ANY_APP, secrets


async def server_secret(engine: AsyncEngine, name: str) -> bytes:
    """The secret `name`, creating it on first use; the same in every process and restart."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(secrets)
            .values(app_id=ANY_APP, name=name, value=random.token_hex(32))
            .on_conflict_do_nothing()
        )
        value = await connection.scalar(
            select(secrets.c.value).where(secrets.c.app_id == ANY_APP, secrets.c.name == name)
        )
    return bytes.fromhex(str(value))
