"""Open WebUI databases in the table layouts of its releases, holding one small history.

The layouts are Open WebUI's own, as its migrations leave them (the columns the import reads and
those beside them, with their types):
- "0.3": peewee's tables before 0.3.33 (`chat.chat` TEXT, tags in `chatidtag`, no `feedback`),
  usage in a message's `info`;
- "0.7": Alembic head c440947495f3 (0.6.43 to 0.7.2): `chat.chat` JSON, tags in `chat.meta`,
  `feedback`, usage in `usage` as the provider sent it;
- "0.12": head 0bd252b206fb (0.12.4): `chat_message` beside the document (a copy of its history,
  usage with 0.8's normalised keys added), shared chats in `shared_chat`;
- "0.12-pg": the same on PostgreSQL (every JSON column `json`).
Up to 0.8.x a shared chat is a copy in `chat` owned by 'shared-<chat id>': the 0.3 and 0.7
databases have one, which the import must skip.

The history: Ada (u1) plans a trip in chat c1 (tags travel, work) with gpt-4o, regenerates the
second answer with llama3 (a branch: both answers stay in the history); Bob (u2) asks llama3 in c2
(tag work), which returns no usage. Ada rates gpt-4o's first answer up, Bob rates llama3's answer
down (0.7 and later: 0.3 has no ratings).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, column, create_engine, text
from sqlalchemy import insert as sql_insert
from sqlalchemy import table as sql_table

LAYOUTS = ("0.3", "0.7", "0.12", "0.12-pg")

_V03 = [
    'CREATE TABLE "user" ("id" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL, "email"'
    ' VARCHAR(255) NOT NULL, "role" VARCHAR(255) NOT NULL, "profile_image_url" TEXT NOT NULL,'
    ' "api_key" VARCHAR(255), "created_at" INTEGER NOT NULL, "updated_at" INTEGER NOT NULL,'
    ' "last_active_at" INTEGER NOT NULL, "settings" TEXT, "info" TEXT, "oauth_sub" TEXT)',
    'CREATE TABLE "chat" ("id" VARCHAR(255) NOT NULL, "user_id" VARCHAR(255) NOT NULL, "title"'
    ' TEXT NOT NULL, "chat" TEXT NOT NULL, "share_id" VARCHAR(255), "archived" INTEGER NOT NULL,'
    ' "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL)',
    'CREATE UNIQUE INDEX "chat_id" ON "chat" ("id")',
    'CREATE TABLE "tag" ("id" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL, "user_id"'
    ' VARCHAR(255) NOT NULL, "data" TEXT)',
    'CREATE TABLE "chatidtag" ("id" VARCHAR(255) NOT NULL, "tag_name" VARCHAR(255) NOT NULL,'
    ' "chat_id" VARCHAR(255) NOT NULL, "user_id" VARCHAR(255) NOT NULL, "timestamp" INTEGER NOT'
    " NULL)",
    'CREATE TABLE "migratehistory" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT'
    ' NULL, "migrated_at" DATETIME NOT NULL)',
]

_FEEDBACK = (
    "CREATE TABLE feedback (id TEXT NOT NULL, user_id TEXT, version BIGINT, type TEXT, data JSON,"
    " meta JSON, snapshot JSON, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (id))"
)
_TAG = (
    'CREATE TABLE "tag" (id VARCHAR NOT NULL, name VARCHAR, user_id VARCHAR, meta JSON,'
    " CONSTRAINT pk_id_user_id PRIMARY KEY (id, user_id))"
)
_CHATIDTAG = (
    "CREATE TABLE chatidtag (id VARCHAR NOT NULL, tag_name VARCHAR, chat_id VARCHAR, user_id"
    " VARCHAR, timestamp BIGINT, PRIMARY KEY (id))"
)

_V07 = [
    'CREATE TABLE "user" (id VARCHAR NOT NULL, name VARCHAR, email VARCHAR, role VARCHAR,'
    " profile_image_url TEXT, last_active_at BIGINT, updated_at BIGINT, created_at BIGINT,"
    " username VARCHAR(50), bio TEXT, gender TEXT, date_of_birth DATE, profile_banner_image_url"
    " TEXT, timezone VARCHAR, presence_state VARCHAR, status_emoji VARCHAR, status_message TEXT,"
    " status_expires_at BIGINT, oauth JSON, info JSON, settings JSON, PRIMARY KEY (id))",
    "CREATE TABLE chat (id VARCHAR NOT NULL, user_id VARCHAR, title TEXT, created_at BIGINT,"
    " updated_at BIGINT, share_id TEXT, archived BOOLEAN, chat JSON, pinned BOOLEAN, meta JSON"
    " DEFAULT '{}' NOT NULL, folder_id TEXT, PRIMARY KEY (id), UNIQUE (share_id))",
    _FEEDBACK,
    _TAG,
    _CHATIDTAG,
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT"
    " alembic_version_pkc PRIMARY KEY (version_num))",
]

CHAT_MESSAGE = (
    "CREATE TABLE chat_message (id TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT, role TEXT"
    " NOT NULL, parent_id TEXT, content JSON, output JSON, model_id TEXT, files JSON, sources"
    " JSON, embeds JSON, done BOOLEAN, status_history JSON, error JSON, usage JSON, created_at"
    " BIGINT, updated_at BIGINT, context_summary TEXT, meta JSON, PRIMARY KEY (id),"
    " FOREIGN KEY(chat_id) REFERENCES chat (id) ON DELETE CASCADE)"
)

_V012 = [
    'CREATE TABLE "user" (id VARCHAR NOT NULL, name VARCHAR, email VARCHAR, role VARCHAR,'
    " profile_image_url TEXT, last_active_at BIGINT, updated_at BIGINT, created_at BIGINT,"
    " username VARCHAR(50), bio TEXT, gender TEXT, date_of_birth DATE, profile_banner_image_url"
    " TEXT, timezone VARCHAR, presence_state VARCHAR, status_emoji VARCHAR, status_message TEXT,"
    " status_expires_at BIGINT, oauth JSON, info JSON, settings JSON, scim JSON, variables JSON,"
    " PRIMARY KEY (id))",
    "CREATE TABLE chat (id VARCHAR NOT NULL, user_id VARCHAR, title TEXT, created_at BIGINT,"
    " updated_at BIGINT, share_id TEXT, archived BOOLEAN, chat JSON, pinned BOOLEAN, meta JSON"
    " DEFAULT '{}' NOT NULL, folder_id TEXT, tasks JSON, summary TEXT, last_read_at BIGINT,"
    " current_message_id TEXT, variables JSON, timer_at BIGINT, PRIMARY KEY (id),"
    " UNIQUE (share_id))",
    CHAT_MESSAGE,
    _FEEDBACK,
    _TAG,
    _CHATIDTAG,
    "CREATE TABLE shared_chat (id TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " title TEXT, chat JSON, created_at BIGINT, updated_at BIGINT, PRIMARY KEY (id),"
    " FOREIGN KEY(chat_id) REFERENCES chat (id) ON DELETE CASCADE)",
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT"
    " alembic_version_pkc PRIMARY KEY (version_num))",
]


def _pg(statement: str) -> str:
    """PostgreSQL's spelling of a 0.12.4 statement (JSON columns are `json`)."""
    return statement.replace(" JSON", " json").replace("BOOLEAN", "boolean")


