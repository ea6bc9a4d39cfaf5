"""The one writer every ingestion path uses: bulk, idempotent, one transaction per batch.

Messages are copied (binary COPY) straight into `messages`; when a batch holds an id already stored,
it goes through a temporary table and INSERT ... SELECT ... ON CONFLICT DO NOTHING instead. The
messages really stored are added to the hourly rollups (usageql.ingest.rollup) in the same
transaction. Feedback is inserted with ON CONFLICT DO NOTHING too.
A record whose (app_id, id) was already stored is counted as a duplicate and changes nothing, also
when two requests carry it at once (the second waits on the first's row lock, then does nothing).
Users and chats are upserted from the same batch right after it commits (`describe_batch`, before
the batch is acknowledged) with rules that give the same result whatever order batches arrive in
(min/max times, latest profile wins), so re-sending a batch is harmless.
Rows are sorted by key before every write so that concurrent batches lock rows in the same order
and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from asyncpg.exceptions import UniqueViolationError as AsyncpgUniqueViolation
from sqlalchemy import (
    DateTime,
    Executable,
    Text,
    case,
    column,
    func,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from usageql.db.tables import apps, chats, feedback, messages, users
from usageql.ingest.records import Batch, Chat, Feedback, Message, UserRef
from usageql.ingest.rollup import rollups_upsert
from usageql.ingest.unnest import unnest

_TIME = DateTime(timezone=True)
# A statement and the rows to run it with (None: its values are bound in it), or (None, None).
_Upsert = tuple[Executable | None, list[dict[str, Any]] | None]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch changed."""

    messages: int = 0
    message_duplicates: int = 0
    feedback: int = 0
    feedback_duplicates: int = 0
    chats: int = 0
    unresolved_feedback: tuple[int, ...] = ()  # positions of feedback whose model is unknown

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            messages=self.messages + other.messages,
            message_duplicates=self.message_duplicates + other.message_duplicates,
            feedback=self.feedback + other.feedback,
            feedback_duplicates=self.feedback_duplicates + other.feedback_duplicates,
            chats=self.chats + other.chats,
            unresolved_feedback=self.unresolved_feedback + other.unresolved_feedback,
        )

    @property
    def accepted(self) -> int:
        """Records stored for the first time (chat records always count: they are upserts)."""
        return self.messages + self.feedback + self.chats

    @property
    def duplicates(self) -> int:
        """Records whose id was already stored."""
        return self.message_duplicates + self.feedback_duplicates


async def store_batch(engine: AsyncEngine, batch: Batch) -> WriteResult:
    """Store `batch`: its records in one transaction, then the users and chats it describes."""
    async with engine.begin() as connection:
        written = await write_batch(connection, batch)
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await describe_batch(autocommit, batch)
    return written


async def write_batch(connection: AsyncConnection, batch: Batch) -> WriteResult:
    """Write `batch` on `connection` inside the caller's transaction."""
    await _ensure_apps(connection, _app_ids(batch))  # DO NOTHING: locks no stored row
    stored_messages = await _insert_messages(connection, batch.messages)
    resolved, unresolved = await _resolve_feedback_models(connection, batch.feedback)
    stored_feedback = await _insert_feedback(connection, resolved)
    # Last, just before the caller commits: concurrent batches add to the same rollup rows (the
    # current hour's), which stay locked until then.
    rollups = rollups_upsert(stored_messages)
    if rollups is not None:
        await connection.execute(rollups)
    return WriteResult(
        messages=len(stored_messages),
        message_duplicates=len(batch.messages) - len(stored_messages),
        feedback=stored_feedback,
        feedback_duplicates=len(resolved) - stored_feedback,
        chats=len(batch.chats),
        unresolved_feedback=unresolved,
    )


