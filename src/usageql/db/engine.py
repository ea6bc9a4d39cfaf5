"""Turning a PostgreSQL URL into an async SQLAlchemy engine on asyncpg."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from usageql.db.tables import metadata

DRIVER = "postgresql+asyncpg"
KNOWN_TABLES = frozenset(metadata.tables)


class StatementCounter:
    """How many SQL statements ran in a context (a request, say), and which of usageql's tables
    they read: the log says whether an answer came from raw events or from rollups."""

    def __init__(self) -> None:
        self.count = 0
        self.tables: set[str] = set()


_counter: ContextVar[StatementCounter | None] = ContextVar("usageql_statements", default=None)


@contextmanager
def counting_statements() -> Iterator[StatementCounter]:
    """Count the statements every usageql engine runs in this context and the tasks it starts."""
    counter = StatementCounter()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)


_TABLE_NAME = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


def _count_statement(*event: Any) -> None:
    _connection, _cursor, statement, *_ = event  # before_cursor_execute's arguments
    counter = _counter.get()
    if counter is not None:
        counter.count += 1
        counter.tables.update(_tables_in(statement))


CACHED_STATEMENT_CHARS = 16_000
"""Statements up to this long have their tables cached. Longer ones (an `IN` list renders a
placeholder per value, so each length of list is a statement of its own) are scanned each time,
so the cache holds at most ~16 MB whatever the statements."""


def _tables_in(statement: str) -> frozenset[str]:
    """The tables a statement names after FROM or JOIN."""
    if len(statement) > CACHED_STATEMENT_CHARS:
        return _scanned(statement)
    return _cached(statement)


def _scanned(statement: str) -> frozenset[str]:
    return frozenset(_TABLE_NAME.findall(statement)) & KNOWN_TABLES


_cached = lru_cache(maxsize=1024)(_scanned)  # statements repeat; at most ~16 MB held


def asyncpg_url(url: str) -> URL:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return an asyncpg URL.

    libpq's `sslmode` is translated to asyncpg's `ssl`, which takes the same values.
    """
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername=DRIVER, query=query)


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    statement_timeout_ms: int = 0,
    pool_timeout: float = 30,
    random_page_cost: float | None = None,
) -> AsyncEngine:
    """An engine whose connections identify themselves to PostgreSQL as usageql and whose
    statements are counted by `counting_statements()`. A caller waits up to `pool_timeout`
    seconds for a connection when all are in use. `random_page_cost`, when given, is the
    planner's for its connections (the server's: USAGEQL_RANDOM_PAGE_COST)."""
    planner = {} if random_page_cost is None else {"random_page_cost": repr(random_page_cost)}
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "application_name": "usageql",
                # PostgreSQL cancels any statement of this server's running longer (0: never).
                "statement_timeout": str(statement_timeout_ms),
                # No compiling to machine code: PostgreSQL compiles past an estimated cost of
                # 100,000, and correlated subplans (the chat counts of a series' rows) are
                # estimated far above what they read: compiling took 400 ms for a statement that
                # runs in 13 ms. Raw-event statements ran as fast without it (docs/scaling.md).
                "jit": "off",
                **planner,
            }
        },
        # Questions about tags select FROM messages, unnest(messages.tags) AS tag: PostgreSQL
        # joins a function in FROM laterally, which the linter takes for a cartesian product.
        enable_from_linting=False,
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine
