"""The ingestion pipeline every path shares: parse each record, price requests, write the batch.

A batch is written in one transaction and acknowledged only after it commits. Valid records are
stored even when others in the batch are rejected; every rejection is reported with its location.
An id repeated within a batch (same app, same kind) keeps its first record; the later ones are
duplicates, and those whose content differs from the first are also listed as conflicts, so a
producer that reuses ids learns of it instead of losing records silently. Ratings are the
exception: the latest timestamp of an id is kept, in a batch as in the database (a user changed
their mind), and the earlier ones are duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.auth import UNRESTRICTED, Principal
from usageql.config import Settings
from usageql.ingest.jsontext import json_problem
from usageql.ingest.parse import (
    ParseOptions,
    RecordError,
    parse_message_line,
    parse_record,
    record_id,
)
from usageql.ingest.pricing import PriceBook, load_price_book
from usageql.ingest.records import Batch, Chat, Feedback, Message
from usageql.ingest.refusal import RecordKind
from usageql.ingest.write import WriteResult, store_batch


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record came from: a line (NDJSON, CSV) or an index (JSON array, GraphQL list)."""

    kind: Literal["line", "index"]
    number: int

    def __str__(self) -> str:
        return f"{self.kind} {self.number}"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that was not stored, and why."""

    location: Location
    id: str | None
    field: str  # "" when the record as a whole is at fault
    problem: str

    @property
    def error(self) -> str:
        """`field: problem`, as a person reads it."""
        return f"{self.field}: {self.problem}" if self.field else self.problem

    def __str__(self) -> str:
        return f"{self.location}: {self.error}"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A record whose id an earlier record of its batch (`first`, the one kept) already had,
    with different content: it is counted as a duplicate and not stored."""

    location: Location
    id: str
    first: Location


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What a batch did: messages and ratings stored, records already stored (`conflicts` are
    those among them that differ from the record kept), chat records applied (`described`:
    upserts, which count each time they are sent, so apart from `accepted`), stored ratings
    replaced by a later rating with their id (`replaced`), records rejected."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    described: int = 0
    replaced: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            conflicts=self.conflicts + other.conflicts,
            described=self.described + other.described,
            replaced=self.replaced + other.replaced,
        )


# A decoded record, an undecoded NDJSON line (bytes), or the reason input could not be read.
RawRecord = tuple[Location, object]


class Undecodable:
    """Stands in for input that could not be decoded, carrying the reason."""

    __slots__ = ("error", "id")

    def __init__(self, error: str, id: str | None = None) -> None:
        self.error = error
        self.id = id  # the record's id, when what could be read of it says


_RECORDS_PER_SLICE = 256  # about 3 ms of parsing between turns of the event loop


@dataclass(frozen=True, slots=True)
class Repeat:
    """A record whose (app, id) the kept record at `position` (of its kind) already had."""

    kind: RecordKind
    position: int
    location: Location
    id: str
    same: bool  # content equal to the kept record's


Locations = dict[RecordKind, list[Location]]  # where each record of a batch's lists came from


