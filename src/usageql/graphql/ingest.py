"""Mutations that record usage: the same records, parser and writer as POST /v1/events."""

from __future__ import annotations

import dataclasses
import enum
import re
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from usageql.graphql.context import Info
from usageql.graphql.permissions import CanWrite
from usageql.graphql.scalars import BigInt
from usageql.ingest.pipeline import (
    Ingestor,
    IngestResult,
    Location,
    RawRecord,
    Rejection,
    Undecodable,
)


@strawberry.enum(description="Who wrote a message. An ASSISTANT message is one LLM request.")
class MessageRole(enum.Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


@strawberry.enum(description="Whether an LLM request succeeded.")
class RequestStatus(enum.Enum):
    SUCCESS = "success"
    ERROR = "error"


@strawberry.input(description="Who a record is about; name and email update the profile.")
class UserInput:
    id: str = strawberry.field(description="The user's id in the app.")
    name: str | None = strawberry.field(default=None, description="Display name.")
    email: str | None = strawberry.field(default=None, description="Email address.")


@strawberry.input(
    description="Token counts in usageql's convention: input includes cache reads and writes, "
    "output includes reasoning tokens."
)
class UsageInput:
    input_tokens: BigInt | None = strawberry.field(default=None, description="All prompt tokens.")
    output_tokens: BigInt | None = strawberry.field(default=None, description="All output tokens.")
    cache_read_tokens: BigInt | None = strawberry.field(
        default=None, description="Prompt tokens read from the provider's cache."
    )
    cache_write_tokens: BigInt | None = strawberry.field(
        default=None, description="Prompt tokens written to the provider's cache."
    )
    reasoning_tokens: BigInt | None = strawberry.field(
        default=None, description="Output tokens spent on reasoning."
    )


@strawberry.input(description="One message; an ASSISTANT message is one LLM request.")
class MessageInput:
    id: str = strawberry.field(description="Idempotency key, unique per app.")
    timestamp: datetime = strawberry.field(description="When the message was created (ISO 8601).")
    app: str | None = strawberry.field(default=None, description="The app; default `default`.")
    role: MessageRole | None = strawberry.field(default=None, description="Default ASSISTANT.")
    chat_id: str | None = strawberry.field(default=None, description="The conversation.")
    user: UserInput | None = strawberry.field(default=None, description="Who it is for.")
    model: str | None = strawberry.field(default=None, description="Required for ASSISTANT.")
    provider: str | None = strawberry.field(default=None, description="openai, anthropic, ...")
    source: str | None = strawberry.field(default=None, description="chat, api, widget, ...")
    api_key: str | None = strawberry.field(
        default=None, description="Id or alias of the caller's gateway key (not a secret)."
    )
    status: RequestStatus | None = strawberry.field(default=None, description="Default SUCCESS.")
    error_type: str | None = strawberry.field(default=None, description="e.g. rate_limit.")
    usage: UsageInput | None = strawberry.field(default=None, description="Token counts.")
    provider_usage: JSON | None = strawberry.field(
        default=None,
        description="A provider's usage object passed through unchanged (OpenAI's or "
        "Anthropic's shape), instead of `usage`.",
    )
    cost: float | None = strawberry.field(
        default=None, description="USD; computed from the price table when absent."
    )
    latency_ms: float | None = strawberry.field(default=None, description="Total request time.")
    ttft_ms: float | None = strawberry.field(default=None, description="Time to first token.")
    tags: list[str] | None = strawberry.field(default=None, description="Request tags.")
    metadata: JSON | None = strawberry.field(
        default=None, description="Custom dimensions: an object of string/number/boolean values."
    )
    content: str | None = strawberry.field(
        default=None, description="The text; only a preview of it is kept."
    )


@strawberry.input(description="A thumbs up or down on a model's answer.")
class FeedbackInput:
    id: str = strawberry.field(description="Idempotency key, unique per app.")
    timestamp: datetime = strawberry.field(description="When the rating was given.")
    rating: int = strawberry.field(description="1 (thumbs up) or -1 (thumbs down).")
    app: str | None = strawberry.field(default=None, description="The app; default `default`.")
    user: UserInput | None = strawberry.field(default=None, description="Who rated.")
    message_id: str | None = strawberry.field(default=None, description="The rated message.")
    chat_id: str | None = strawberry.field(default=None, description="The conversation.")
    model: str | None = strawberry.field(
        default=None, description="The rated model; taken from message_id when absent."
    )
    comment: str | None = strawberry.field(default=None, description="Free text.")


@strawberry.input(description="A conversation's title and tags (replacing earlier ones).")
class ChatInput:
    id: str = strawberry.field(description="The chat id.")
    timestamp: datetime = strawberry.field(description="When this description was made.")
    app: str | None = strawberry.field(default=None, description="The app; default `default`.")
    title: str | None = strawberry.field(default=None, description="The chat's title.")
    tags: list[str] | None = strawberry.field(default=None, description="The chat's tags.")


@strawberry.type(description="A record that was not stored, and why.")
class IngestRejection:
    index: int = strawberry.field(description="Position in the list sent (0-based).")
    id: str | None = strawberry.field(description="The record's id, when it had a usable one.")
    field: str | None = strawberry.field(description="The input field at fault.")
    error: str = strawberry.field(description="What is wrong, as `field: problem`.")


@strawberry.type(
    description="A record whose id an earlier record of the same list had, with different "
    "content: the earlier one was kept, and this one counted as a duplicate and not stored."
)
class IngestConflict:
    index: int = strawberry.field(description="Position in the list sent (0-based).")
    id: str = strawberry.field(description="The id both records carry.")
    first: int = strawberry.field(description="Position of the record kept for this id.")


@strawberry.type(description="What a batch did. Valid records are stored even if others fail.")
class IngestReport:
    accepted: int = strawberry.field(
        description="Messages and ratings stored for the first time (chat records: `described`)."
    )
    duplicates: int = strawberry.field(
        description="Records whose id was already stored, or came earlier in the list."
    )
    described: int = strawberry.field(
        description="Chat records applied (title and tags; the latest timestamp wins). Each is "
        "an upsert, counted every time it is sent, so apart from `accepted`."
    )
    replaced: int = strawberry.field(
        description="Ratings that replaced a stored rating with their id: a rating whose id is "
        "stored replaces it when its timestamp is later, and is a duplicate otherwise."
    )
    rejected: list[IngestRejection] = strawberry.field(description="Records not stored.")
    conflicts: list[IngestConflict] = strawberry.field(
        description="The duplicates whose content differs from the record kept for their id."
    )


_INPUT_TYPES = (MessageInput, FeedbackInput, ChatInput, UserInput, UsageInput)


def _raw(value: Any) -> Any:
    """An input object as the JSON record of events.md (snake_case names, None left out)."""
    if isinstance(value, _INPUT_TYPES):
        return {
            f.name: _raw(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_raw(item) for item in value]
    return value


def _message_record(message: MessageInput) -> object:
    record: dict[str, Any] = _raw(message)
    provider_usage = record.pop("provider_usage", None)
    if provider_usage is not None:
        if "usage" in record:
            return Undecodable("usage: give either usage or providerUsage, not both")
        record["usage"] = provider_usage
    return record


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _graphql_field(field: str, *, provider_usage: bool) -> str:
    """The parser's field path in the names the GraphQL client used."""
    parts = field.split(".")
    if parts[0] == "usage" and provider_usage:
        return ".".join(["providerUsage", *parts[1:]])
    if parts[0] == "metadata":
        return field
    return ".".join(re.sub(r"^[a-z_]+", lambda m: _camel(m.group(0)), p) for p in parts)


def _report(result: IngestResult, provider_usage: set[int]) -> IngestReport:
    def rejection(r: Rejection) -> IngestRejection:
        field = _graphql_field(r.field, provider_usage=r.location.number in provider_usage)
        return IngestRejection(
            index=r.location.number,
            id=r.id,
            field=field or None,
            error=f"{field}: {r.problem}" if field else r.problem,
        )

    return IngestReport(
        accepted=result.accepted,
        duplicates=result.duplicates,
        described=result.described,
        replaced=result.replaced,
        rejected=[rejection(r) for r in result.rejected],
        conflicts=[
            IngestConflict(index=c.location.number, id=c.id, first=c.first.number)
            for c in result.conflicts
        ],
    )


async def _ingest(info: Info, records: list[Any], provider_usage: set[int]) -> IngestReport:
    # The records of the whole request were counted against USAGEQL_MAX_BATCH_RECORDS before
    # anything ran (graphql/limits.py), whatever the aliases.
    ingestor: Ingestor = info.context.request.app.state.ingestor
    raw: list[RawRecord] = [(Location("index", n), r) for n, r in enumerate(records)]
    return _report(
        await ingestor.ingest(raw, info.context.caller(), producer="api"), provider_usage
    )


@strawberry.type
class IngestMutation:
    @strawberry.mutation(
        description="Record messages and LLM requests (idempotent by id).",
        permission_classes=[CanWrite],
    )
    async def record_messages(self, info: Info, messages: list[MessageInput]) -> IngestReport:
        records = [_message_record(m) for m in messages]
        with_provider_usage = {n for n, m in enumerate(messages) if m.provider_usage is not None}
        return await _ingest(info, records, with_provider_usage)

    @strawberry.mutation(
        description="Record thumbs up/down ratings (idempotent by id).",
        permission_classes=[CanWrite],
    )
    async def record_feedback(self, info: Info, feedback: list[FeedbackInput]) -> IngestReport:
        return await _ingest(info, [{"type": "feedback", **_raw(f)} for f in feedback], set())

    @strawberry.mutation(
        description="Set chats' titles and tags; the latest timestamp wins.",
        permission_classes=[CanWrite],
    )
    async def upsert_chats(self, info: Info, chats: list[ChatInput]) -> IngestReport:
        return await _ingest(info, [{"type": "chat", **_raw(c)} for c in chats], set())