DDL: dict[str, list[str]] = {
    "0.3": _V03,
    "0.7": _V07,
    "0.12": _V012,
    "0.12-pg": [_pg(s) for s in _V012],
}


def epoch(text: str) -> int:
    """Epoch seconds of an ISO 8601 UTC time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@dataclass
class Said:
    """One message of the history, with usage as each generation of Open WebUI kept it."""

    chat: str
    id: str
    parent: str | None
    role: str
    at: str
    content: str
    model: str | None = None
    openai: dict[str, Any] | None = None  # the provider's usage, OpenAI's keys
    ollama: dict[str, Any] | None = None  # Ollama's counts and durations

    def document_entry(self, layout: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "parentId": self.parent,
            "childrenIds": [],
            "role": self.role,
            "content": self.content,
            "timestamp": epoch(self.at),
        }
        if self.role == "user":
            entry["models"] = ["gpt-4o"]
            return entry
        entry.update(model=self.model, done=True)
        usage = self.usage(layout)
        if usage is not None and layout == "0.3":
            entry["info"] = usage
        elif usage is not None:
            entry["usage"] = usage
        return entry

    def usage(self, layout: str) -> dict[str, Any] | None:
        if self.openai is not None:
            if layout == "0.3":  # {...usage, openai: true, usage}
                return {**self.openai, "openai": True, "usage": self.openai}
            kept = dict(self.openai)
        elif self.ollama is not None:
            if layout == "0.3":
                return dict(self.ollama)
            kept = {
                **self.ollama,
                "prompt_tokens": self.ollama["prompt_eval_count"],
                "completion_tokens": self.ollama["eval_count"],
                "total_tokens": self.ollama["prompt_eval_count"] + self.ollama["eval_count"],
                "approximate_total": "0h0m1s",
            }
        else:
            return None
        if layout.startswith("0.12"):  # normalize_usage keeps the keys and adds these
            kept.update(
                input_tokens=kept["prompt_tokens"],
                output_tokens=kept["completion_tokens"],
                total_tokens=kept["prompt_tokens"] + kept["completion_tokens"],
            )
        return kept


PEOPLE = [("u1", "Ada", "ada@example.com"), ("u2", "Bob", "bob@example.com")]
CHATS = {  # id: (owner, title, tags (display names), created, updated)
    "c1": (
        "u1",
        "Trip to Lisbon",
        ["Travel", "Work"],
        "2026-03-01T10:00:00",
        "2026-03-01T10:02:00",
    ),
    "c2": ("u2", "Quarterly report", ["Work"], "2026-03-02T09:00:00", "2026-03-02T09:00:10"),
}
HISTORY = [
    Said("c1", "m1", None, "user", "2026-03-01T10:00:00", "Plan three days in Lisbon"),
    Said("c1", "m2", "m1", "assistant", "2026-03-01T10:00:05", "Day one: Alfama", "gpt-4o",
         openai={"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                 "prompt_tokens_details": {"cached_tokens": 40}}),
    Said("c1", "m3", "m2", "user", "2026-03-01T10:01:00", "Cheaper hotels?"),
    Said("c1", "m4", "m3", "assistant", "2026-03-01T10:01:05", "Try Graça", "gpt-4o",
         openai={"prompt_tokens": 200, "completion_tokens": 50, "total_tokens": 250,
                 "completion_tokens_details": {"reasoning_tokens": 10}}),
    Said("c1", "m5", "m3", "assistant", "2026-03-01T10:02:00", "Try Baixa", "llama3:8b",
         ollama={"prompt_eval_count": 200, "eval_count": 30, "total_duration": 1_500_000_000,
                 "eval_duration": 900_000_000}),
    Said("c2", "m1", None, "user", "2026-03-02T09:00:00", "Summarise Q1"),
    Said("c2", "m2", "m1", "assistant", "2026-03-02T09:00:10", "Q1 grew 4%", "llama3:8b"),
]  # fmt: skip
RATINGS = [  # id, user, chat, message, model, rating, comment, created, updated
    ("f1", "u1", "c1", "m2", "gpt-4o", 1, None, "2026-03-01T10:05:00", "2026-03-01T10:05:00"),
    ("f2", "u2", "c2", "m2", "llama3:8b", -1, "too short", "2026-03-02T09:10:00",
     "2026-03-02T09:10:00"),
]  # fmt: skip


def document(chat: str, layout: str) -> dict[str, Any]:
    """A chat's JSON document as the frontend saves it."""
    _, title, _, created, _ = CHATS[chat]
    said = [s for s in HISTORY if s.chat == chat]
    entries = {s.id: s.document_entry(layout) for s in said}
    for s in said:
        if s.parent is not None:
            entries[s.parent]["childrenIds"].append(s.id)
    current = said[-1].id
    branch = [e for e in entries.values() if e["id"] != "m4" or chat != "c1"]
    return {
        "id": chat,
        "title": title,
        "models": ["gpt-4o"],
        "history": {"messages": entries, "currentId": current},
        "messages": branch,
        "tags": [],
        "timestamp": epoch(created) * 1000,  # milliseconds, as Date.now()
    }