async def describe_batch(connection: AsyncConnection, batch: Batch) -> None:
    """Upsert the users and chats that `batch` describes, each statement committed on its own
    (`connection` autocommits): concurrent batches name the same active users and open chats,
    and a row lock held until the end of a longer transaction makes them wait on each other.
    Every rule is a merge that gives the same row whatever the order and number of times it
    runs, so this can follow the batch's commit: a batch re-sent after a failure in between
    (all duplicates then) describes its users and chats again."""
    for statement, rows in (
        _users_upsert(batch),
        _chats_upsert(batch.messages),
        _chat_records_upsert(batch.chats),
    ):
        if statement is not None:
            await connection.execute(statement, rows)


def _app_ids(batch: Batch) -> set[str]:
    records: Iterable[Message | Feedback | Chat] = (*batch.messages, *batch.feedback, *batch.chats)
    return {record.app for record in records}


async def _ensure_apps(connection: AsyncConnection, app_ids: set[str]) -> None:
    if app_ids:
        rows = unnest(app_id=(Text(), sorted(app_ids)))
        await connection.execute(
            insert(apps).from_select(["app_id"], rows).on_conflict_do_nothing()
        )


MESSAGE_COLUMNS = (
    "app_id", "message_id", "ts", "role", "chat_id", "user_id", "model", "provider", "source",
    "api_key", "status", "error_type", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost", "latency_ms", "ttft_ms", "tags", "metadata",
    "content_preview",
)  # fmt: skip
_STAGING = "usageql_staged_messages"
# A temporary table lives as long as its connection and is private to it; rows vanish at commit.
_CREATE_STAGING = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS usageql_staged_messages"
    " (LIKE messages INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_staged = table(_STAGING, *(column(name) for name in MESSAGE_COLUMNS))


_KEY = itemgetter(0, 1)  # (app_id, message_id)


class UniqueViolationError(Exception):
    """A copied row's key is already stored."""


async def _insert_messages(
    connection: AsyncConnection, records: list[Message]
) -> list[tuple[Any, ...]]:
    """Store new messages; returns the rows stored (those whose id was new).

    The fast path copies the batch straight into `messages` under a savepoint. If any id is
    already stored (a retry, or a concurrent request with the same ids) the COPY fails on the
    primary key, the savepoint is rolled back, and the batch goes through a staging table and
    INSERT ... ON CONFLICT DO NOTHING instead, which counts the duplicates.
    """
    if not records:
        return []
    rows = sorted(map(_message_row, records), key=_KEY)
    unique = len({(row[0], row[1]) for row in rows}) == len(rows)
    if unique:
        try:
            async with connection.begin_nested():
                await _copy(connection, "messages", rows)
        except UniqueViolationError:
            pass  # some are stored already: count them below
        else:
            return rows
    # Runs through SQLAlchemy first, so that its transaction is open before the raw COPY.
    await connection.execute(_CREATE_STAGING)
    await _copy(connection, _STAGING, rows)
    move = (
        insert(messages)
        .from_select(
            list(MESSAGE_COLUMNS),
            select(*(_staged.c[name] for name in MESSAGE_COLUMNS)).order_by(
                _staged.c.app_id, _staged.c.message_id
            ),
        )
        .on_conflict_do_nothing()
        .returning(*(messages.c[name] for name in MESSAGE_COLUMNS))
    )
    return [tuple(row) for row in await connection.execute(move)]


async def _copy(connection: AsyncConnection, table_name: str, rows: list[tuple[Any, ...]]) -> None:
    """Binary COPY of message rows, inside the transaction SQLAlchemy has open."""
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # the asyncpg connection under SQLAlchemy's adapter
    try:
        await driver.copy_records_to_table(table_name, records=rows, columns=MESSAGE_COLUMNS)
    except AsyncpgUniqueViolation as error:
        raise UniqueViolationError from error


def _message_row(message: Message) -> tuple[Any, ...]:
    usage = message.usage
    return (
        message.app,
        message.id,
        message.timestamp,
        message.role,
        message.chat_id,
        message.user.id if message.user else None,
        message.model,
        message.provider,
        message.source,
        message.api_key,
        message.status,
        message.error_type,
        usage.input,
        usage.output,
        usage.cache_read,
        usage.cache_write,
        usage.reasoning,
        message.cost,
        message.latency_ms,
        message.ttft_ms,
        list(message.tags),
        orjson.dumps(message.metadata).decode(),
        message.content_preview,
    )


