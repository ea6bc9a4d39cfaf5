"""Records a writer did not store, and how to recognise PostgreSQL refusing one record.

Validation (usageql.ingest.parse) rejects every value the database could refuse. Should PostgreSQL
still refuse one (a data exception, SQLSTATE class 22, or an integrity constraint, class 23), the
writer splits its batch until that record is alone (usageql.ingest.write) and rejects it with
PostgreSQL's own words, so the rest of the batch is stored and a retry answers the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from asyncpg.exceptions import PostgresError

RecordKind = Literal["message", "feedback", "chat"]

# Columns named differently from the record fields they store.
_FIELDS = {
    "app_id": "app",
    "message_id": "id",
    "feedback_id": "id",
    "ts": "timestamp",
    "user_id": "user",
    "content_preview": "content",
    **{
        f"{kind}_tokens": f"usage.{kind}_tokens"
        for kind in ("input", "output", "cache_read", "cache_write", "reasoning")
    },
}
# COPY names the column in its context: "COPY messages, line 3, column cost".
_COPIED_COLUMN = re.compile(r"\bcolumn (\w+)")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record of a batch that was not stored: its kind and position among the batch's records
    of that kind, the field at fault ('' when it is the record as a whole) and the problem."""

    kind: RecordKind
    position: int
    field: str
    problem: str

    def shifted(self, messages: int, feedback: int) -> Refusal:
        """The same refusal in a batch whose records of each kind start `messages` and
        `feedback` places later (a half of a split batch, placed back in the whole)."""
        offset = {"message": messages, "feedback": feedback}.get(self.kind, 0)
        return replace(self, position=self.position + offset)


def database_refusal(error: BaseException) -> tuple[str, str] | None:
    """(field, problem) when `error` is PostgreSQL refusing the values written (SQLSTATE class
    22 or 23); None for anything else (a lost connection, a timeout), which fails the batch."""
    refused = _postgres_error(error)
    if refused is None or refused.sqlstate[:2] not in {"22", "23"}:
        return None
    column = refused.column_name or _copied_column(refused.context)
    return _FIELDS.get(column, column), f"the database refused this record: {refused.message}"


def _postgres_error(error: BaseException | None) -> PostgresError | None:
    """PostgreSQL's error under `error`: itself (asyncpg, as COPY raises it) or its cause (as
    SQLAlchemy wraps it)."""
    while error is not None:
        if isinstance(error, PostgresError):
            return error
        error = error.__cause__
    return None


def _copied_column(context: str | None) -> str:
    found = _COPIED_COLUMN.search(context or "")
    return found.group(1) if found else ""
