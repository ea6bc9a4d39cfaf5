"""Open WebUI's rows as usageql's records (events.md), for `usageql import --from open-webui`.

What is read, by Open WebUI version (0.1.124 to 0.12.4, checked against their migrations):
- a chat's messages come from its JSON document, `chat.chat.history.messages` (every branch and
  regeneration; the `messages` list beside it is a stale copy of one branch, read only when there
  is no history); the `chat_message` table (0.8.0 and later) is a copy of that history, read only
  for chats whose document has no messages, so the two layouts never count a message twice;
- a message's id is `{chat_id}-{message_id}`, as Open WebUI's `chat_message` table names it, so a
  database upgraded between two imports maps to the same ids;
- tokens from `usage` (0.5.0 and later), else `info` (0.3.x): `input_tokens`/`output_tokens`
  (0.8.0's normalised keys), else OpenAI's `prompt_tokens`/`completion_tokens`, else Ollama's
  `prompt_eval_count`/`eval_count`; cached and reasoning tokens from OpenAI's details; latency
  from Ollama's `total_duration` (nanoseconds);
- tags from `chat.meta.tags`, or for databases older than 0.3.33 from `chatidtag`;
- ratings from `feedback`: `data.rating` (1 or -1), `data.model_id`, `data.comment`, and
  `meta.chat_id`/`meta.message_id`; its `updated_at` is the rating's timestamp, so a changed rating
  replaces the one imported before.

Each function returns plain records; the pipeline validates them like any other, so a value
usageql cannot store is rejected with its field named, never dropped without a word.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from usageql.ingest.parse import MAX_COMMENT, MAX_TITLE
from usageql.ingest.pipeline import Undecodable

Record = dict[str, Any] | Undecodable

_EPOCH_MS = 10_000_000_000  # a message timestamp beyond this is milliseconds (Open WebUI's guard)
_NS_PER_MS = 1_000_000


def decoded(value: object) -> Any:
    """A JSON column's value (NOT_JSON when its text is not JSON): SQLite and asyncpg give the
    text, which may be 'null', what SQLAlchemy writes for None."""
    if isinstance(value, bytes | str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return NOT_JSON
    return value


class _NotJson:
    """Stands for a JSON column whose text is not JSON."""


NOT_JSON = _NotJson()


@dataclass(frozen=True, slots=True)
class Person:
    """A row of Open WebUI's `user` table."""

    id: str
    name: str | None
    email: str | None

    def record(self) -> dict[str, Any]:
        """The `user` object of a record."""
        fields = {"id": self.id, "name": self.name, "email": self.email}
        return {key: value for key, value in fields.items() if value}


@dataclass(frozen=True, slots=True)
class ChatRow:
    """The columns of a `chat` row the import reads (`meta` is None before 0.3.33)."""

    id: str
    user_id: str | None
    title: str | None
    created_at: object
    updated_at: object
    meta: object  # chat.meta, JSON


def message_id(chat_id: str, message: str) -> str:
    """usageql's id of a message: the id of its row in Open WebUI's `chat_message` table."""
    return f"{chat_id}-{message}"


def document_messages(value: object) -> list[Mapping[str, Any]] | None:
    """The messages of a chat's JSON document, decoded (None when it has none)."""
    if not isinstance(value, Mapping):
        return None
    history = value.get("history")
    found: object = history.get("messages") if isinstance(history, Mapping) else None
    if isinstance(found, Mapping) and found:  # keyed by id: an entry without one takes its key
        return [{**m, "id": m.get("id") or key} for key, m in found.items() if _spoken(m)]
    listed = value.get("messages")
    if isinstance(listed, list) and listed:
        return [m for m in listed if _spoken(m)]
    return None


def _spoken(message: object) -> bool:
    """A message with a role (Open WebUI's own copy into `chat_message` skips the others)."""
    return isinstance(message, Mapping) and isinstance(message.get("role"), str)


def stored_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `chat_message` row in the shape of a document's message."""
    return {
        "id": str(row["id"]).removeprefix(f"{row['chat_id']}-"),
        "role": row["role"],
        "model": row["model_id"],
        "content": decoded(row["content"]),
        "usage": decoded(row["usage"]),
        "error": decoded(row["error"]),
        "timestamp": row["created_at"],
    }


def chat_records(
    chat: ChatRow,
    messages: Sequence[Mapping[str, Any]],
    tags: list[str],
    people: Mapping[str, Person],
    app: str,
) -> Iterator[Record]:
    """The message records of a chat, then its chat record (a chat belongs to the user of its
    first message, so its messages come first)."""
    user = _user(chat.user_id, people)
    for message in messages:
        yield _message(chat, message, user, app)
    record: dict[str, Any] = {
        "type": "chat",
        "id": chat.id,
        "app": app,
        "timestamp": chat.updated_at if chat.updated_at is not None else chat.created_at,
        "tags": tags,
    }
    if chat.title:
        record["title"] = chat.title.replace("\x00", "")[:MAX_TITLE]
    yield record


def _user(user_id: str | None, people: Mapping[str, Person]) -> dict[str, Any] | None:
    """The `user` object of a record about `user_id`, with name and email when known."""
    if not user_id:
        return None
    person = people.get(user_id)
    return person.record() if person is not None else {"id": user_id}