async def _resolve_feedback_models(
    connection: AsyncConnection, records: list[Feedback]
) -> tuple[list[Feedback], tuple[int, ...]]:
    """Fill in the model of feedback that names only a message; report what stays unknown."""
    wanted = {(f.app, f.message_id) for f in records if f.model is None and f.message_id}
    known: dict[tuple[str, str], str] = {}
    if wanted:
        keys = tuple_(messages.c.app_id, messages.c.message_id)
        query = select(messages.c.app_id, messages.c.message_id, messages.c.model).where(
            keys.in_(sorted(wanted)), messages.c.model.is_not(None)
        )
        known = {(a, m): model for a, m, model in (await connection.execute(query)).all()}
    resolved: list[Feedback] = []
    unresolved: list[int] = []
    for position, record in enumerate(records):
        if record.model is not None:
            resolved.append(record)
            continue
        model = known.get((record.app, record.message_id or ""))
        if model is None:
            unresolved.append(position)
        else:
            resolved.append(replace(record, model=model))
    return resolved, tuple(unresolved)


async def _insert_feedback(connection: AsyncConnection, records: list[Feedback]) -> int:
    if not records:
        return 0
    rows = sorted(
        (
            {
                "app_id": f.app,
                "feedback_id": f.id,
                "ts": f.timestamp,
                "user_id": f.user.id if f.user else None,
                "message_id": f.message_id,
                "chat_id": f.chat_id,
                "model": f.model,
                "rating": f.rating,
                "comment": f.comment,
            }
            for f in records
        ),
        key=lambda row: (row["app_id"], row["feedback_id"]),
    )
    statement = insert(feedback).on_conflict_do_nothing().returning(feedback.c.feedback_id)
    return len((await connection.execute(statement, rows)).all())


@dataclass(slots=True)
class _UserFacts:
    first_seen: datetime
    last_seen: datetime
    profile_at: datetime | None = None
    name: str | None = None
    email: str | None = None

    def see(self, user: UserRef, at: datetime) -> None:
        self.first_seen = min(self.first_seen, at)
        self.last_seen = max(self.last_seen, at)
        if user.name is None and user.email is None:
            return
        newer = self.profile_at is None or at >= self.profile_at
        if user.name is not None and (newer or self.name is None):
            self.name = user.name
        if user.email is not None and (newer or self.email is None):
            self.email = user.email
        if newer:
            self.profile_at = at


def _users_upsert(batch: Batch) -> _Upsert:
    """Users as the batch's records name them: first and last seen, the latest profile."""
    facts: dict[tuple[str, str], _UserFacts] = {}
    seen: Iterable[Message | Feedback] = (*batch.messages, *batch.feedback)
    for record in seen:
        if record.user is None:
            continue
        key = (record.app, record.user.id)
        entry = facts.setdefault(key, _UserFacts(record.timestamp, record.timestamp))
        entry.see(record.user, record.timestamp)
    if not facts:
        return None, None
    keys = sorted(facts)
    ordered = [facts[key] for key in keys]
    rows = unnest(
        app_id=(Text(), [app_id for app_id, _ in keys]),
        user_id=(Text(), [user_id for _, user_id in keys]),
        name=(Text(), [f.name for f in ordered]),
        email=(Text(), [f.email for f in ordered]),
        profile_at=(_TIME, [f.profile_at for f in ordered]),
        first_seen=(_TIME, [f.first_seen for f in ordered]),
        last_seen=(_TIME, [f.last_seen for f in ordered]),
    )
    statement = insert(users).from_select(list(rows.selected_columns.keys()), rows)
    new = statement.excluded
    newer_profile = (users.c.profile_at.is_(None)) | (new.profile_at >= users.c.profile_at)
    changed = (
        (new.first_seen < users.c.first_seen)
        | (new.last_seen > users.c.last_seen)
        | (new.name.is_not(None) & (newer_profile | users.c.name.is_(None)))
        | (new.email.is_not(None) & (newer_profile | users.c.email.is_(None)))
    )
    return (
        statement.on_conflict_do_update(
            index_elements=[users.c.app_id, users.c.user_id],
            set_={
                "first_seen": func.least(users.c.first_seen, new.first_seen),
                "last_seen": func.greatest(users.c.last_seen, new.last_seen),
                "name": _latest(new.name, users.c.name, newer_profile),
                "email": _latest(new.email, users.c.email, newer_profile),
                "profile_at": func.greatest(users.c.profile_at, new.profile_at),
            },
            where=changed,  # most batches only see known users again: leave their rows alone
        ),
        None,
    )


