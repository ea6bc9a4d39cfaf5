"""Small builders of records for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from usageql.ingest.records import MESSAGE_COLUMNS, Message, Usage, UserRef
from usageql.ingest.write import _message_row

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def message(
    id: str,
    *,
    app: str = "default",
    minutes: int = 0,
    role: str = "assistant",
    user: str | None = None,
    chat: str | None = None,
    model: str | None = "gpt-4o",
    usage: Usage | None = None,
    name: str | None = None,
    email: str | None = None,
) -> Message:
    """A message at T0 + `minutes`."""
    return Message(
        id=id,
        timestamp=T0 + timedelta(minutes=minutes),
        app=app,
        role=role,
        user=None if user is None else UserRef(id=user, name=name, email=email),
        chat_id=chat,
        model=model if role == "assistant" else None,
        usage=usage or Usage(),
    )


def rows_before_0016(records: list[Message]) -> list[dict[str, Any]]:
    """The rows of `messages` as a writer before migration 0016 stored them (no producer), for
    tests that fill a database at an older revision."""
    return [
        {
            **{
                name: value
                for name, value in zip(MESSAGE_COLUMNS, _message_row(r), strict=True)
                if name != "producer"
            },
            "metadata": r.metadata,
        }
        for r in records
    ]