Row = tuple[str, dict[str, Any]]


def rows(layout: str) -> Iterator[Row]:
    """(table, row) of the history in `layout`, JSON values as text."""
    for id, name, email in PEOPLE:
        person: dict[str, Any] = {"id": id, "name": name, "email": email, "role": "user",
                                  "profile_image_url": "/user.png", "created_at": 1,
                                  "updated_at": 1, "last_active_at": 1}  # fmt: skip
        if layout != "0.3":
            person["info"] = "null"
        yield "user", person
    for chat, (owner, title, tags, created, updated) in CHATS.items():
        body = json.dumps(document(chat, layout))
        row: dict[str, Any] = {"id": chat, "user_id": owner, "title": title, "chat": body,
                               "archived": False, "created_at": epoch(created),
                               "updated_at": epoch(updated)}  # fmt: skip
        if layout != "0.3":
            row["meta"] = json.dumps({"tags": [t.lower() for t in tags]})
        yield "chat", row
        if layout == "0.3":
            for tag in tags:
                yield "chatidtag", {"id": f"{chat}-{tag}", "tag_name": tag, "chat_id": chat,
                                    "user_id": owner, "timestamp": epoch(created)}  # fmt: skip
    if layout in {"0.3", "0.7"}:  # the copy of a shared chat, up to 0.8.x
        shared = {"id": "s1", "user_id": "shared-c1", "title": "Trip to Lisbon",
                  "chat": json.dumps(document("c1", layout)), "archived": False,
                  "created_at": epoch("2026-03-01T10:00:00"),
                  "updated_at": epoch("2026-03-01T11:00:00")}  # fmt: skip
        if layout != "0.3":
            shared["meta"] = json.dumps({"tags": ["travel", "work"]})
        yield "chat", shared
    else:
        yield "shared_chat", {"id": "s1", "chat_id": "c1", "user_id": "u1",
                              "title": "Trip to Lisbon", "chat": json.dumps(document("c1", layout)),
                              "created_at": 1, "updated_at": 1}  # fmt: skip
        yield from message_rows(layout)
    if layout != "0.3":
        yield from (("feedback", rating(*r)) for r in RATINGS)