def meta_tags(meta: object) -> list[str] | None:
    """`chat.meta.tags` (tag ids, lower case with underscores), None without a `meta`."""
    value = decoded(meta)
    if not isinstance(value, Mapping):
        return None
    tags = value.get("tags")
    return [t for t in tags if isinstance(t, str) and t] if isinstance(tags, list) else []


def tag_id(name: str) -> str:
    """The tag id Open WebUI 0.3.33 gave a tag name when it moved tags into `chat.meta`."""
    return name.replace(" ", "_").lower()


def _message(
    chat: ChatRow, message: Mapping[str, Any], user: dict[str, Any] | None, app: str
) -> Record:
    raw_id = message.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        return Undecodable(f"chat {chat.id!r}: a message without an id (id: {raw_id!r})")
    record: dict[str, Any] = {
        "id": message_id(chat.id, raw_id),
        "app": app,
        "chat_id": chat.id,
        "role": message.get("role"),
        "source": "chat",
        "timestamp": _seconds(message.get("timestamp")) or chat.created_at,
    }
    if user is not None:
        record["user"] = user
    content = _text_of(message.get("content"))
    if content:  # a preview: NUL, which PostgreSQL cannot store, need not cost the message
        record["content"] = content.replace("\x00", "")
    if message.get("role") == "assistant":
        record["model"] = message.get("model")
        if message.get("error"):
            record["status"] = "error"
        tokens = message.get("usage")
        info = message.get("info")
        if not isinstance(tokens, Mapping) and isinstance(info, Mapping):
            nested = info.get("usage")
            tokens = nested if isinstance(nested, Mapping) else info
        if isinstance(tokens, Mapping):
            record["usage"] = usage(tokens)
            duration = tokens.get("total_duration")
            if isinstance(duration, int | float) and not isinstance(duration, bool) and duration:
                record["latency_ms"] = duration / _NS_PER_MS
    return record


def usage(tokens: Mapping[str, Any]) -> dict[str, Any]:
    """Open WebUI's usage (any version, any provider) in usageql's convention: input includes
    cached tokens, output includes reasoning. A value that is not a count is passed on, for the
    pipeline to reject naming it."""
    read: dict[str, Any] = {}
    for ours, names in _TOKEN_KEYS.items():
        for name in names:
            if tokens.get(name) is not None:
                read[ours] = tokens[name]
                break
    cached = _detail(tokens, "prompt_tokens_details", "cached_tokens", read.get("input_tokens"))
    if cached is not None:
        read["cache_read_tokens"] = cached
    reasoning = _detail(
        tokens, "completion_tokens_details", "reasoning_tokens", read.get("output_tokens")
    )
    if reasoning is not None:
        read["reasoning_tokens"] = reasoning
    return read


_TOKEN_KEYS = {
    "input_tokens": ("input_tokens", "prompt_tokens", "prompt_eval_count"),
    "output_tokens": ("output_tokens", "completion_tokens", "eval_count"),
}


def _detail(tokens: Mapping[str, Any], details: str, name: str, within: object) -> int | None:
    """OpenAI's `details.name` count, when it is one and no more than the count it is part of."""
    found = tokens.get(details)
    value = found.get(name) if isinstance(found, Mapping) else None
    return value if _count(value) and _count(within) and value <= within else None


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _seconds(value: object) -> object:
    """A message timestamp: epoch seconds, or milliseconds beyond 10^10; None when absent."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000 if value > _EPOCH_MS else value
    return value or None


def _text_of(content: object) -> str | None:
    """A message's text: a string, or the text blocks of a list (0.12's content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            b["text"] for b in content if isinstance(b, Mapping) and isinstance(b.get("text"), str)
        ]
        return " ".join(texts) or None
    return None


def feedback_record(row: Mapping[str, Any], people: Mapping[str, Person], app: str) -> Record:
    """A `feedback` row as a rating record; its `updated_at` is the rating's timestamp, so a
    rating changed in Open WebUI (same id, later `updated_at`) replaces the one imported."""
    data = decoded(row["data"])
    meta = decoded(row["meta"])
    if not isinstance(data, Mapping):
        return Undecodable("data: expected a JSON object with the rating", id=row["id"])
    meta = meta if isinstance(meta, Mapping) else {}
    rating = data.get("rating")
    record: dict[str, Any] = {
        "type": "feedback",
        "id": row["id"],
        "app": app,
        "timestamp": row["updated_at"] if row["updated_at"] is not None else row["created_at"],
        "rating": int(rating) if isinstance(rating, str) and rating in {"1", "-1"} else rating,
        "model": data.get("model_id") or meta.get("model_id"),
    }
    user = _user(row["user_id"], people)
    if user is not None:
        record["user"] = user
    chat_id, rated = meta.get("chat_id"), meta.get("message_id")
    if isinstance(chat_id, str) and chat_id:
        record["chat_id"] = chat_id
        if isinstance(rated, str) and rated:
            record["message_id"] = message_id(chat_id, rated)
    comment = data.get("comment")
    if isinstance(comment, str) and comment.strip():
        record["comment"] = comment[:MAX_COMMENT]
    return record
