"""Writing demo data through the ingestion writer, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import messages
from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.ingest.write import WriteResult, write_batch

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What a demo load stored, and how long it took."""

    messages: int
    duplicates: int
    feedback: int
    chats: int
    seconds: float


async def database_is_empty(engine: AsyncEngine) -> bool:
    """True when no message is stored yet."""
    async with engine.connect() as connection:
        return not await connection.scalar(select(exists().select_from(messages)))


async def load_demo(
    engine: AsyncEngine, options: DemoOptions, progress: Progress | None = None
) -> DemoSummary:
    """Generate demo records and write them batch by batch, each batch in its own transaction."""
    started = time.perf_counter()
    total = WriteResult()
    done = 0
    for batch in DemoGenerator(options).batches():
        async with engine.begin() as connection:
            result = await write_batch(connection, batch)
        total += result
        done += len(batch.messages)
        if progress is not None:
            progress(done, options.messages)
    return DemoSummary(
        messages=total.messages,
        duplicates=total.duplicates,
        feedback=total.feedback,
        chats=total.chats,
        seconds=time.perf_counter() - started,
    )
