"""The server frees reference cycles (a batch's SQL statements hold its values) every few
seconds, not after the hundred million allocations its tuned thresholds would wait for."""

from __future__ import annotations

import asyncio
import gc
import weakref

from starlette.applications import Starlette

from usageql.garbage import collect_garbage


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


async def test_a_reference_cycle_is_freed_by_the_periodic_collection() -> None:
    gc.disable()  # only the task under test collects
    collector = asyncio.create_task(collect_garbage(every=0.01))
    try:
        node = Node()
        gone = weakref.ref(node)
        del node
        assert gone() is not None  # a cycle: reference counting alone keeps it
        for _ in range(100):
            await asyncio.sleep(0.01)
            if gone() is None:
                break
        assert gone() is None
    finally:
        collector.cancel()
        gc.enable()


async def test_the_server_runs_the_collection(app: Starlette) -> None:
    names = {task.get_coro().__name__ for task in asyncio.all_tasks()}  # type: ignore[union-attr]
    assert "collect_garbage" in names
