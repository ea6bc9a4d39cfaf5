"""`usageql import --from open-webui`: an Open WebUI database of each layout (the releases are
named in tests/openwebui_layouts.py) imported twice, then asked Open WebUI's admin analytics
questions (../shared/seeds/000_*.txt) through GraphQL; nightly re-runs; databases upgraded between
runs; bad rows reported, not dropped."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Insert, make_url, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from tests.conftest import DatabaseFactory
from tests.graphql_client import ask_usage
from tests.openwebui_layouts import (
    CHAT_MESSAGE,
    DDL,
    LAYOUTS,
    Row,
    epoch,
    insert_row,
    message_rows,
    rating,
    rows,
    sqlite_database,
)
from usageql.cli import main

MARCH = 'from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"'


async def source_of(layout: str, tmp_path: Path, databases: DatabaseFactory) -> str:
    """An Open WebUI database in `layout`: a SQLite file's path, or a PostgreSQL URL."""
    if not layout.endswith("-pg"):
        return sqlite_database(str(tmp_path / "webui.db"), layout)
    url = await databases.create()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in DDL[layout]:
                await connection.execute(text(statement))
            for table, row in rows(layout):
                await connection.execute(insert_row(table, row))
    finally:
        await engine.dispose()
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run(capsys: pytest.CaptureFixture[str], *args: str, status: int = 0) -> str:
    """`usageql import ...` in a thread of its own (the command runs its own event loop); its
    summary. It exits with 1 when it rejected records."""
    exited = await asyncio.to_thread(main, ["import", *args])
    err = capsys.readouterr().err
    assert exited == status, err
    return err


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_each_layout_imports_once_and_answers_open_webuis_questions(
    *,
    layout: str,
    app: Starlette,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    env: str,
    databases: DatabaseFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = await source_of(layout, tmp_path, databases)
    ratings = 0 if layout == "0.3" else 2
    first = await run(capsys, "--from", "open-webui", source)
    # 7 messages (the shared copy skipped), 2 chat records, the ratings.
    assert f": {7 + ratings} stored, 0 already stored, 2 chat records applied, 0 rejected" in first
    rows_read = 2 + ratings  # the progress line counts chats and ratings
    assert f"import: chats and ratings {rows_read}/{rows_read} (100%" in first
    again = await run(capsys, "--from", "open-webui", source)
    assert f": 0 stored, {7 + ratings} already stored, 2 chat records applied, 0 rejected" in again
    await app.state.first_events.refresh(app.state.database.read_engine)

    # Summary: messages (Open WebUI counts its assistant messages: requests), chats, models, users.
    usage = await ask_usage(
        client,
        engine,
        "{ usage { summary { messages requests chats models users } } }",
        statements=1,
    )
    assert usage["summary"] == {"messages": 7, "requests": 4, "chats": 2, "models": 2, "users": 2}

    # Per model: messages, tokens (input includes cached tokens), users, chats.
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { models(orderBy: {metric: TOTAL_TOKENS}) { model metrics {
            requests users chats latencyMs { p50 }
            tokens { input output total cacheRead reasoning } } } } }"""
        % MARCH,
        statements=1,
    )
    assert [(m["model"], m["metrics"]) for m in usage["models"]] == [
        ("gpt-4o", {"requests": 2, "users": 1, "chats": 1, "latencyMs": {"p50": None},
                    "tokens": {"input": 300, "output": 70, "total": 370, "cacheRead": 40,
                               "reasoning": 10}}),
        ("llama3:8b", {"requests": 2, "users": 2, "chats": 2, "latencyMs": {"p50": 1500.0},
                       "tokens": {"input": 200, "output": 30, "total": 230, "cacheRead": 0,
                                  "reasoning": 0}}),
    ]  # fmt: skip

    # Per model and day (the hours of Open WebUI's chart too).
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { models { model usage {
            timeseries(granularity: DAY, fillGaps: false) { start metrics { requests } } } } } }"""
        % MARCH,
        statements=2,
    )
    assert {
        m["model"]: [(b["start"][:10], b["metrics"]["requests"]) for b in m["usage"]["timeseries"]]
        for m in usage["models"]
    } == {"gpt-4o": [("2026-03-01", 2)], "llama3:8b": [("2026-03-01", 1), ("2026-03-02", 1)]}

    # Per user, with name and email, most messages first.
    usage = await ask_usage(
        client,
        engine,
        """{ usage { users(first: 5, orderBy: {metric: REQUESTS}) { edges { node {
            user { id name email } metrics { requests tokens { total } } } } } } }""",
        statements=2,
    )
    assert [edge["node"] for edge in usage["users"]["edges"]] == [
        {"user": {"id": "u1", "name": "Ada", "email": "ada@example.com"},
         "metrics": {"requests": 3, "tokens": {"total": 600}}},
        {"user": {"id": "u2", "name": "Bob", "email": "bob@example.com"},
         "metrics": {"requests": 1, "tokens": {"total": 0}}},
    ]  # fmt: skip

    # A model's chats: the chat browser, with the first user message and the title.
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {models: ["llama3:8b"]}) { chats(first: 10) {
            edges { node { id title user { name } firstMessage } } totalCount } } }""",
        statements=3,
    )
    assert usage["chats"]["totalCount"] == 2
    assert [e["node"] for e in usage["chats"]["edges"]] == [
        {"id": "c2", "title": "Quarterly report", "user": {"name": "Bob"},
         "firstMessage": "Summarise Q1"},
        {"id": "c1", "title": "Trip to Lisbon", "user": {"name": "Ada"},
         "firstMessage": "Plan three days in Lisbon"},
    ]  # fmt: skip

    # A model's overview: daily won/lost with gaps filled, and its chats' top tags.
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {models: ["llama3:8b"], from: "2026-03-01T00:00:00Z",
              to: "2026-03-03T00:00:00Z"}) {
            feedback(granularity: DAY) { start positive negative }
            chatTags(limit: 10) { tag count } } }""",
        statements=2,
    )
    lost = 1 if ratings else 0
    assert [(b["start"][:10], b["positive"], b["negative"]) for b in usage["feedback"]] == [
        ("2026-03-01", 0, 0),
        ("2026-03-02", 0, lost),
    ]
    assert usage["chatTags"] == [{"tag": "work", "count": 2}, {"tag": "travel", "count": 1}]

    # Every message keeps where it came from.
    usage = await ask_usage(
        client,
        engine,
        "{ usage { breakdown(by: [PRODUCER]) { keys { value } metrics { messages } } } }",
        statements=1,
    )
    assert usage["breakdown"] == [{"keys": [{"value": "open-webui"}], "metrics": {"messages": 7}}]


