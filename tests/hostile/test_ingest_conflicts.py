"""An id repeated within one batch with different content is not lost silently: the first record
is kept, the later ones count as duplicates, and those that differ are listed under `conflicts`
on every path (POST /v1/events, the GraphQL mutations, `usageql import`). An id already stored
stays a plain duplicate: stored content is not compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql_counted
from usageql.cli import main
from usageql.db.tables import feedback, messages

WHEN = "2026-03-01T12:00:00Z"
NDJSON = {"content-type": "application/x-ndjson"}


def request(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "timestamp": WHEN, "model": "gpt-4o", **fields}


def rating(id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "feedback", "id": id, "timestamp": WHEN, "model": "gpt-4o", "rating": 1,
            **fields}  # fmt: skip


BATCH = [
    request("a", usage={"input_tokens": 10}),  # 1: kept
    request("b"),  # 2
    request("a", usage={"input_tokens": 10}),  # 3: the same record again: a plain duplicate
    request("a", usage={"input_tokens": 99}),  # 4: other content: a conflict
    request("a", app="other", usage={"input_tokens": 99}),  # 5: another app's id a
    request("b", metadata={"x": True}),  # 6: conflict with 2 (no metadata)
    request("c", metadata={"x": True}),  # 7
    request("c", metadata={"x": 1}),  # 8: true and 1 are different JSON
    rating("r", message_id="a"),  # 9: kept
    rating("r", message_id="a", rating=-1),  # 10: a conflicting rating
    {"type": "chat", "id": "a", "timestamp": WHEN, "title": "t1"},  # 11: chats are upserts,
    {"type": "chat", "id": "a", "timestamp": WHEN, "title": "t2"},  # 12: each one is described
]


async def _stored(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        tokens = select(messages.c.app_id, messages.c.message_id, messages.c.input_tokens)
        ratings = select(feedback.c.feedback_id, feedback.c.rating)
        return {
            "messages": sorted(tuple(row) for row in await connection.execute(tokens)),
            "feedback": sorted(tuple(row) for row in await connection.execute(ratings)),
        }


KEPT = {
    "messages": [
        ("default", "a", 10),
        ("default", "b", 0),
        ("default", "c", 0),
        ("other", "a", 99),
    ],
    "feedback": [("r", 1)],
}


async def test_ndjson_lists_conflicts_by_line_and_a_retry_answers_the_same(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in BATCH)
    first = await client.post("/v1/events", content=body, headers=NDJSON)
    conflicts = [
        {"line": 4, "id": "a", "first": 1},
        {"line": 6, "id": "b", "first": 2},
        {"line": 8, "id": "c", "first": 7},
        {"line": 10, "id": "r", "first": 9},
    ]
    answer = {
        "accepted": 5,
        "duplicates": 5,
        "described": 2,
        "replaced": 0,
        "rejected": [],
        "conflicts": conflicts,
    }
    assert first.json() == answer
    assert await _stored(engine) == KEPT
    again = await client.post("/v1/events", content=body, headers=NDJSON)
    # The chat records are applied again; nothing else is stored again.
    assert again.json() == {**answer, "accepted": 0, "duplicates": 10}
    assert await _stored(engine) == KEPT


async def test_a_json_array_lists_them_by_index(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post("/v1/events", json=BATCH[:4])
    assert response.json()["conflicts"] == [{"index": 3, "id": "a", "first": 0}]
    assert response.json()["duplicates"] == 2


async def test_an_id_already_stored_is_a_plain_duplicate(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/v1/events", json=[request("a", model="gpt-4o")])
    response = await client.post("/v1/events", json=[request("a", model="o3")])
    assert response.json() == {
        "accepted": 0, "duplicates": 1, "described": 0,
        "replaced": 0, "rejected": [], "conflicts": []
    }  # fmt: skip


async def test_repeats_of_a_rejected_record_are_rejected_with_it(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    unrated = {"type": "feedback", "id": "f", "timestamp": WHEN, "message_id": "gone", "rating": 1}
    response = await client.post("/v1/events", json=[unrated, unrated, {**unrated, "rating": -1}])
    repeat = "id: repeats the id of index 0, which was rejected; a batch stores one record per id"
    assert response.status_code == 422
    assert response.json() == {
        "accepted": 0,
        "duplicates": 0,
        "described": 0, "replaced": 0,
        "rejected": [
            {"index": 0, "id": "f", "error": "model: required, and message_id 'gone' names no"
             " stored message with a model"},
            {"index": 1, "id": "f", "error": repeat},
            {"index": 2, "id": "f", "error": repeat},
        ],
        "conflicts": [],
    }  # fmt: skip


async def test_record_messages_reports_conflicts(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    mutation = """mutation($m: [MessageInput!]!) { recordMessages(messages: $m) {
      accepted duplicates rejected { index } conflicts { index id first } } }"""
    batch = [
        {"id": "a", "timestamp": WHEN, "model": "gpt-4o"},
        {"id": "a", "timestamp": WHEN, "model": "gpt-4o"},
        {"id": "a", "timestamp": WHEN, "model": "o3"},
    ]
    # price book, the savepoint around the COPY and its release (the ids are unique once the
    # repeats are set aside, so the fast path copies them), apps, the compaction lock, rollups
    data = await graphql_counted(client, engine, mutation, 6, {"m": batch})
    assert data["recordMessages"] == {
        "accepted": 1,
        "duplicates": 2,
        "rejected": [],
        "conflicts": [{"index": 2, "id": "a", "first": 0}],
    }


def test_import_lists_conflicts(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repeats.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in BATCH))
    assert main(["import", str(path)]) == 0
    err = capsys.readouterr().err
    assert ": 5 stored, 5 already stored, 2 chat records applied, 0 rejected, 4 conflicting" in err
    assert (
        f"  {path} line 4 (id a): not stored, line 1 has this id with other content and was kept"
    ) in err
    assert f"  {path} line 10 (id r): not stored, line 9 " in err