def _latest(incoming: Any, stored: Any, incoming_is_newer: Any) -> Any:
    """The incoming value when it is given and newer (or nothing is stored), else the stored one."""
    return case(
        (incoming.is_not(None) & (incoming_is_newer | stored.is_(None)), incoming),
        else_=stored,
    )


def _chats_upsert(records: list[Message]) -> _Upsert:
    """Chats as their messages describe them: first and last message times, the first user."""
    spans: dict[tuple[str, str], list[Any]] = {}
    for m in records:
        if m.chat_id is None:
            continue
        key = (m.app, m.chat_id)
        user_id = m.user.id if m.user else None
        span = spans.get(key)
        if span is None:
            spans[key] = [m.timestamp, m.timestamp, user_id, m.timestamp if user_id else None]
            continue
        span[0] = min(span[0], m.timestamp)
        span[1] = max(span[1], m.timestamp)
        if user_id is not None and (span[3] is None or m.timestamp < span[3]):
            span[2], span[3] = user_id, m.timestamp
    if not spans:
        return None, None
    keys = sorted(spans)
    ordered = [spans[key] for key in keys]
    rows = unnest(
        app_id=(Text(), [app_id for app_id, _ in keys]),
        chat_id=(Text(), [chat_id for _, chat_id in keys]),
        created_at=(_TIME, [span[0] for span in ordered]),
        updated_at=(_TIME, [span[1] for span in ordered]),
        user_id=(Text(), [span[2] for span in ordered]),
    )
    statement = insert(chats).from_select(list(rows.selected_columns.keys()), rows)
    new = statement.excluded
    return (
        statement.on_conflict_do_update(
            index_elements=[chats.c.app_id, chats.c.chat_id],
            set_={
                "created_at": func.least(chats.c.created_at, new.created_at),
                "updated_at": func.greatest(chats.c.updated_at, new.updated_at),
                "user_id": func.coalesce(chats.c.user_id, new.user_id),
            },
            where=(new.created_at < chats.c.created_at)
            | (new.updated_at > chats.c.updated_at)
            | chats.c.created_at.is_(None)
            | (chats.c.user_id.is_(None) & new.user_id.is_not(None)),
        ),
        None,
    )


def _chat_records_upsert(records: list[Chat]) -> _Upsert:
    """Chats as `chat` records describe them: the latest title and tags."""
    latest: dict[tuple[str, str], Chat] = {}
    for chat in records:
        key = (chat.app, chat.id)
        if key not in latest or chat.timestamp >= latest[key].timestamp:
            latest[key] = chat
    if not latest:
        return None, None
    rows = [
        {
            "app_id": app_id,
            "chat_id": chat_id,
            "title": chat.title,
            "tags": list(chat.tags),
            "described_at": chat.timestamp,
        }
        for (app_id, chat_id), chat in sorted(latest.items())
    ]
    new = insert(chats).excluded
    newer = chats.c.described_at.is_(None) | (new.described_at >= chats.c.described_at)
    statement = insert(chats).on_conflict_do_update(
        index_elements=[chats.c.app_id, chats.c.chat_id],
        set_={
            "title": _latest(new.title, chats.c.title, newer),
            "tags": case((newer, new.tags), else_=chats.c.tags),
            "described_at": func.greatest(chats.c.described_at, new.described_at),
        },
    )
    return statement, rows
