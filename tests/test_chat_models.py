"""The chat panels of a model's overview from `chat_models` (usageql.query.chat_scope), against a
reference in plain Python, from raw events and from the rollups (both must agree with it).

The data: app `g`'s chats sit on the edges of the periods asked, per model: chats active with a
model before a period and after it but not in it (or only with another model in it), chats
whose only message near an edge is in the edge's hour on either side of it, a message sent after
its chat's later ones, and two chats updated at the same moment (ties in byte order). Chat
records set tags before the messages, after them, and late (an older record sent last, which
must not replace the newer one). Then migration 0020 is run again over the same data, pruned.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.factories import message
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import settings, way
from usageql.db.migrate import alembic_config, upgrade
from usageql.db.prune import prune
from usageql.ingest.records import Batch, Chat
from usageql.ingest.write import write_batch
from usageql.query import chat_scope
from usageql.query.model import (
    ChatField,
    ChatSort,
    Dimension,
    Filter,
    Metric,
    Question,
    Source,
)

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

Event = dict[str, Any]


def _at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).isoformat()


# (chat, [(time, model)]), sent in this order, one message per request.
CHATS: list[tuple[str, list[tuple[str, str]]]] = [
    ("gap", [(_at(3, 9, 30), "m-a"), (_at(6, 12), "m-a")]),
    ("gap-other-model", [(_at(3, 8), "m-a"), (_at(4, 15), "m-b"), (_at(6, 8), "m-a")]),
    ("before-start", [(_at(3, 8), "m-a"), (_at(4, 10, 10), "m-a"), (_at(6, 8), "m-a")]),
    ("after-start", [(_at(3, 8), "m-a"), (_at(4, 10, 40), "m-a"), (_at(6, 8), "m-a")]),
    ("before-end", [(_at(3, 8), "m-a"), (_at(5, 10, 20), "m-a"), (_at(6, 8), "m-a")]),
    ("after-end", [(_at(3, 8), "m-a"), (_at(5, 10, 40), "m-a"), (_at(6, 8), "m-b")]),
    ("inside", [(_at(4, 23), "m-a"), (_at(5, 1), "m-b")]),
    ("late", [(_at(5, 9), "m-a"), (_at(4, 9, 59), "m-a")]),
    ("B-tie", [(_at(4, 12), "m-a"), (_at(5, 2), "m-a")]),
    ("a-tie", [(_at(4, 13), "m-b"), (_at(5, 2), "m-a")]),
    ("early", [(_at(1, 5), "m-a")]),
    ("no-model", [(_at(4, 16), "")]),
]
MESSAGES: list[Event] = [
    {
        "id": f"{chat}-{n}",
        "app": "g",
        "chat_id": chat,
        "timestamp": at,
        **({"model": model} if model else {"role": "user"}),
    }
    for chat, sent in CHATS
    for n, (at, model) in enumerate(sent)
]
# Records sent before the messages, then after them (newer ones, and one older: ignored).
RECORDS_BEFORE: list[Event] = [
    {"type": "chat", "app": "g", "id": chat, "timestamp": _at(2, 12), "tags": tags}
    for chat, tags in [("gap", ["x"]), ("after-start", ["x", "y"]), ("late", ["y"])]
]
RECORDS_AFTER: list[Event] = [
    {"type": "chat", "app": "g", "id": chat, "timestamp": at, "tags": tags}
    for chat, at, tags in [
        ("after-start", _at(7, 0), ["z"]),
        ("before-end", _at(7, 0), ["x", "z"]),
        ("inside", _at(7, 0), ["y"]),
        ("B-tie", _at(7, 0), ["x"]),
        ("a-tie", _at(7, 0), ["x", "y"]),
        ("late", _at(2, 0), ["stale"]),  # older than the record sent before: ignored
    ]
]


def tags_of(chat: str) -> list[str]:
    """The latest record's tags."""
    records = [r for r in (*RECORDS_BEFORE, *RECORDS_AFTER) if r["id"] == chat]
    if not records:
        return []
    tags: list[str] = max(records, key=lambda r: str(r["timestamp"]))["tags"]
    return tags


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/events", json=RECORDS_BEFORE)).json()["rejected"] == []
    for event in MESSAGES:  # one at a time: the late one after its chat's later message
        answer = (await client.post("/v1/events", json=[event])).json()
        assert answer["accepted"] == 1, str(answer)
    assert (await client.post("/v1/events", json=RECORDS_AFTER)).json()["rejected"] == []


