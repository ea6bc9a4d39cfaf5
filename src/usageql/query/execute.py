"""The one place the query layer runs SQL: a compiled question in, answers per scope out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, func, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from usageql.db.outage import (
    DATABASE_UNAVAILABLE,
    QUERY_CANCELED,
    Unavailable,
    is_outage,
    sqlstates,
)
from usageql.db.tables import messages, users
from usageql.query.bound import Bound
from usageql.query.catalog import METRICS
from usageql.query.compile import ROWS_IN_SCOPE, Compiled, texts
from usageql.query.model import Metric

KeyValue = str | datetime | None


class QueryTimeoutError(ValueError):
    """PostgreSQL cancelled a statement that ran past the server's statement timeout."""


class ServerBusyError(ValueError):
    """Every pooled connection stayed in use for the pool's whole timeout."""


@asynccontextmanager
async def _connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection of its own, with timeouts reported as the client's to fix and an
    unavailable database as Unavailable (503, retry later)."""
    try:
        async with engine.connect() as connection:
            # Every read is one statement: in autocommit it has its own snapshot, as in a
            # transaction of its own, without a round trip each to begin and roll back.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection
    except PoolTimeoutError as error:
        raise ServerBusyError(
            "the server is busy: every database connection stayed in use, for as long as a"
            " query waits for one, while other queries ran; retry in a moment (operators:"
            " USAGEQL_DB_POOL_SIZE sets how many queries run at once)"
        ) from error
    except (OSError, DBAPIError) as error:
        if is_outage(error):
            raise Unavailable(DATABASE_UNAVAILABLE) from error
        if isinstance(error, DBAPIError) and QUERY_CANCELED in sqlstates(error):
            raise QueryTimeoutError(
                "the query ran longer than the server allows (USAGEQL_STATEMENT_TIMEOUT_MS) and"
                " was cancelled: narrow it (from/to, filters) or ask for fewer rows"
            ) from error
        raise


def reading(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """A pooled connection for a read built elsewhere (the catalog, prices), with the same
    error mapping as every query."""
    return _connection(engine)


@dataclass(frozen=True, slots=True)
class Row:
    """One answer row: its group key values and its metrics."""

    keys: tuple[KeyValue, ...]
    values: dict[Metric, Any]
    total: int | None = None  # rows in the scope before offset and limit, when asked for
    fields: dict[str, Any] | None = None  # a described row's other columns (chats)


async def run(
    engine: AsyncEngine, compiled: Compiled, scopes: Sequence[tuple[KeyValue, ...]]
) -> list[list[Row]]:
    """Rows for each scope (given by its narrowing values), in the statement's order.

    Each call takes its own pooled connection, so concurrent resolvers never share one.
    """
    async with _connection(engine) as connection:
        result = await connection.execute(compiled.statement)
        columns = {label: place for place, label in enumerate(result.keys())}
        records = result.all()
    narrow_labels, group_labels = compiled.labels
    narrow = [columns[label] for label in narrow_labels]
    group = [columns[label] for label in group_labels]
    metrics = [
        (metric, METRICS[metric].decode, columns[metric.value]) for metric in compiled.metrics
    ]
    fields = [(name, columns[name]) for name in compiled.fields]
    total = columns[ROWS_IN_SCOPE] if compiled.with_total else None
    by_scope: dict[tuple[KeyValue, ...], list[Row]] = {scope: [] for scope in scopes}
    for record in records:
        rows = by_scope.get(tuple(record[place] for place in narrow))
        if rows is None:  # a combination of narrowing values nobody asked for
            continue
        rows.append(
            Row(
                keys=tuple(record[place] for place in group),
                values={metric: decode(record[place]) for metric, decode, place in metrics},
                total=None if total is None else int(record[total]),
                fields={name: record[place] for name, place in fields} or None,
            )
        )
    return [by_scope[scope] for scope in scopes]


@dataclass(frozen=True, slots=True)
class Profile:
    """What is known of a user: the latest name and email, first and last activity."""

    id: str
    name: str | None
    email: str | None
    first_seen: datetime | None
    last_seen: datetime | None


async def user_profiles(
    engine: AsyncEngine, wanted: Sequence[tuple[str, Sequence[str] | None]], bound: Bound
) -> dict[tuple[str, tuple[str, ...] | None], Profile]:
    """Profiles by (user id, apps to look in, or None for every app), within `bound`: one
    statement for all. A user outside the bound has no profile here."""
    ids = sorted({user_id for user_id, _ in wanted if bound.allows_user(user_id)})
    statement = select(users).where(users.c.user_id == any_(texts(ids)))
    if bound.apps is not None:
        statement = statement.where(users.c.app_id == any_(texts(bound.apps)))
    async with _connection(engine) as connection:
        rows = (await connection.execute(statement)).all()
    found: dict[tuple[str, tuple[str, ...] | None], Profile] = {}
    for user_id, apps in wanted:
        key = (user_id, None if apps is None else tuple(apps))
        mine = [r for r in rows if r.user_id == user_id and (apps is None or r.app_id in apps)]
        if mine:
            found[key] = _merge(mine)
    return found


def _merge(rows: Sequence[Any]) -> Profile:
    """One profile from a user's rows in several apps: the newest name and email."""
    by_recency = sorted(rows, key=lambda r: (r.profile_at is not None, r.profile_at or 0))
    name = next((r.name for r in reversed(by_recency) if r.name), None)
    email = next((r.email for r in reversed(by_recency) if r.email), None)
    firsts = [r.first_seen for r in rows if r.first_seen is not None]
    lasts = [r.last_seen for r in rows if r.last_seen is not None]
    return Profile(
        rows[0].user_id,
        name,
        email,
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
    )


