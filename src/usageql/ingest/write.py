"""The one writer every ingestion path uses: bulk, idempotent, one transaction per batch.

Messages are copied (binary COPY) straight into `messages`; when a batch holds an id already stored,
it goes through a temporary table and INSERT ... SELECT ... ON CONFLICT DO NOTHING instead. The
messages really stored are added to the rollups (usageql.ingest.rollup) and to the chat
spans, per chat and per (chat, model) (usageql.ingest.chat_spans), in the same transaction.
Feedback is inserted with ON CONFLICT DO NOTHING too.
A record whose (app_id, id) was already stored is counted as a duplicate and changes nothing, also
when two requests carry it at once (the second waits on the first's row lock, then does nothing).
Users and chats are upserted from the same batch right after it commits (usageql.ingest.describe,
before the batch is acknowledged) with rules that give the same result whatever order batches
arrive in, so re-sending a batch is harmless.
Rows are sorted by key before every write so that concurrent batches lock rows in the same order
and cannot deadlock.
If PostgreSQL refuses a record (usageql.ingest.refusal), the batch is split in halves, each
written in its own transaction, until the refused records are alone: they are rejected and the
rest is stored. A batch the database accepts pays nothing for this.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from asyncpg.exceptions import PostgresError
from asyncpg.exceptions import UniqueViolationError as AsyncpgUniqueViolation
from sqlalchemy import (
    DateTime,
    SmallInteger,
    Text,
    and_,
    column,
    literal_column,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert

from usageql.db.compacted import reached
from usageql.db.tables import apps, feedback, messages
from usageql.db.unnest import unnest
from usageql.ingest.chat_spans import chat_spans_upsert
from usageql.ingest.describe import describe_batch
from usageql.ingest.records import (
    MESSAGE_COLUMNS,
    Batch,
    Chat,
    Feedback,
    Message,
    MessageRow,
    row_values,
)
from usageql.ingest.refusal import RecordKind, Refusal, database_refusal
from usageql.ingest.rollup import add_to_rollups
from usageql.ingest.user_sets import numbers_insert
from usageql.query.bound import Bound

log = logging.getLogger(__name__)

UNBOUND = Bound()
"""Writes on behalf of no key in particular (or an unbound one): every app and user."""

NOT_THEIR_MESSAGE = "names no stored message of this API key's users"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch changed, and the records it did not store (`refused`)."""

    messages: int = 0
    message_duplicates: int = 0
    feedback: int = 0
    feedback_duplicates: int = 0
    feedback_replaced: int = 0  # stored ratings replaced by a later one with their id
    chats: int = 0  # chat records applied (title and tags)
    refused: tuple[Refusal, ...] = ()

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            messages=self.messages + other.messages,
            message_duplicates=self.message_duplicates + other.message_duplicates,
            feedback=self.feedback + other.feedback,
            feedback_duplicates=self.feedback_duplicates + other.feedback_duplicates,
            feedback_replaced=self.feedback_replaced + other.feedback_replaced,
            chats=self.chats + other.chats,
            refused=self.refused + other.refused,
        )

    @property
    def accepted(self) -> int:
        """Messages and ratings stored for the first time. Chat records (`chats`) are upserts,
        applied again each time they are sent, so they are counted apart: a re-sent file must
        not look as if it stored anything new."""
        return self.messages + self.feedback

    @property
    def duplicates(self) -> int:
        """Records whose id was already stored."""
        return self.message_duplicates + self.feedback_duplicates


async def store_batch(engine: AsyncEngine, batch: Batch, bound: Bound = UNBOUND) -> WriteResult:
    """Store `batch` for a caller within `bound`: numbers for its new users (committed on their
    own, usageql.ingest.user_sets), its records in one transaction (or, if the database refuses
    some, in parts without them), then the users and chats it describes."""
    await number_users(engine, batch.messages)
    written = await _write_apart(engine, batch, bound)
    stored = _without(batch, written.refused)  # refused records describe no user or chat
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        refused_chats = await describe_batch(autocommit, stored, bound)
    return written + WriteResult(chats=len(batch.chats) - len(refused_chats), refused=refused_chats)


async def number_users(engine: AsyncEngine, records: list[Message]) -> None:
    """Number the new users of `records` in a transaction of its own (usageql.ingest.user_sets),
    before their batch's: a concurrent batch with the same new user waits for this statement
    only, not for the whole of the other batch."""
    numbers = numbers_insert(records)
    if numbers is not None:
        async with engine.begin() as connection:
            await connection.execute(numbers)