pytestmark = pytest.mark.usefixtures("loaded")

PERIODS = {
    "partial hours": (_at(4, 10, 30), _at(5, 10, 30)),
    "whole hours": (_at(4, 10), _at(5, 11)),
    "inside one hour": (_at(4, 10, 5), _at(4, 10, 50)),
    "no start": (None, _at(5, 10, 30)),
    "no end": (_at(4, 10, 30), None),
}
MODELS = [["m-a"], ["m-b"], ["m-a", "m-b"]]
QUERY = """{ usage(filter: {apps: ["g"], models: %s%s}) {
  chatTags(limit: 10) { tag count }
  chats(first: %d) { totalCount edges { node { id tags updatedAt messages models } } } } }"""


def in_scope(start: str | None, end: str | None, models: list[str]) -> list[str]:
    return [
        chat
        for chat, sent in CHATS
        if any(
            model in models and (start is None or at >= start) and (end is None or at < end)
            for at, model in sent
        )
    ]


def updated(chat: str) -> str:
    return max(at for name, sent in CHATS if name == chat for at, _ in sent)


@pytest.mark.parametrize("models", MODELS, ids="+".join)
@pytest.mark.parametrize("period", sorted(PERIODS))
async def test_chat_tags_and_the_latest_chats_of_models(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, period: str, models: list[str]
) -> None:
    start, end = PERIODS[period]
    bounds = "".join(
        f', {name}: "{value}"' for name, value in (("from", start), ("to", end)) if value
    )
    expected = in_scope(start, end, models)
    for first in (3, 20):
        with count_statements(engine) as sql:
            usage = (await graphql(client, QUERY % (_list(models), bounds, first)))["usage"]
        assert sql.count == 2, sql  # the chat tags, the page of chats
        # From chat_models when the rollups answer, never from raw events' chats.
        assert all(("chat_models" in s) == (way == "rollups") for s in sql.statements), sql
        counts = Counter(tag for chat in expected for tag in tags_of(chat))
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        assert usage["chatTags"] == [{"tag": t, "count": n} for t, n in ordered][:10]
        page = usage["chats"]
        assert page["totalCount"] == len(expected)
        latest = sorted(expected, key=lambda c: (_negated(updated(c)), c.encode()))[:first]
        assert [edge["node"]["id"] for edge in page["edges"]] == latest
        for node in (edge["node"] for edge in page["edges"]):
            sent = [
                (at, model)
                for at, model in dict(CHATS)[node["id"]]
                if model in models and (start is None or at >= start) and (end is None or at < end)
            ]
            assert node["messages"] == len(sent)
            assert node["models"] == sorted({model for _, model in sent})
            assert node["tags"] == tags_of(node["id"])
            assert datetime.fromisoformat(node["updatedAt"]) == datetime.fromisoformat(
                updated(node["id"])
            )


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def _negated(moment: str) -> float:
    return -datetime.fromisoformat(moment).timestamp()


async def test_the_edges_are_what_they_should_be(way: str) -> None:
    """The reference itself: each edge chat is in or out where its name says."""
    assert in_scope(*PERIODS["partial hours"], ["m-a"]) == [
        "after-start",
        "before-end",
        "inside",
        "late",
        "B-tie",
        "a-tie",
    ]
    assert in_scope(*PERIODS["partial hours"], ["m-b"]) == ["gap-other-model", "inside", "a-tie"]


async def rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT app_id, chat_id, model, first_at, last_at, tags FROM chat_models"
                " ORDER BY app_id, chat_id, model"
            )
        )
        return [tuple(row) for row in result]


