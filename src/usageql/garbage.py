"""The server's cyclic garbage collection: what startup loaded is frozen, young objects are
collected less often, and a full collection runs every five seconds.

Ingestion allocates millions of short-lived containers. With Python's default thresholds each
generation-2 pass also walks every long-lived object (schema, SQLAlchemy, modules); freezing what
exists after startup and collecting young objects less often roughly halves the CPU time per
ingested event. But a batch's SQL statements are reference cycles (a column and its table, a
bind parameter and its statement) holding the batch's values, several MiB of arrays: they outlive
the young generations while the batch runs, and with rare full collections they stayed until
about 100 million allocations later. The server's memory grew with the events ingested (236 to
290 MiB over 2 million events, 460 MiB after 10 million). A full collection every five seconds
frees them: it walks only what was not frozen (a few thousand objects when idle, 2 ms), but under
load that is every batch in flight, so its period is a trade of CPU for memory. While ingesting
with one worker, collections every second took 15% of the server's CPU (py-spy), memory flat at
184 MiB; every five seconds they take 4%, memory flat at 212 MiB (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import gc

FULL_COLLECTION_SECONDS = 5.0


def tune_garbage_collector() -> None:
    """Freeze what exists after startup and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def collect_garbage(every: float = FULL_COLLECTION_SECONDS) -> None:
    """Run a full collection every `every` seconds, until cancelled."""
    while True:
        await asyncio.sleep(every)
        gc.collect()