def test_an_upgrade_between_imports_counts_each_message_once(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Imported at 0.7, then upgraded to 0.8 (whose migration copies every message into
    chat_message, without usage): the same messages, the same ids."""
    path = sqlite_database(str(tmp_path / "webui.db"), "0.7")
    assert main(["import", "--from", "open-webui", path]) == 0
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(CHAT_MESSAGE)
        for table, row in message_rows("0.7", with_usage=False):
            connection.execute(*_compiled(insert_row(table, row)))
        connection.commit()
    assert main(["import", "--from", "open-webui", path]) == 0
    err = capsys.readouterr().err.splitlines()
    assert ": 0 stored, 9 already stored, 2 chat records applied, 0 rejected" in err[-1]


def _compiled(statement: Insert) -> tuple[str, dict[str, Any]]:
    """SQLite's text of an INSERT and its bound values, for the sqlite3 module."""
    compiled = statement.compile(dialect=sqlite.dialect(paramstyle="named"))
    return str(compiled), compiled.params


def _changes(path: str) -> None:
    """A day in Open WebUI: c1 renamed with a new exchange, Bob changes his mind (the same
    rating row, a later updated_at), Ada rates again, c2 is deleted."""
    with closing(sqlite3.connect(path)) as connection:
        (body,) = connection.execute("SELECT chat FROM chat WHERE id = 'c1'").fetchone()
        document = json.loads(body)
        document["history"]["messages"]["m6"] = {
            "id": "m6", "parentId": "m5", "childrenIds": [], "role": "assistant", "model": "gpt-4o",
            "content": "Also Belém", "timestamp": epoch("2026-03-03T08:00:00"),
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }  # fmt: skip
        connection.execute(
            "UPDATE chat SET chat = ?, title = ?, updated_at = ? WHERE id = 'c1'",
            (json.dumps(document), "Lisbon, final", epoch("2026-03-03T08:00:00")),
        )
        changed = rating("f2", "u2", "c2", "m2", "llama3:8b", 1, "fine after all",
                         "2026-03-02T09:10:00", "2026-03-03T09:00:00")  # fmt: skip
        connection.execute(
            "UPDATE feedback SET data = ?, meta = ?, updated_at = ? WHERE id = 'f2'",
            (changed["data"], changed["meta"], changed["updated_at"]),
        )
        added = rating("f3", "u1", "c1", "m6", "gpt-4o", 1, None, "2026-03-03T08:05:00",
                       "2026-03-03T08:05:00")  # fmt: skip
        connection.execute(*_compiled(insert_row("feedback", added)))
        connection.execute("DELETE FROM chat WHERE id = 'c2'")
        connection.commit()


async def test_a_nightly_run_adds_what_is_new_and_updates_what_changed(
    *,
    app: Starlette,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = sqlite_database(str(tmp_path / "webui.db"), "0.7")
    await run(capsys, "--from", "open-webui", path)
    _changes(path)
    nightly = await run(capsys, "--from", "open-webui", path)
    # m6 and f3 new; the other 5 messages of c1 and f1 stored; f2 replaced; c1 described.
    assert (
        ": 2 stored, 6 already stored, 1 rating replaced by a later one, 1 chat record" in nightly
    )
    await app.state.first_events.refresh(app.state.database.read_engine)
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { summary { requests }
            feedback(granularity: MONTH) { positive negative }
            chats(first: 5) { edges { node { id title } } } } }"""
        % MARCH,
        statements=3,
    )
    # c2 was deleted in Open WebUI and stays here; Bob's rating is now up.
    assert usage["summary"] == {"requests": 5}
    assert usage["feedback"] == [{"positive": 3, "negative": 0}]
    assert [e["node"] for e in usage["chats"]["edges"]] == [
        {"id": "c1", "title": "Lisbon, final"},
        {"id": "c2", "title": "Quarterly report"},
    ]


def _extra_0_12() -> Iterator[Row]:
    """A chat whose document has no history (its messages only in chat_message), and a chat
    whose document is not JSON."""
    yield "chat", {"id": "c3", "user_id": "u1", "title": "Stored apart", "chat": "{}",
                   "created_at": epoch("2026-03-04T10:00:00"),
                   "updated_at": epoch("2026-03-04T10:00:00"), "meta": "{}"}  # fmt: skip
    for id, role, model, usage, said in [
        ("c3-a", "user", None, None, "said c3-a"),
        # A NUL (PostgreSQL stores none) in a preview does not cost the message.
        ("c3-b", "assistant", "gpt-4o", {"input_tokens": 7, "output_tokens": 3}, "said\x00 b"),
        ("c3-c", "assistant", "gpt-4o", {"prompt_tokens": "many"}, "said c3-c"),
    ]:
        yield "chat_message", {
            "id": id, "chat_id": "c3", "user_id": "u1", "role": role, "model_id": model,
            "content": json.dumps([{"type": "text", "text": said}]),
            "usage": json.dumps(usage), "created_at": epoch("2026-03-04T10:00:00"),
            "updated_at": epoch("2026-03-04T10:00:00"),
        }  # fmt: skip
    yield "chat", {"id": "c4", "user_id": "u1", "title": "Broken", "chat": "{not json",
                   "created_at": epoch("2026-03-01T10:00:00"),
                   "updated_at": epoch("2026-03-01T10:00:00"), "meta": "{}"}  # fmt: skip


async def test_chat_message_rows_serve_a_chat_without_history_and_bad_rows_are_reported(
    *,
    app: Starlette,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = sqlite_database(str(tmp_path / "webui.db"), "0.12", _extra_0_12())
    err = await run(capsys, "--from", "open-webui", path, status=1)
    assert ": 11 stored, 0 already stored, 3 chat records applied, 2 rejected" in err
    assert f"{path} index 11 (id c3-c): usage.input_tokens: " in err
    assert (
        "(id c4): chat: its JSON document is not valid JSON, and it has no chat_message rows" in err
    )
    await app.state.first_events.refresh(app.state.database.read_engine)
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {chats: ["c3"]}) { summary { messages tokens { total } }
            chats(first: 1) { edges { node { firstMessage } } } } }""",
        statements=3,
    )
    assert usage["summary"] == {"messages": 2, "tokens": {"total": 10}}
    assert usage["chats"]["edges"] == [{"node": {"firstMessage": "said c3-a"}}]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["nowhere.db"], "nowhere.db: no such file; give Open WebUI's SQLite file"),
        (["{tmp}"], "is a directory; give Open WebUI's SQLite file"),
        (["{tmp}/other.db"], "other.db: not an Open WebUI database: no chat table (notes)"),
        (["{tmp}/text.db"], "text.db: file is not a database"),
        (["a.db", "b.db"], "--from open-webui: give one database"),
        (["--format", "csv", "a.db"], "--format: only for files of records"),
    ],
)
def test_a_source_that_is_not_an_open_webui_database_is_refused_clearly(
    args: list[str], error: str, env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE notes (id TEXT)")
    other.close()
    (tmp_path / "text.db").write_text("hello")
    argv = ["import", "--from", "open-webui", *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    assert main(argv) == 1
    assert error in capsys.readouterr().err


def test_app_names_where_the_records_go_and_only_with_open_webui(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sqlite_database(str(tmp_path / "webui.db"), "0.12")
    assert main(["import", "--from", "open-webui", "--app", "team-chat", path]) == 0
    assert main(["import", "--app", "team-chat", path]) == 1
    err = capsys.readouterr().err
    assert "--app: only with --from open-webui" in err


async def test_a_postgresql_source_that_cannot_be_reached_is_named_without_its_password(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "postgresql://owui:secret@127.0.0.1:1/webui"
    assert await asyncio.to_thread(main, ["import", "--from", "open-webui", source]) == 1
    err = capsys.readouterr().err
    assert "usageql: error: postgresql+asyncpg://owui:***@127.0.0.1:1/webui: " in err
    assert "secret" not in err
