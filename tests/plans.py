"""What PostgreSQL plans for a statement: for the tests of indexes and statistics."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine


def top(explained: Any) -> dict[str, Any]:
    """The top node of `EXPLAIN (FORMAT JSON)`'s answer (a JSON text or already decoded)."""
    plan = json.loads(explained) if isinstance(explained, str) else explained
    return dict(plan[0]["Plan"])


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """`plan` and every node under it."""
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


async def analyzed_plan(
    engine: AsyncEngine, table: str, explain: TextClause, values: dict[str, Any]
) -> dict[str, Any]:
    """The plan of `explain` (an EXPLAIN ... FORMAT JSON statement) once `table` is analyzed."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(f"ANALYZE {table}"))
        return top(await connection.scalar(explain, values))