@dataclass(frozen=True, slots=True)
class Parsed:
    """A batch's valid records (each id once), where each came from, and what was left out."""

    batch: Batch
    locations: Locations
    rejected: list[Rejection]
    repeats: list[Repeat]

    @classmethod
    def first_of_each(cls, batch: Batch, locations: Locations, rejected: list[Rejection]) -> Parsed:
        """The batch with one record of each (app, id) of each kind, the first (of ratings, the
        latest); the others are repeats. Chat records are upserts, each of which counts: they all
        stay."""
        repeats: list[Repeat] = []
        messages, message_locations = _first_of_each(
            "message", batch.messages, locations["message"], repeats
        )
        ratings, rating_locations = _first_of_each(
            "feedback", batch.feedback, locations["feedback"], repeats
        )
        repeats.sort(key=lambda r: r.location.number)
        return cls(
            Batch(messages, ratings, batch.chats),
            {"message": message_locations, "feedback": rating_locations, "chat": locations["chat"]},
            rejected,
            repeats,
        )

    def result(self, written: WriteResult) -> IngestResult:
        """The answer for the batch once `written`: the writer's refusals are rejections, and
        so are the repeats of a refused record; other repeats are duplicates."""
        records: dict[RecordKind, Sequence[Message | Feedback | Chat]] = {
            "message": self.batch.messages,
            "feedback": self.batch.feedback,
            "chat": self.batch.chats,
        }
        rejected = list(self.rejected)
        for r in written.refused:
            location = self.locations[r.kind][r.position]
            rejected.append(Rejection(location, records[r.kind][r.position].id, r.field, r.problem))
        refused = {(r.kind, r.position) for r in written.refused}
        duplicates = written.duplicates
        conflicts: list[Conflict] = []
        for repeat in self.repeats:
            first = self.locations[repeat.kind][repeat.position]
            if (repeat.kind, repeat.position) in refused:
                problem = (
                    f"repeats the id of {first}, which was rejected; a batch stores one record"
                    " per id"
                )
                rejected.append(Rejection(repeat.location, repeat.id, "id", problem))
                continue
            duplicates += 1
            if not repeat.same:
                conflicts.append(Conflict(repeat.location, repeat.id, first))
        rejected.sort(key=lambda r: r.location.number)
        return IngestResult(
            written.accepted,
            duplicates,
            rejected,
            conflicts,
            described=written.chats,
            replaced=written.feedback_replaced,
        )


class Ingestor:
    """Parses, prices and writes batches of raw records into one database."""

    def __init__(self, engine: AsyncEngine, options: ParseOptions | None = None) -> None:
        self.engine = engine
        self.options = options or ParseOptions()

    @classmethod
    def configured(cls, engine: AsyncEngine, settings: Settings) -> Ingestor:
        """An ingestor with the settings' content preview length."""
        return cls(engine, ParseOptions(preview_chars=settings.content_preview_chars))

    async def ingest(
        self, records: Sequence[RawRecord], principal: Principal = UNRESTRICTED, *, producer: str
    ) -> IngestResult:
        """Store the valid records of `records` in one transaction (in parts, if the database
        refuses some), then the users and chats they describe; report the rest, including
        records outside the caller's apps and users, and the ids repeated with other content.
        `producer` names the path they came by (api, import, litellm, otlp, demo), kept with
        each message."""
        async with self.engine.connect() as connection:
            book = await load_price_book(connection)
        parsed = Parsed.first_of_each(*await self.parse(records, principal, book, producer))
        if not len(parsed.batch):
            return IngestResult(rejected=parsed.rejected)
        return parsed.result(await store_batch(self.engine, parsed.batch, principal.bound))

    async def parse(
        self,
        records: Sequence[RawRecord],
        principal: Principal = UNRESTRICTED,
        book: PriceBook | None = None,
        producer: str | None = None,
    ) -> tuple[Batch, Locations, list[Rejection]]:
        """Split raw records into a batch of valid ones and rejections, pricing requests with
        `book` when given and marking messages as the `producer`'s. Every few hundred records it
        lets the event loop run other requests: one of them may hold row locks until its commit,
        which other batches wait for."""
        batch = Batch()
        locations: Locations = {"message": [], "feedback": [], "chat": []}
        rejected: list[Rejection] = []
        options = replace(self.options, producer=producer)
        if options.now is None:  # one clock reading per batch, not one per record
            options = replace(options, now=datetime.now(UTC))
        if principal.apps is not None and len(principal.apps) == 1:
            options = replace(options, default_app=principal.apps[0])
        for number, (location, item) in enumerate(records, 1):
            if not number % _RECORDS_PER_SLICE:
                await asyncio.sleep(0)
            record = _record(location, item, options, principal)
            if book is not None and isinstance(record, Message):
                record = _priced(location, record, book)
            if isinstance(record, Rejection):
                rejected.append(record)
            elif isinstance(record, Message):
                batch.messages.append(record)
                locations["message"].append(location)
            elif isinstance(record, Feedback):
                batch.feedback.append(record)
                locations["feedback"].append(location)
            else:
                batch.chats.append(record)
                locations["chat"].append(location)
        return batch, locations, rejected


