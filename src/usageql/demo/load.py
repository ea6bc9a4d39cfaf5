"""Writing demo data through the ingestion writer, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.tables import messages
from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.ingest.pipeline import Ingestor, IngestResult, Location

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What a demo load stored, and how long it took."""

    records: int
    accepted: int
    duplicates: int
    described: int  # chat records applied (upserts, so counted again by a second load)
    rejected: int
    seconds: float


async def database_is_empty(engine: AsyncEngine) -> bool:
    """True when no message is stored yet."""
    async with engine.connect() as connection:
        return not await connection.scalar(select(exists().select_from(messages)))


async def load_demo(
    ingestor: Ingestor, options: DemoOptions, progress: Progress | None = None
) -> DemoSummary:
    """Generate demo records and ingest them batch by batch, as an application would send them."""
    started = time.perf_counter()
    total = IngestResult()
    done = records = 0
    for batch, message_count in DemoGenerator(options).batches():
        raw = [(Location("index", n), record) for n, record in enumerate(batch)]
        total += await ingestor.ingest(raw, producer="demo")
        records += len(batch)
        done += message_count
        if progress is not None:
            progress(done, options.messages)
    if total.rejected:  # the generator and the parser disagree: a bug, not bad luck
        raise RuntimeError(f"demo records were rejected, first: {total.rejected[0]}")
    return DemoSummary(
        records=records,
        accepted=total.accepted,
        duplicates=total.duplicates,
        described=total.described,
        rejected=len(total.rejected),
        seconds=time.perf_counter() - started,
    )
