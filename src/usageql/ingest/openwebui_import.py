"""`usageql import --from open-webui SOURCE`: an Open WebUI database's chats, messages and
ratings, through the pipeline in batches, as producer `open-webui`.

Running it again (nightly, say) stores what is new and updates what changed: messages already
stored are duplicates, chat records are upserts (a renamed chat takes its new title and tags, the
latest `updated_at` winning), and a rating changed in Open WebUI replaces the one stored (a later
`updated_at`). Chats deleted in Open WebUI stay in usageql: the import adds and updates, it never
deletes. Each batch commits on its own, so an interrupted import is simply run again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select

from usageql.ingest.importer import ImportSummary, Progress
from usageql.ingest.openwebui_records import (
    NOT_JSON,
    ChatRow,
    Person,
    Record,
    chat_records,
    decoded,
    document_messages,
    feedback_record,
    meta_tags,
    stored_message,
    tag_id,
)
from usageql.ingest.openwebui_source import OpenWebUIDatabase, Row, Selection, open_source
from usageql.ingest.pipeline import Ingestor, Location, RawRecord, Undecodable

PRODUCER = "open-webui"
DEFAULT_APP = "open-webui"
_PAGE = 200  # chats (each with its JSON document) or ratings read at a time


class _Batches:
    """Records gathered into batches of `size`, each ingested as soon as it is full."""

    def __init__(self, ingestor: Ingestor, label: str, size: int) -> None:
        self.ingestor = ingestor
        self.label = label
        self.size = size
        self.pending: list[RawRecord] = []
        self.position = 0  # of the next record, over the whole import
        self.summary = ImportSummary()

    async def add(self, records: Sequence[Record]) -> None:
        for record in records:
            self.pending.append((Location("index", self.position), record))
            self.position += 1
        while len(self.pending) >= self.size:
            await self._ingest(self.pending[: self.size])
            self.pending = self.pending[self.size :]

    async def flush(self) -> None:
        if self.pending:
            await self._ingest(self.pending)
            self.pending = []

    async def _ingest(self, batch: list[RawRecord]) -> None:
        result = await self.ingestor.ingest(batch, producer=PRODUCER)
        self.summary.add(self.label, len(batch), result)


async def import_open_webui(
    ingestor: Ingestor,
    source: str,
    *,
    app: str = DEFAULT_APP,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ImportSummary:
    """Ingest every chat (with its messages) and rating of the Open WebUI database `source`."""
    started = time.perf_counter()
    async with open_source(source) as database:
        batches = _Batches(ingestor, database.name, batch_size)
        people = await _people(database)

        async def chat_page(page: list[Row]) -> list[Record]:
            return await _chat_page(database, page, people, app)

        async def rating_page(page: list[Row]) -> list[Record]:
            return [feedback_record(row, people, app) for row in page]

        readers: list[tuple[Selection, Callable[[list[Row]], Awaitable[list[Record]]]]] = [
            (database.owned, chat_page)
        ]
        if database.ratings is not None:
            readers.append((database.ratings, rating_page))
        total = sum([await database.count(selection) for selection, _ in readers])
        done = 0
        for selection, records_of in readers:
            async for page in database.pages(selection, _PAGE):
                await batches.add(await records_of(page))
                done += len(page)
                if progress is not None:
                    progress(done, total)
        await batches.flush()
    summary = batches.summary
    summary.seconds = time.perf_counter() - started
    return summary


async def _people(database: OpenWebUIDatabase) -> dict[str, Person]:
    if not database.has_users:
        return {}
    rows = await database.rows(select(database.people))
    return {row["id"]: Person(row["id"], row["name"], row["email"]) for row in rows}


async def _chat_page(
    database: OpenWebUIDatabase,
    page: Sequence[Row],
    people: Mapping[str, Person],
    app: str,
) -> list[Record]:
    """The records of a page of chats: each chat's messages, then its chat record."""
    documents = {row["id"]: decoded(row["chat"]) for row in page}  # the largest values: once
    found = {id: document_messages(document) for id, document in documents.items()}
    stored = await _stored_messages(database, [id for id, said in found.items() if not said])
    old_tags = await _chatidtags(database, [row["id"] for row in page])
    records: list[Record] = []
    for row in page:
        chat = ChatRow(
            id=row["id"],
            user_id=row["user_id"],
            title=row["title"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            meta=row.get("meta"),
        )
        if documents[chat.id] is NOT_JSON and not stored.get(chat.id):
            problem = "chat: its JSON document is not valid JSON, and it has no chat_message rows"
            records.append(Undecodable(problem, id=chat.id))
            continue
        messages = found[chat.id] or stored.get(chat.id, [])
        tags = meta_tags(chat.meta)
        records.extend(chat_records(chat, messages, old_tags[chat.id] if tags is None else tags,
                                    people, app))  # fmt: skip
    return records


async def _stored_messages(
    database: OpenWebUIDatabase, chat_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The `chat_message` rows of chats whose document has no messages, by chat."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    table = database.messages
    if table is None or not chat_ids:
        return found
    query = (
        select(table)
        .where(table.c.chat_id.in_(chat_ids))
        .order_by(table.c.chat_id, table.c.created_at, table.c.id)
    )
    for row in await database.rows(query):
        found[row["chat_id"]].append(stored_message(row))
    return found


async def _chatidtags(database: OpenWebUIDatabase, chat_ids: list[str]) -> dict[str, list[str]]:
    """The tags of chats in databases older than 0.3.33 (`chatidtag`), as tag ids."""
    tags: dict[str, list[str]] = defaultdict(list)
    table = database.chat_tags
    if table is None or not chat_ids:
        return tags
    query = select(table).where(table.c.chat_id.in_(chat_ids)).order_by(table.c.tag_name)
    for row in await database.rows(query):
        tag = tag_id(row["tag_name"] or "")
        if tag and tag != "pinned" and tag not in tags[row["chat_id"]]:
            tags[row["chat_id"]].append(tag)
    return tags
