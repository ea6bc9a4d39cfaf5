"""Keeping a process's in-memory copy of something in the database fresh, in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


async def refresh_forever(
    refresh: Callable[[], Awaitable[None]], interval: Callable[[], float], what: str
) -> None:
    """Run `refresh` every `interval()` seconds until cancelled (a task of the server's
    lifespan); a database that cannot answer for a while is logged, and tried again."""
    while True:
        await asyncio.sleep(interval())
        try:
            await refresh()
        except (OSError, DBAPIError):
            log.warning("could not re-read %s", what, exc_info=True)
