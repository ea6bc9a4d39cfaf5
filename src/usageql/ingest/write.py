"""The one writer every ingestion path uses: bulk, idempotent, one transaction per batch.

Messages and feedback are inserted with ON CONFLICT DO NOTHING on (app_id, id), so a record that was
already stored is counted as a duplicate and changes nothing. Users and chats are upserted from the
same batch with rules that give the same result whatever order batches arrive in (min/max times,
latest profile wins), so re-sending a batch is harmless. Rows are sorted by key before every upsert
so that concurrent batches lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import apps, chats, feedback, messages, users
from usageql.ingest.records import Batch, Chat, Feedback, Message, UserRef


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch changed."""

    messages: int = 0
    message_duplicates: int = 0
    feedback: int = 0
    feedback_duplicates: int = 0
    chats: int = 0

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            messages=self.messages + other.messages,
            message_duplicates=self.message_duplicates + other.message_duplicates,
            feedback=self.feedback + other.feedback,
            feedback_duplicates=self.feedback_duplicates + other.feedback_duplicates,
            chats=self.chats + other.chats,
        )

    @property
    def accepted(self) -> int:
        """Records stored for the first time (chat records always count: they are upserts)."""
        return self.messages + self.feedback + self.chats

    @property
    def duplicates(self) -> int:
        """Records whose id was already stored."""
        return self.message_duplicates + self.feedback_duplicates


async def write_batch(connection: AsyncConnection, batch: Batch) -> WriteResult:
    """Write `batch` on `connection` inside the caller's transaction."""
    await _ensure_apps(connection, _app_ids(batch))
    await _upsert_users(connection, batch)
    stored_messages = await _insert_messages(connection, batch.messages)
    await _upsert_chats_from_messages(connection, batch.messages)
    await _upsert_chat_records(connection, batch.chats)
    stored_feedback = await _insert_feedback(connection, batch.feedback)
    return WriteResult(
        messages=stored_messages,
        message_duplicates=len(batch.messages) - stored_messages,
        feedback=stored_feedback,
        feedback_duplicates=len(batch.feedback) - stored_feedback,
        chats=len(batch.chats),
    )


def _app_ids(batch: Batch) -> set[str]:
    records: Iterable[Message | Feedback | Chat] = (*batch.messages, *batch.feedback, *batch.chats)
    return {record.app for record in records}


async def _ensure_apps(connection: AsyncConnection, app_ids: set[str]) -> None:
    if app_ids:
        rows = [{"app_id": app_id} for app_id in sorted(app_ids)]
        await connection.execute(insert(apps).on_conflict_do_nothing(), rows)


async def _insert_messages(connection: AsyncConnection, records: list[Message]) -> int:
    if not records:
        return 0
    statement = insert(messages).on_conflict_do_nothing().returning(messages.c.message_id)
    result = await connection.execute(statement, [_message_row(m) for m in records])
    return len(result.all())


def _message_row(message: Message) -> dict[str, Any]:
    usage = message.usage
    return {
        "app_id": message.app,
        "message_id": message.id,
        "ts": message.timestamp,
        "role": message.role,
        "chat_id": message.chat_id,
        "user_id": message.user.id if message.user else None,
        "model": message.model,
        "provider": message.provider,
        "source": message.source,
        "api_key": message.api_key,
        "status": message.status,
        "error_type": message.error_type,
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_read_tokens": usage.cache_read,
        "cache_write_tokens": usage.cache_write,
        "reasoning_tokens": usage.reasoning,
        "cost": message.cost,
        "latency_ms": message.latency_ms,
        "ttft_ms": message.ttft_ms,
        "tags": list(message.tags),
        "metadata": message.metadata,
        "content_preview": message.content_preview,
    }


async def _insert_feedback(connection: AsyncConnection, records: list[Feedback]) -> int:
    if not records:
        return 0
    rows = [
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
    ]
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


async def _upsert_users(connection: AsyncConnection, batch: Batch) -> None:
    facts: dict[tuple[str, str], _UserFacts] = {}
    seen: Iterable[Message | Feedback] = (*batch.messages, *batch.feedback)
    for record in seen:
        if record.user is None:
            continue
        key = (record.app, record.user.id)
        entry = facts.setdefault(key, _UserFacts(record.timestamp, record.timestamp))
        entry.see(record.user, record.timestamp)
    if not facts:
        return
    rows = [
        {
            "app_id": app_id,
            "user_id": user_id,
            "name": f.name,
            "email": f.email,
            "profile_at": f.profile_at,
            "first_seen": f.first_seen,
            "last_seen": f.last_seen,
        }
        for (app_id, user_id), f in sorted(facts.items())
    ]
    new = insert(users).excluded
    newer_profile = (users.c.profile_at.is_(None)) | (new.profile_at >= users.c.profile_at)
    statement = insert(users).on_conflict_do_update(
        index_elements=[users.c.app_id, users.c.user_id],
        set_={
            "first_seen": func.least(users.c.first_seen, new.first_seen),
            "last_seen": func.greatest(users.c.last_seen, new.last_seen),
            "name": _latest(new.name, users.c.name, newer_profile),
            "email": _latest(new.email, users.c.email, newer_profile),
            "profile_at": func.greatest(users.c.profile_at, new.profile_at),
        },
    )
    await connection.execute(statement, rows)


def _latest(incoming: Any, stored: Any, incoming_is_newer: Any) -> Any:
    """The incoming value when it is given and newer (or nothing is stored), else the stored one."""
    return case(
        (incoming.is_not(None) & (incoming_is_newer | stored.is_(None)), incoming),
        else_=stored,
    )


async def _upsert_chats_from_messages(connection: AsyncConnection, records: list[Message]) -> None:
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
        return
    rows = [
        {"app_id": a, "chat_id": c, "created_at": s[0], "updated_at": s[1], "user_id": s[2]}
        for (a, c), s in sorted(spans.items())
    ]
    new = insert(chats).excluded
    statement = insert(chats).on_conflict_do_update(
        index_elements=[chats.c.app_id, chats.c.chat_id],
        set_={
            "created_at": func.least(chats.c.created_at, new.created_at),
            "updated_at": func.greatest(chats.c.updated_at, new.updated_at),
            "user_id": func.coalesce(chats.c.user_id, new.user_id),
        },
    )
    await connection.execute(statement, rows)


async def _upsert_chat_records(connection: AsyncConnection, records: list[Chat]) -> None:
    latest: dict[tuple[str, str], Chat] = {}
    for chat in records:
        key = (chat.app, chat.id)
        if key not in latest or chat.timestamp >= latest[key].timestamp:
            latest[key] = chat
    if not latest:
        return
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
    await connection.execute(statement, rows)