def message_rows(layout: str, *, with_usage: bool = True) -> Iterator[Row]:
    """`chat_message`'s copy of the history (0.8.0's backfill copied no usage)."""
    for s in HISTORY:
        usage = s.usage(layout) if with_usage else None
        yield "chat_message", {
            "id": f"{s.chat}-{s.id}", "chat_id": s.chat, "user_id": CHATS[s.chat][0],
            "role": s.role, "parent_id": s.parent, "content": json.dumps(s.content),
            "model_id": s.model, "done": True, "usage": json.dumps(usage),
            "created_at": epoch(s.at), "updated_at": epoch(s.at),
        }  # fmt: skip


def rating(  # noqa: PLR0917 (a row of RATINGS, in its order)
    id: str, user: str, chat: str, message: str, model: str, value: int, comment: str | None,
    created: str, updated: str,
) -> dict[str, Any]:  # fmt: skip
    """A `feedback` row as the rating buttons write it."""
    data = {"rating": value, "model_id": model, "sibling_model_ids": None, "reason": "",
            "comment": comment, "tags": []}  # fmt: skip
    meta = {"arena": False, "model_id": model, "message_id": message, "message_index": 1,
            "chat_id": chat, "base_models": {model: None}}  # fmt: skip
    return {"id": id, "user_id": user, "version": 0, "type": "rating", "data": json.dumps(data),
            "meta": json.dumps(meta), "snapshot": json.dumps({"chat": {}}),
            "created_at": epoch(created), "updated_at": epoch(updated)}  # fmt: skip


def insert_row(table: str, row: dict[str, Any]) -> Insert:
    """An INSERT of `row` into Open WebUI's `table` (values bound)."""
    return sql_insert(sql_table(table, *(column(name) for name in row))).values(row)


def sqlite_database(path: str, layout: str, extra: Iterable[Row] = ()) -> str:
    """A SQLite file in `layout` holding the history (and `extra` rows); its path."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            for statement in DDL[layout]:
                connection.execute(text(statement))
            for table, row in [*rows(layout), *extra]:
                connection.execute(insert_row(table, row))
    finally:
        engine.dispose()
    return path