ChatOfUsers = tuple[str, str, tuple[str, ...] | None]
"""(app, chat, the users whose messages count, or None for everyone's)."""


async def first_user_messages(
    engine: AsyncEngine, chats: Sequence[ChatOfUsers], bound: Bound
) -> dict[ChatOfUsers, str | None]:
    """The preview of each chat's first user message, among the messages of the users asked
    for and within `bound`: one statement per group of chats asked for the same users."""
    groups: dict[tuple[str, ...] | None, list[tuple[str, str]]] = {}
    for app, chat, people in chats:
        if bound.allows_app(app):
            groups.setdefault(bound.users_within(people), []).append((app, chat))
    found: dict[ChatOfUsers, str | None] = {}
    for people, keys in groups.items():
        previews = await _first_previews(engine, keys, people)
        found.update({(app, chat, people): text for (app, chat), text in previews.items()})
    return {key: found.get((key[0], key[1], bound.users_within(key[2]))) for key in chats}


async def _first_previews(
    engine: AsyncEngine, chats: Sequence[tuple[str, str]], people: tuple[str, ...] | None
) -> dict[tuple[str, str], str | None]:
    keys = tuple_(messages.c.app_id, messages.c.chat_id)
    place = func.row_number().over(
        partition_by=[messages.c.app_id, messages.c.chat_id],
        order_by=[messages.c.ts, messages.c.message_id],
    )
    conditions = [keys.in_(list(chats)), messages.c.role == "user"]
    if people is not None:
        conditions.append(messages.c.user_id == any_(texts(people)))
    ranked = (
        select(messages.c.app_id, messages.c.chat_id, messages.c.content_preview, place.label("n"))
        .where(*conditions)
        .subquery("user_messages")
    )
    statement = select(ranked.c.app_id, ranked.c.chat_id, ranked.c.content_preview).where(
        ranked.c.n == 1
    )
    async with _connection(engine) as connection:
        rows = (await connection.execute(statement)).all()
    return {(row.app_id, row.chat_id): row.content_preview for row in rows}
