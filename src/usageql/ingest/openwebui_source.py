"""Reading an Open WebUI database: its SQLite file (opened read-only, so Open WebUI may keep
running) or its PostgreSQL database (a URL), in pages, whatever its version's layout.

Only the tables and columns the import needs are read (openwebui_records.py says which), and
which exist is looked up first: `chat.meta` (0.3.33), `feedback` (0.3.33) and `chat_message`
(0.8.0) are absent from older databases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    TableClause,
    column,
    create_engine,
    func,
    inspect,
    or_,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from usageql.db.engine import asyncpg_url, safe_url

_CHAT = ("id", "user_id", "title", "created_at", "updated_at", "chat", "meta")
_CHAT_MESSAGE = ("id", "chat_id", "role", "model_id", "content", "usage", "error", "created_at")
_FEEDBACK = ("id", "user_id", "type", "data", "meta", "created_at", "updated_at")
Row = dict[str, Any]
Selection = tuple[TableClause, ColumnElement[bool]]  # a table and which of its rows to read
_SHARED = "shared-%"  # up to 0.8.x, a shared chat is a copy owned by 'shared-<chat id>'


class OpenWebUIError(ValueError):
    """The source is not a readable Open WebUI database; the message says why."""


def _table(name: str, names: Sequence[str], present: set[str]) -> TableClause:
    return table(name, *(column(n) for n in names if n in present))


class OpenWebUIDatabase:
    """The tables of one Open WebUI database, read in pages by id."""

    def __init__(self, name: str, engine: Engine | AsyncEngine, columns: dict[str, set[str]]):
        self.name = name
        self.engine = engine
        if "chat" not in columns:
            found = ", ".join(sorted(columns)) or "none"
            raise OpenWebUIError(f"{name}: not an Open WebUI database: no chat table ({found})")
        self.chat = _table("chat", _CHAT, columns["chat"])
        self.people = table("user", column("id"), column("name"), column("email"))
        self.has_users = "user" in columns
        self.messages = (
            _table("chat_message", _CHAT_MESSAGE, columns["chat_message"])
            if "chat_message" in columns
            else None
        )
        # Feedback rows that are ratings (the only type Open WebUI writes); None before 0.3.33.
        self.ratings: Selection | None = None
        if "feedback" in columns:
            feedback = _table("feedback", _FEEDBACK, columns["feedback"])
            self.ratings = feedback, or_(feedback.c.type.is_(None), feedback.c.type == "rating")
        self.chat_tags = (
            table("chatidtag", column("chat_id"), column("tag_name"))
            if "chatidtag" in columns and "meta" not in columns["chat"]
            else None
        )

    @property
    def owned(self) -> Selection:
        """Chats of users: not the copies up to 0.8.x kept of shared chats."""
        user_id = self.chat.c.user_id
        return self.chat, or_(user_id.is_(None), user_id.not_like(_SHARED))

    async def rows(self, statement: Select[Any]) -> list[Row]:
        """The rows `statement` selects."""
        try:
            if isinstance(self.engine, AsyncEngine):
                async with self.engine.connect() as connection:
                    found = (await connection.execute(statement)).mappings().all()
            else:
                with self.engine.connect() as sync_connection:
                    found = sync_connection.execute(statement).mappings().all()
        except (SQLAlchemyError, OSError) as error:
            raise OpenWebUIError(f"{self.name}: {_reason(error)}") from None
        return [dict(row) for row in found]

    async def count(self, selection: Selection) -> int:
        """How many rows `selection` holds."""
        source, where = selection
        rows = await self.rows(select(func.count()).select_from(source).where(where))
        return int(next(iter(rows[0].values())))

    async def pages(self, selection: Selection, size: int) -> AsyncIterator[list[Row]]:
        """The rows of `selection`, `size` at a time in order of id (a page is asked after the
        last id of the one before, so rows added meanwhile are not skipped)."""
        source, where = selection
        after: str | None = None
        while True:
            query = select(source).where(where).order_by(source.c.id).limit(size)
            if after is not None:
                query = query.where(source.c.id > after)
            page = await self.rows(query)
            if not page:
                return
            yield page
            after = page[-1]["id"]


@asynccontextmanager
async def open_source(source: str) -> AsyncIterator[OpenWebUIDatabase]:
    """An Open WebUI database: a PostgreSQL URL (postgresql://...) or a SQLite file's path."""
    if source.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        name = safe_url(asyncpg_url(source))
        engine: Engine | AsyncEngine = create_async_engine(asyncpg_url(source), pool_size=1)
    else:
        name, engine = source, _sqlite_engine(source)
    try:
        yield OpenWebUIDatabase(name, engine, await _columns(name, engine))
    finally:
        if isinstance(engine, AsyncEngine):
            await engine.dispose()
        else:
            engine.dispose()


def _sqlite_engine(source: str) -> Engine:
    """An engine reading the SQLite file `source`, opened read-only."""
    path = Path(source)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "no such file"
        raise OpenWebUIError(
            f"{source}: {problem}; give Open WebUI's SQLite file (webui.db in its data"
            " directory) or a PostgreSQL URL (postgresql://...)"
        )
    uri = f"file:{pathname2url(str(path.resolve()))}?mode=ro"
    return create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    )


async def _columns(name: str, engine: Engine | AsyncEngine) -> dict[str, set[str]]:
    """Each table's column names."""

    def read(connection: Any) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
        }

    try:
        if isinstance(engine, AsyncEngine):
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        with engine.connect() as sync_connection:
            return read(sync_connection)
    except (SQLAlchemyError, OSError) as error:
        raise OpenWebUIError(f"{name}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    """What went wrong, in one line, without SQLAlchemy's statement dump."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return str(error.orig).splitlines()[0]
    return str(error).splitlines()[0]
