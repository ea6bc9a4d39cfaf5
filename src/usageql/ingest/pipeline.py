"""The ingestion pipeline every path shares: parse each record, price requests, write the batch.

A batch is written in one transaction and acknowledged only after it commits. Valid records are
stored even when others in the batch are rejected; every rejection is reported with its location.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.auth import UNRESTRICTED, Principal
from usageql.config import Settings
from usageql.ingest.parse import (
    ParseOptions,
    RecordError,
    parse_message_line,
    parse_record,
    record_id,
)
from usageql.ingest.pricing import PriceBook, load_price_book
from usageql.ingest.records import Batch, Chat, Feedback, Message
from usageql.ingest.write import store_batch


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
class IngestResult:
    """What a batch did: records stored, records already stored, records rejected."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
        )


# A decoded record, an undecoded NDJSON line (bytes), or the reason input could not be read.
RawRecord = tuple[Location, object]


class Undecodable:
    """Stands in for input that could not be decoded, carrying the reason."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


_RECORDS_PER_SLICE = 256  # about 3 ms of parsing between turns of the event loop


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
        self, records: Sequence[RawRecord], principal: Principal = UNRESTRICTED
    ) -> IngestResult:
        """Store the valid records of `records` in one transaction (then the users and chats they
        describe); report the rest, including records outside the caller's apps and users."""
        batch, feedback_locations, rejected = await self.parse(records, principal)
        if not len(batch):
            return IngestResult(rejected=rejected)
        async with self.engine.connect() as connection:
            book = await load_price_book(connection)
        written = await store_batch(self.engine, price(batch, book))
        for position in written.unresolved_feedback:
            record = batch.feedback[position]
            rejected.append(
                Rejection(
                    location=feedback_locations[position],
                    id=record.id,
                    field="model",
                    problem=f"required, and message_id {record.message_id!r} names no stored"
                    " message with a model",
                )
            )
        rejected.sort(key=lambda r: r.location.number)
        return IngestResult(
            accepted=written.accepted, duplicates=written.duplicates, rejected=rejected
        )

    async def parse(
        self, records: Sequence[RawRecord], principal: Principal = UNRESTRICTED
    ) -> tuple[Batch, list[Location], list[Rejection]]:
        """Split raw records into a batch of valid ones and rejections. Every few hundred
        records it lets the event loop run other requests: one of them may hold row locks until
        its commit, which other batches wait for."""
        batch = Batch()
        feedback_locations: list[Location] = []
        rejected: list[Rejection] = []
        options = self.options
        if options.now is None:  # one clock reading per batch, not one per record
            options = replace(options, now=datetime.now(UTC))
        if principal.apps is not None and len(principal.apps) == 1:
            options = replace(options, default_app=principal.apps[0])
        for number, (location, item) in enumerate(records, 1):
            if not number % _RECORDS_PER_SLICE:
                await asyncio.sleep(0)
            record = _record(location, item, options, principal)
            if isinstance(record, Rejection):
                rejected.append(record)
            elif isinstance(record, Message):
                batch.messages.append(record)
            elif isinstance(record, Feedback):
                batch.feedback.append(record)
                feedback_locations.append(location)
            else:
                batch.chats.append(record)
        return batch, feedback_locations, rejected


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
                raw = Undecodable(f"not valid JSON: {error}")
    if record is None:
        if isinstance(raw, Undecodable):
            return Rejection(location, None, "", raw.error)
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


def price(batch: Batch, book: PriceBook) -> Batch:
    """Compute the cost of every request that did not report one; unpriced models stay None."""
    for message in batch.messages:
        if message.cost is None and message.role == "assistant":
            message.cost = book.cost(message.app, message.model, message.usage)
    return batch
