"""Counting the SQL statements an engine runs, to prove that a query's cost has no N+1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementLog:
    """The statements run while the context was open."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.parameters: list[Any] = []  # each statement's, as the driver was given them

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n---\n".join(self.statements)


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[StatementLog]:
    """Record every statement `engine` sends while the block runs."""
    log = StatementLog()

    def record(*args: Any) -> None:
        log.statements.append(str(args[2]))
        log.parameters.append(args[3])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