async def test_migration_0020_fills_the_same_rows_and_pruned_hours(
    app: Starlette,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    way: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = await rows(engine)
    assert len(kept) == 15
    await _downgrade(engine, "0019")
    with caplog.at_level(logging.INFO, logger="usageql.migrations"):
        await upgrade(engine)
    assert "migration 0020: 15 chat models filled" in caplog.text
    assert await rows(engine) == kept
    # Pruned: rows first or last seen in a pruned hour start at that hour; whole-hour periods
    # are answered as before from the rollups (raw events: refused, they are gone).
    query = QUERY % ('["m-a"]', f', from: "{_at(4, 10)}", to: "{_at(5, 11)}"', 20)
    before = await graphql(client, query)
    await prune(engine, datetime(2026, 3, 5, 9, 30, tzinfo=UTC), wait_seconds=0)
    await _downgrade(engine, "0019")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="usageql.migrations"):
        await upgrade(engine)
    assert "migration 0020: chat models from pruned hours" in caplog.text
    late = {row[1]: row for row in await rows(engine) if row[2] == "m-a"}["late"]
    assert late[3] == datetime(2026, 3, 4, 9, tzinfo=UTC)  # its pruned 09:59, at its hour
    await app.state.horizon.refresh(engine)
    response = (await client.post("/graphql", json={"query": query})).json()
    if way == "rollups":
        assert response["data"] == before
    else:
        assert "which were pruned" in response["errors"][0]["message"]


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


def test_which_questions_read_chat_models(way: str) -> None:
    """Apps, models and time, no drill-down, and for the browser its default order; else None."""
    one_model = Filter(values=((Dimension.MODEL, ("m-a",)),))
    tags = Question(frozenset({Metric.CHATS}), (Dimension.TAG,), source=Source.CHAT_TAGS)
    browser = Question(frozenset(), limit=20, with_total=True, source=Source.CHATS)
    by_title = replace(browser, chat_sort=ChatSort(ChatField.TITLE, descending=False))
    oldest_first = replace(browser, chat_sort=ChatSort(descending=False))
    assert chat_scope.plan(tags, one_model, ()) == chat_scope.ChatScope(one_model, ("m-a",))
    assert chat_scope.plan(browser, one_model, ()) is not None
    with_apps = one_model.and_(Filter(values=((Dimension.APP, ("g",)),)))
    assert chat_scope.plan(browser, with_apps, ()) is not None
    for question in (by_title, oldest_first):
        assert chat_scope.plan(question, one_model, ()) is None
    for other in (
        Filter(),  # no model: the chats of the whole app
        one_model.and_(Filter(values=((Dimension.USER, ("u1",)),))),
        one_model.and_(Filter(values=((Dimension.TAG, ("beta",)),))),
        replace(one_model, tag_contains=("UA:",)),
        replace(one_model, metadata=(("team", ("x",)),)),
    ):
        assert chat_scope.plan(tags, other, ()) is None, other
        assert chat_scope.plan(browser, other, ()) is None, other
    assert chat_scope.plan(tags, one_model, (Dimension.MODEL,)) is None  # a row's chat tags


async def test_a_chat_recorded_with_its_first_messages_needs_no_copy(
    engine: AsyncEngine, way: str
) -> None:
    """The batch's transaction alone gives a new chat's rows its record's tags (before `chats`
    has a row, which describe_batch writes after commit); an older record than the stored one
    does not."""
    recorded = Chat("fresh", datetime(2026, 3, 8, tzinfo=UTC), app="g", tags=("new",))
    older = Chat("late", datetime(2026, 3, 1, tzinfo=UTC), app="g", tags=("old",))
    batch = Batch(
        [message("fresh-1", app="g", chat="fresh"), message("late-9", app="g", chat="late")],
        chats=[recorded, older],
    )
    async with engine.begin() as connection:
        await write_batch(connection, batch)
        written = await connection.execute(
            text(
                "SELECT chat_id, tags, described_at FROM chat_models WHERE app_id = 'g'"
                " AND chat_id IN ('fresh', 'late') AND model = 'gpt-4o' ORDER BY chat_id"
            )
        )
        rows = [tuple(row) for row in written]
    assert rows == [
        ("fresh", ["new"], recorded.timestamp),
        ("late", ["y"], datetime.fromisoformat(_at(2, 12))),  # the stored record is newer
    ]
