"""A rating whose id is stored replaces it when its timestamp is later (a user changed their
mind, as Open WebUI's feedback table records it in place); otherwise it is a duplicate. The rule
holds on every path (POST /v1/events, recordFeedback, `usageql import`) and within one batch, and
a key bound to users replaces only its users' ratings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.app_client import authorized_client
from tests.graphql_client import graphql_counted
from usageql.auth import Role
from usageql.cli import main
from usageql.db.tables import feedback


def rating(id: str, at: str, value: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "feedback",
        "id": id,
        "timestamp": f"2026-03-01T{at}:00Z",
        "model": "gpt-4o",
        "rating": value,
        **fields,
    }


async def stored(engine: AsyncEngine) -> dict[str, tuple[int, str | None, str]]:
    """feedback id: (rating, comment, HH:MM of its timestamp)."""
    query = select(feedback.c.feedback_id, feedback.c.rating, feedback.c.comment, feedback.c.ts)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {id: (value, comment, f"{ts:%H:%M}") for id, value, comment, ts in rows}


def counts(answer: dict[str, Any]) -> tuple[int, int, int]:
    return answer["accepted"], answer["duplicates"], answer["replaced"]


async def test_a_later_rating_replaces_the_stored_one_and_an_earlier_one_does_not(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/v1/events", json=[rating("f", "10:00", 1)])
    assert counts(first.json()) == (1, 0, 0)
    changed = await client.post("/v1/events", json=[rating("f", "10:05", -1, comment="wrong")])
    assert changed.status_code == 200
    assert counts(changed.json()) == (0, 0, 1)
    assert await stored(engine) == {"f": (-1, "wrong", "10:05")}
    # An earlier one, and the same one again, are duplicates and change nothing.
    earlier = await client.post("/v1/events", json=[rating("f", "10:01", 1)])
    again = await client.post("/v1/events", json=[rating("f", "10:05", -1, comment="wrong")])
    # The same timestamp with other content is not later: the stored one stays.
    same_time = await client.post("/v1/events", json=[rating("f", "10:05", 1)])
    for answer in (earlier, again, same_time):
        assert counts(answer.json()) == (0, 1, 0)
        assert answer.json()["conflicts"] == []
    assert await stored(engine) == {"f": (-1, "wrong", "10:05")}


async def test_within_a_batch_the_latest_rating_of_an_id_is_kept(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    batch = [
        rating("f", "10:00", 1),  # 0: replaced by 1 within the batch
        rating("f", "10:05", -1),  # 1: the latest: stored
        rating("f", "10:02", 1),  # 2: earlier than 1: a duplicate, not a conflict
        rating("g", "10:00", 1),  # 3
        rating("g", "10:00", -1),  # 4: same timestamp, other content: a conflict, 3 is kept
    ]
    answer = (await client.post("/v1/events", json=batch)).json()
    assert counts(answer) == (2, 3, 0)
    assert answer["conflicts"] == [{"index": 4, "id": "g", "first": 3}]
    assert await stored(engine) == {"f": (-1, None, "10:05"), "g": (1, None, "10:00")}
    # The same batch again: the stored ratings are the latest; nothing changes.
    again = (await client.post("/v1/events", json=batch)).json()
    assert counts(again) == (0, 5, 0)
    # A later batch with two later versions: the latest replaces the stored one, once.
    later = [rating("f", "11:00", 1), rating("f", "11:30", -1, comment="no")]
    assert counts((await client.post("/v1/events", json=later)).json()) == (0, 1, 1)
    assert (await stored(engine))["f"] == (-1, "no", "11:30")


async def test_record_feedback_reports_replaced_ratings(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    mutation = """mutation($f: [FeedbackInput!]!) {
      recordFeedback(feedback: $f) { accepted duplicates replaced rejected { index error } } }"""

    def graphql_rating(at: str, value: int) -> dict[str, Any]:
        record = rating("f", at, value)
        del record["type"]
        return record

    # price book, apps, the upsert
    first = await graphql_counted(client, engine, mutation, 3, {"f": [graphql_rating("10:00", 1)]})
    assert first["recordFeedback"] == {
        "accepted": 1, "duplicates": 0, "replaced": 0, "rejected": []
    }  # fmt: skip
    later = await graphql_counted(client, engine, mutation, 3, {"f": [graphql_rating("12:00", -1)]})
    assert later["recordFeedback"] == {
        "accepted": 0, "duplicates": 0, "replaced": 1, "rejected": []
    }  # fmt: skip
    assert await stored(engine) == {"f": (-1, None, "12:00")}


def test_import_reports_replaced_ratings(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ratings.ndjson"
    path.write_text(json.dumps(rating("f", "10:00", 1)) + "\n")
    assert main(["import", str(path)]) == 0
    path.write_text(json.dumps(rating("f", "10:30", -1)) + "\n")
    assert main(["import", str(path)]) == 0
    err = capsys.readouterr().err
    assert ": 0 stored, 0 already stored, 1 rating replaced by a later one," in err


async def test_a_user_bound_key_replaces_only_its_users_ratings(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    messages = [
        {
            "id": "m-u1",
            "timestamp": "2026-03-01T09:00:00Z",
            "app": "a",
            "model": "gpt-4o",
            "user": {"id": "u1"},
        },
        {
            "id": "m-v",
            "timestamp": "2026-03-01T09:00:00Z",
            "app": "a",
            "model": "gpt-4o",
            "user": {"id": "v"},
        },
    ]
    setup = [
        *messages,
        rating("f-u1", "10:00", 1, app="a", user={"id": "u1"}, message_id="m-u1"),
        rating("f-v", "10:00", 1, app="a", user={"id": "v"}, message_id="m-v"),
    ]
    answer = (await client.post("/v1/events", json=setup)).json()
    assert answer["accepted"] == 4, answer["rejected"]
    async with authorized_client(app, Role.INGEST, users=["u1"]) as key:
        # v's rating id, guessed, with u1 as its user and u1's message: not replaced.
        hijack = rating("f-v", "11:00", -1, app="a", user={"id": "u1"}, message_id="m-u1")
        own = rating("f-u1", "11:00", -1, app="a", user={"id": "u1"}, message_id="m-u1")
        answer = (await key.post("/v1/events", json=[hijack, own])).json()
    assert counts(answer) == (0, 1, 1)
    assert await stored(engine) == {"f-u1": (-1, None, "11:00"), "f-v": (1, None, "10:00")}
