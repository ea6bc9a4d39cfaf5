"""Users and chats as a stored batch describes them, upserted right after the batch commits.

Every rule is a merge that gives the same row whatever the order and number of times it runs
(min/max times, the latest profile wins), so this can follow the batch's commit: a batch re-sent
after a failure in between (all duplicates then) describes its users and chats again. Each
statement commits on its own: concurrent batches name the same active users and open chats, and
a row lock held until the end of a longer transaction makes them wait on each other.

A key bound to users describes (title, tags) only chats that one of its users owns: the owner is
the chat's first user, set by its messages. The messages' chat upsert runs before the chat
records, so a batch may carry a new chat's messages and its chat record together.

Last, the tags of the batch's chats are copied to their rows of `chat_models` where the copy is
behind (`_tags_copied`): those rows are written in the batch's transaction, before this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Executable,
    Text,
    any_,
    case,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import chat_models, chats, users
from usageql.db.unnest import unnest, unnest_with_lists
from usageql.ingest.records import Batch, Chat, Feedback, Message, UserRef, latest_chat_records
from usageql.ingest.refusal import Refusal
from usageql.query.bound import Bound

_TIME = DateTime(timezone=True)
_TEXTS = ARRAY(Text)
# A statement and the rows to run it with (None: its values are bound in it), or (None, None).
_Upsert = tuple[Executable | None, list[dict[str, Any]] | None]

NOT_OWNED = (
    "names no chat of this API key's users: send the chat's messages (with its user) first;"
    " a chat belongs to the user of its first message"
)


async def describe_batch(
    connection: AsyncConnection, batch: Batch, bound: Bound
) -> tuple[Refusal, ...]:
    """Upsert the users and chats that `batch` describes (`connection` autocommits); returns the
    chat records refused because `bound` names users and none of them owns the chat."""
    for statement, rows in (_users_upsert(batch), _chats_upsert(batch.messages)):
        if statement is not None:
            await connection.execute(statement, rows)
    refused: tuple[Refusal, ...] = ()
    if batch.chats:
        latest = _latest_chat_records(batch.chats)
        if bound.users is None:
            await connection.execute(_chat_records_upsert(latest))
        else:
            owned = await _describe_owned_chats(connection, latest, bound.users)
            refused = tuple(
                Refusal("chat", position, "id", NOT_OWNED)
                for position, chat in enumerate(batch.chats)
                if (chat.app, chat.id) not in owned
            )
    copied = {(m.app, m.chat_id) for m in batch.messages if m.chat_id and m.model is not None}
    copied.update((chat.app, chat.id) for chat in batch.chats)
    if copied:
        await connection.execute(_tags_copied(sorted(copied)))
    return refused


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


def _latest_chat_records(records: list[Chat]) -> list[Chat]:
    """The latest record of each chat, in key order (the order rows are locked in)."""
    latest = latest_chat_records(records)
    return [latest[key] for key in sorted(latest)]


def _chat_records_upsert(latest: list[Chat], owners: tuple[str, ...] | None = None) -> Executable:
    """Chats as `chat` records describe them: the latest title and tags (with `owners`: only
    chats one of them owns are changed). One statement whatever the number of chats: their tags,
    of any number each, are one array, which each row takes its slice of."""
    sent, tags = unnest_with_lists(
        "tags",
        [chat.tags for chat in latest],
        app_id=(Text(), [chat.app for chat in latest]),
        chat_id=(Text(), [chat.id for chat in latest]),
        title=(Text(), [chat.title for chat in latest]),
        described_at=(_TIME, [chat.timestamp for chat in latest]),
    )
    rows = select(sent.c.app_id, sent.c.chat_id, sent.c.title, tags, sent.c.described_at)
    statement = insert(chats).from_select(
        ["app_id", "chat_id", "title", "tags", "described_at"], rows
    )
    new = statement.excluded
    newer = chats.c.described_at.is_(None) | (new.described_at >= chats.c.described_at)
    return statement.on_conflict_do_update(
        index_elements=[chats.c.app_id, chats.c.chat_id],
        set_={
            "title": _latest(new.title, chats.c.title, newer),
            "tags": case((newer, new.tags), else_=chats.c.tags),
            "described_at": func.greatest(chats.c.described_at, new.described_at),
        },
        where=None if owners is None else chats.c.user_id == any_(literal(owners, _TEXTS)),
    )


def _tags_copied(keys: list[tuple[str, str]]) -> Executable:
    """Copy the tags of the chats of `keys` to their rows of `chat_models` where the copy is
    behind. Run after the chats' own statements committed, so whichever of a batch storing a
    chat's models and a chat record changing its tags commits last finds the other's rows. A copy
    moves only forward in `described_at`: the rows are locked in key order and read again when a
    concurrent copy changed them, so a copy read before a newer record's never replaces it."""
    batch = unnest(
        app_id=(Text(), [app for app, _ in keys]), chat_id=(Text(), [chat for _, chat in keys])
    ).subquery("batch")
    stored = chat_models.c
    row: ColumnElement[Any] = literal_column("chat_models.ctid")
    behind = (
        select(row.label("row"), chats.c.tags, chats.c.described_at)
        .select_from(
            batch.join(
                chats, (chats.c.app_id == batch.c.app_id) & (chats.c.chat_id == batch.c.chat_id)
            ).join(
                chat_models,
                (stored.app_id == chats.c.app_id) & (stored.chat_id == chats.c.chat_id),
            )
        )
        .where(
            chats.c.described_at.is_not(None),
            stored.described_at.is_(None)
            | (chats.c.described_at > stored.described_at)
            # Two records of one time with other tags: chats keeps the later arrival, and so
            # does this, unless a copy read before it races it (not guarded).
            | ((chats.c.described_at == stored.described_at) & (chats.c.tags != stored.tags)),
        )
        .order_by(stored.app_id, stored.chat_id, stored.model)
        .with_for_update(of=chat_models)
        .cte("behind")
    )
    return (
        update(chat_models)
        .values(tags=behind.c.tags, described_at=behind.c.described_at)
        .where(row == behind.c.row)  # the row locked (a join on the key may take another index)
    )


async def _describe_owned_chats(
    connection: AsyncConnection, latest: list[Chat], owners: tuple[str, ...]
) -> set[tuple[str, str]]:
    """Describe the chats among `latest` that one of `owners` owns; returns their keys. A chat
    not stored yet, stored without an owner or owned by another user is left alone (an owner,
    once set, never changes, and chats are never deleted, so the two statements agree)."""
    keys = tuple_(chats.c.app_id, chats.c.chat_id)
    query = select(chats.c.app_id, chats.c.chat_id).where(
        keys.in_([(chat.app, chat.id) for chat in latest]), chats.c.user_id.in_(owners)
    )
    owned = {(app_id, chat_id) for app_id, chat_id in await connection.execute(query)}
    mine = [chat for chat in latest if (chat.app, chat.id) in owned]
    if mine:
        await connection.execute(_chat_records_upsert(mine, owners))
    return owned