async def write_batch(
    connection: AsyncConnection, batch: Batch, bound: Bound = UNBOUND
) -> WriteResult:
    """Write the messages and feedback of `batch` on `connection`, in the caller's transaction
    (their users numbered already: number_users)."""
    stored_messages = await _insert_messages(connection, batch.messages)
    resolved, refused = await _resolve_feedback(connection, batch.feedback, bound)
    # The apps of the records kept only, so that a refused one leaves no trace (DO NOTHING:
    # locks no stored row). A key bound to users describes only chats it owns, whose apps exist.
    described = batch.chats if bound.users is None else []
    await _ensure_apps(connection, _app_ids(batch.messages, resolved, described))
    stored_feedback, replaced_feedback = await _upsert_feedback(connection, resolved, bound)
    # Last, just before the caller commits: concurrent batches add to the same rollup rows (the
    # current hour's), which stay locked until then.
    if stored_messages:
        # How far the daily tables reach, held until the commit (usageql.db.compacted).
        await add_to_rollups(connection, stored_messages, await reached(connection, "share"))
    # After the rollups: one lock order for all.
    spans = chat_spans_upsert(stored_messages, described)
    if spans is not None:
        await connection.execute(spans)
    return WriteResult(
        messages=len(stored_messages),
        message_duplicates=len(batch.messages) - len(stored_messages),
        feedback=stored_feedback,
        feedback_duplicates=len(resolved) - stored_feedback - replaced_feedback,
        feedback_replaced=replaced_feedback,
        refused=refused,
    )


async def _write_apart(engine: AsyncEngine, batch: Batch, bound: Bound) -> WriteResult:
    """Write `batch` in one transaction. If PostgreSQL refuses a value, write each half in its
    own, and so on down to single records: those refused alone are rejected, the rest stored.
    Halving finds k refused records among n in about 2k log2(n) transactions."""
    try:
        async with engine.begin() as connection:
            return await write_batch(connection, batch, bound)
    except (DBAPIError, PostgresError) as error:
        refusal = database_refusal(error)
        if refusal is None or not (batch.messages or batch.feedback):
            raise
    if len(batch.messages) + len(batch.feedback) > 1:
        first, second = _halves(batch)
        written = await _write_apart(engine, first, bound)
        rest = await _write_apart(engine, second, bound)
        shifted = tuple(r.shifted(len(first.messages), len(first.feedback)) for r in rest.refused)
        return written + replace(rest, refused=shifted)
    record: Message | Feedback = (batch.messages or batch.feedback)[0]
    kind: RecordKind = "message" if batch.messages else "feedback"
    field, problem = refusal
    log.warning(
        "the database refused a record; it was rejected and the rest of its batch stored",
        extra={"app": record.app, "id": record.id, "kind": kind, "refusal": problem},
    )
    return WriteResult(refused=(Refusal(kind, 0, field, problem),))


def _halves(batch: Batch) -> tuple[Batch, Batch]:
    """The batch's messages then feedback, cut in the middle: a rating in the second half may
    rate a message of the first, which is stored before it. Chat records are not written here
    (describe_batch does), but their apps are: they stay in the first half."""
    cut = (len(batch.messages) + len(batch.feedback)) // 2
    messages_cut = min(cut, len(batch.messages))
    feedback_cut = cut - messages_cut
    return (
        Batch(batch.messages[:messages_cut], batch.feedback[:feedback_cut], batch.chats),
        Batch(batch.messages[messages_cut:], batch.feedback[feedback_cut:]),
    )


def _without(batch: Batch, refused: tuple[Refusal, ...]) -> Batch:
    """`batch` without the messages and feedback in `refused`."""
    if not refused:
        return batch
    gone = {(r.kind, r.position) for r in refused}
    return Batch(
        [m for n, m in enumerate(batch.messages) if ("message", n) not in gone],
        [f for n, f in enumerate(batch.feedback) if ("feedback", n) not in gone],
        batch.chats,
    )


def _app_ids(*records: Iterable[Message | Feedback | Chat]) -> set[str]:
    return {record.app for kind in records for record in kind}


async def _ensure_apps(connection: AsyncConnection, app_ids: set[str]) -> None:
    if app_ids:
        rows = unnest(app_id=(Text(), sorted(app_ids)))
        await connection.execute(
            insert(apps).from_select(["app_id"], rows).on_conflict_do_nothing()
        )


_STAGING = "usageql_staged_messages"
# A temporary table lives as long as its connection and is private to it; rows vanish at commit.
_CREATE_STAGING = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS usageql_staged_messages"
    " (LIKE messages INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_staged = table(_STAGING, *(column(name) for name in MESSAGE_COLUMNS))


_KEY = row_values("app_id", "message_id")


class UniqueViolationError(Exception):
    """A copied row's key is already stored."""


