"""Normalised records, as the writer stores them (after parsing and pricing).

Message, Feedback and Chat are plain (not frozen) slotted dataclasses: a frozen dataclass sets each
field through object.__setattr__, which costs microseconds per record at ingestion rates. Nothing
changes a record after parsing except pricing, which fills in `Message.cost`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

DEFAULT_APP = "default"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts in usageql's convention: `input` includes cache reads and cache writes,
    `output` includes reasoning tokens, and total = input + output."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        """All tokens of the request."""
        return self.input + self.output


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who a record is about; name and email update the profile when given."""

    id: str
    name: str | None = None
    email: str | None = None


@dataclass(slots=True)
class Message:
    """One message; an assistant message is one LLM request."""

    id: str
    timestamp: datetime
    app: str = DEFAULT_APP
    role: str = "assistant"
    chat_id: str | None = None
    user: UserRef | None = None
    model: str | None = None
    provider: str | None = None
    source: str | None = None
    api_key: str | None = None
    status: str = "success"
    error_type: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost: Decimal | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)
    content_preview: str | None = None
    producer: str | None = None  # the receiver it came through (ParseOptions.producer)


@dataclass(slots=True)
class Feedback:
    """A thumbs up (1) or down (-1) on a model's answer."""

    id: str
    timestamp: datetime
    model: str | None  # None: taken from the rated message (message_id) when it is written
    rating: int
    app: str = DEFAULT_APP
    user: UserRef | None = None
    message_id: str | None = None
    chat_id: str | None = None
    comment: str | None = None


@dataclass(slots=True)
class Chat:
    """A conversation's descriptive fields; tags replace the previous set."""

    id: str
    timestamp: datetime
    app: str = DEFAULT_APP
    title: str | None = None
    tags: tuple[str, ...] = ()


def latest_chat_records(records: Iterable[Chat]) -> dict[tuple[str, str], Chat]:
    """The latest record of each (app, chat) (of two at one time, the later sent)."""
    latest: dict[tuple[str, str], Chat] = {}
    for record in records:
        key = (record.app, record.id)
        known = latest.get(key)
        if known is None or record.timestamp >= known.timestamp:
            latest[key] = record
    return latest


@dataclass(slots=True)
class Batch:
    """Records to write together, in one transaction."""

    messages: list[Message] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    chats: list[Chat] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages) + len(self.feedback) + len(self.chats)


MESSAGE_COLUMNS = (
    "app_id", "message_id", "ts", "role", "chat_id", "user_id", "model", "provider", "source",
    "api_key", "status", "error_type", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost", "latency_ms", "ttft_ms", "tags", "metadata",
    "content_preview", "producer",
)  # fmt: skip
"""The columns of `messages` the writer fills (the others have defaults), in a MessageRow."""

MessageRow = tuple[Any, ...]
"""A message as the writer stores it: the values of MESSAGE_COLUMNS, in that order. A plain
tuple, as COPY takes it: read its values by name, with `row_values`."""


def row_values(*names: str) -> Callable[[MessageRow], Any]:
    """A function giving the values of the named columns of a message row, in a tuple (or the
    value itself for one name)."""
    return itemgetter(*map(MESSAGE_COLUMNS.index, names))