_Kept = TypeVar("_Kept", Message, Feedback)


def _first_of_each(
    kind: RecordKind, records: list[_Kept], where: list[Location], repeats: list[Repeat]
) -> tuple[list[_Kept], list[Location]]:
    """The first of `records` with each (app, id), and their locations; the rest are added to
    `repeats`, each naming the position of the record kept for its id. A rating with a later
    timestamp than the one kept takes its place, and the one it replaces is the repeat (not a
    conflict: it is an earlier version, not another record with a reused id)."""
    kept: list[_Kept] = []
    kept_where: list[Location] = []
    position_of: dict[tuple[str, str], int] = {}
    for record, location in zip(records, where, strict=True):
        position = position_of.setdefault((record.app, record.id), len(kept))
        if position < len(kept):
            earlier = kept[position]
            if isinstance(record, Feedback) and record.timestamp > earlier.timestamp:
                repeats.append(Repeat(kind, position, kept_where[position], record.id, True))
                kept[position], kept_where[position] = record, location
                continue
            # An earlier version of a rating (another timestamp) is no conflict either.
            same = _same(earlier, record) or (
                isinstance(record, Feedback) and record.timestamp != earlier.timestamp
            )
            repeats.append(Repeat(kind, position, location, record.id, same))
        else:
            kept.append(record)
            kept_where.append(location)
    return kept, kept_where


def _same(kept: Message | Feedback, repeat: Message | Feedback) -> bool:
    """Whether two records with one id would store the same row. Records compare field by
    field; metadata also by type, since JSON's true and 1 are equal in Python, not in jsonb."""
    if kept != repeat:
        return False
    if isinstance(kept, Message) and isinstance(repeat, Message):
        return _typed(kept.metadata) == _typed(repeat.metadata)
    return True


def _typed(metadata: dict[str, str | int | float | bool]) -> dict[str, tuple[bool, object]]:
    return {key: (isinstance(value, bool), value) for key, value in metadata.items()}


def _record(
    location: Location, item: object, options: ParseOptions, principal: Principal
) -> Message | Feedback | Chat | Rejection:
    """One raw record, parsed (NDJSON lines through the fast path first) and scope-checked."""
    record: Message | Feedback | Chat | None = None
    raw = item
    if type(item) is bytes:  # an undecoded NDJSON line
        record = parse_message_line(item, options)
        if record is None:
            try:
                raw = orjson.loads(item)
            except orjson.JSONDecodeError as error:
                problem = json_problem(error, multiline=False)
                raw = Undecodable(f"not valid JSON: {problem}; each line must be one JSON object")
    if record is None:
        if isinstance(raw, Undecodable):
            return Rejection(location, raw.id, "", raw.error)
        try:
            record = parse_record(raw, options)
        except RecordError as error:
            return Rejection(location, record_id(raw), error.field, error.problem)
    outside = _outside(principal, record)
    return record if outside is None else Rejection(location, record.id, *outside)


def _outside(principal: Principal, record: Message | Feedback | Chat) -> tuple[str, str] | None:
    """(field, problem) when the caller's key may not write `record`."""
    if not principal.may_write_app(record.app):
        allowed = ", ".join(principal.apps or ())
        return "app", f"this API key may only write to apps {allowed}, not {record.app!r}"
    if principal.users is not None and not isinstance(record, Chat):
        user = record.user.id if record.user is not None else None
        if user not in principal.users:
            allowed = ", ".join(principal.users)
            return "user", f"this API key may only write records of users {allowed}"
    return None


def _priced(location: Location, message: Message, book: PriceBook) -> Message | Rejection:
    """`message` with its cost computed from `book` if it is a request that reported none
    (unpriced models keep None), or its rejection when that cost is beyond the bound."""
    if message.cost is None and message.role == "assistant":
        try:
            message.cost = book.cost(message.app, message.model, message.usage, message.provider)
        except RecordError as error:
            return Rejection(location, message.id, error.field, error.problem)
    return message