async def _insert_messages(connection: AsyncConnection, records: list[Message]) -> list[MessageRow]:
    """Store new messages; returns the rows stored (those whose id was new).

    The fast path copies the batch straight into `messages` under a savepoint. If any id is
    already stored (a retry, or a concurrent request with the same ids) the COPY fails on the
    primary key, the savepoint is rolled back, and the batch goes through a staging table and
    INSERT ... ON CONFLICT DO NOTHING instead, which counts the duplicates.
    """
    if not records:
        return []
    rows = sorted(map(_message_row, records), key=_KEY)
    unique = len(set(map(_KEY, rows))) == len(rows)
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


async def _copy(connection: AsyncConnection, table_name: str, rows: list[MessageRow]) -> None:
    """Binary COPY of message rows, inside the transaction SQLAlchemy has open."""
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # the asyncpg connection under SQLAlchemy's adapter
    try:
        await driver.copy_records_to_table(table_name, records=rows, columns=MESSAGE_COLUMNS)
    except AsyncpgUniqueViolation as error:
        raise UniqueViolationError from error


def _message_row(message: Message) -> MessageRow:
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
        message.producer,
    )


async def _resolve_feedback(
    connection: AsyncConnection, records: list[Feedback], bound: Bound
) -> tuple[list[Feedback], tuple[Refusal, ...]]:
    """Fill in the model of feedback that names only a message, reading only messages within
    `bound`. A key bound to users may rate only its users' messages: each `message_id` it
    sends must name one, with or without a `model`. An absent message and another user's
    message get the same answer, so the key learns nothing about messages outside its bound."""
    checked = bound.users is not None
    wanted = {
        (f.app, f.message_id) for f in records if f.message_id and (checked or f.model is None)
    }
    known: dict[tuple[str, str], str | None] = {}
    if wanted:
        keys = tuple_(messages.c.app_id, messages.c.message_id)
        query = select(messages.c.app_id, messages.c.message_id, messages.c.model).where(
            keys.in_(sorted(wanted))
        )
        if bound.apps is not None:
            query = query.where(messages.c.app_id.in_(bound.apps))
        if bound.users is not None:
            query = query.where(messages.c.user_id.in_(bound.users))
        known = {(a, m): model for a, m, model in (await connection.execute(query)).all()}
    resolved: list[Feedback] = []
    refused: list[Refusal] = []
    for position, record in enumerate(records):
        key = (record.app, record.message_id or "")
        if checked and record.message_id and key not in known:
            refused.append(Refusal("feedback", position, "message_id", NOT_THEIR_MESSAGE))
        elif record.model is not None:
            resolved.append(record)
        elif (model := known.get(key)) is not None:
            resolved.append(replace(record, model=model))
        else:
            problem = (
                f"required, and message_id {record.message_id!r} names no stored message with a"
                " model"
            )
            refused.append(Refusal("feedback", position, "model", problem))
    return resolved, tuple(refused)


async def _upsert_feedback(
    connection: AsyncConnection, records: list[Feedback], bound: Bound
) -> tuple[int, int]:
    """Store ratings: (new ids stored, stored ratings replaced). A rating whose id is stored
    replaces it when its timestamp is later (a user changed their mind); otherwise it is a
    duplicate. A key bound to users replaces only its users' ratings, so a guessed id of another
    user's rating changes nothing: it counts as a duplicate."""
    if not records:
        return 0, 0
    ordered = sorted(records, key=lambda f: (f.app, f.id))  # one lock order for all
    rows = unnest(
        app_id=(Text(), [f.app for f in ordered]),
        feedback_id=(Text(), [f.id for f in ordered]),
        ts=(DateTime(timezone=True), [f.timestamp for f in ordered]),
        user_id=(Text(), [f.user.id if f.user else None for f in ordered]),
        message_id=(Text(), [f.message_id for f in ordered]),
        chat_id=(Text(), [f.chat_id for f in ordered]),
        model=(Text(), [f.model for f in ordered]),
        rating=(SmallInteger(), [f.rating for f in ordered]),
        comment=(Text(), [f.comment for f in ordered]),
    )
    statement = insert(feedback).from_select(list(rows.selected_columns.keys()), rows)
    later = feedback.c.ts < statement.excluded.ts
    if bound.users is not None:
        later = and_(later, feedback.c.user_id.in_(bound.users))
    upsert: ReturningInsert[Any] = statement.on_conflict_do_update(
        index_elements=[feedback.c.app_id, feedback.c.feedback_id],
        set_={name: statement.excluded[name] for name in (*_RATING_FIELDS, "ingested_at")},
        where=later,
    ).returning(literal_column("xmax = 0"))  # true where inserted, false where updated
    inserted: list[bool] = list((await connection.execute(upsert)).scalars())
    return sum(inserted), len(inserted) - sum(inserted)


_RATING_FIELDS = ("ts", "user_id", "message_id", "chat_id", "model", "rating", "comment")
