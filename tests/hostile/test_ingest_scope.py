"""A key bound to users writes only its users' data: it describes only chats they own and rates
only their messages, through POST /v1/events and the GraphQL mutations alike. What it is refused
reads the same whether the chat or message is absent or someone else's, so nothing is learnt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.app_client import authorized_client
from tests.graphql_client import graphql_counted
from usageql.auth import Role
from usageql.db.tables import apps, chats, feedback, messages, users

WHEN = "2026-03-01T12:00:00Z"
NOT_OWNED = (
    "id: names no chat of this API key's users: send the chat's messages (with its user) first;"
    " a chat belongs to the user of its first message"
)
NOT_THEIRS = "message_id: names no stored message of this API key's users"


def msg(id: str, user: str | None, chat: str | None = None, **fields: Any) -> dict[str, Any]:
    record = {"id": id, "timestamp": WHEN, "app": "a", "model": "gpt-4o", **fields}
    if user is not None:
        record["user"] = user
    if chat is not None:
        record["chat_id"] = chat
    return record


def chat(id: str, title: str, minutes: int = 0) -> dict[str, Any]:
    return {"type": "chat", "id": id, "app": "a", "title": title,
            "timestamp": f"2026-03-01T12:{minutes:02}:00Z"}  # fmt: skip


def rating(id: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "feedback", "id": id, "app": "a", "timestamp": WHEN, "user": "u1",
            "message_id": message_id, "rating": 1, **fields}  # fmt: skip


async def _rows(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every row an admin's answers come from (apps, users, chats, ratings, messages), each
    as its repr: rows hold lists (tags) and dicts (metadata), which do not hash."""
    async with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in await connection.execute(select(table)))
            for table in (apps, users, chats, feedback, messages)
        }


@pytest.fixture
async def others(client: httpx.AsyncClient) -> None:
    """App a: v's chat (titled), a chat stored without an owner, and u1's own chat."""
    response = await client.post(
        "/v1/events",
        json=[
            msg("m-v", "v", "c-v", model="secret-model", content="my private text"),
            msg("m-u1-later", "u1", "c-v", timestamp="2026-03-01T12:05:00Z"),  # still v's chat
            chat("c-v", "V's plans"),
            msg("m-anon", None, "c-anon"),
            msg("m-u1", "u1", "c-u1", model="o3"),
        ],
    )
    assert response.json()["rejected"] == []


async def test_a_user_bound_key_describes_only_chats_its_users_own(
    app: Starlette, engine: AsyncEngine, others: None
) -> None:
    before = await _rows(engine)
    async with authorized_client(app, Role.INGEST, users=["u1"]) as key:
        response = await key.post(
            "/v1/events",
            json=[
                chat("c-v", "renamed by u1", minutes=30),  # v owns it, though u1 wrote in it
                chat("c-anon", "claimed", minutes=30),  # stored without an owner
                chat("c-nowhere", "new"),  # not stored
            ],
        )
        assert response.status_code == 422
        assert response.json() == {
            "accepted": 0,
            "duplicates": 0,
            "described": 0,
            "replaced": 0,
            "rejected": [
                {"index": 0, "id": "c-v", "error": NOT_OWNED},
                {"index": 1, "id": "c-anon", "error": NOT_OWNED},
                {"index": 2, "id": "c-nowhere", "error": NOT_OWNED},
            ],
            "conflicts": [],
        }
        assert await _rows(engine) == before  # the admin sees nothing changed

        # Its own chat, and a new chat whose messages come in the same batch, are described.
        mine = await key.post(
            "/v1/events",
            json=[
                chat("c-u1", "mine", minutes=30),
                chat("c-new", "new and mine"),
                msg("m-new", "u1", "c-new"),
            ],
        )
        assert mine.json() == {
            "accepted": 1, "duplicates": 0, "described": 2,
            "replaced": 0, "rejected": [], "conflicts": []
        }  # fmt: skip
    async with engine.connect() as connection:
        titles = dict((await connection.execute(select(chats.c.chat_id, chats.c.title))).all())
    assert titles == {
        "c-v": "V's plans", "c-anon": None, "c-u1": "mine", "c-new": "new and mine",
    }  # fmt: skip


async def test_upsert_chats_over_graphql_keeps_to_the_same_rule(
    app: Starlette, engine: AsyncEngine, others: None
) -> None:
    before = await _rows(engine)
    mutation = """mutation($c: [ChatInput!]!) {
      upsertChats(chats: $c) { described rejected { index id field error } } }"""
    renames = [
        {"id": "c-v", "timestamp": WHEN, "app": "a", "title": "renamed"},
        {"id": "c-u1", "timestamp": WHEN, "app": "a", "title": "mine"},
    ]
    async with authorized_client(app, Role.INGEST, users=["u1"]) as key:
        # price book, the chats its users own, the upsert, the tags copied to chat_models
        data = await graphql_counted(key, engine, mutation, 4, {"c": renames})
    assert data["upsertChats"] == {
        "described": 1,
        "rejected": [{"index": 0, "id": "c-v", "field": "id", "error": NOT_OWNED}],
    }
    after = await _rows(engine)
    assert after["feedback"] == before["feedback"]
    assert after["messages"] == before["messages"]
    async with engine.connect() as connection:
        titles = dict((await connection.execute(select(chats.c.chat_id, chats.c.title))).all())
    assert (titles["c-v"], titles["c-u1"]) == ("V's plans", "mine")


async def test_a_user_bound_key_rates_only_its_users_messages_and_learns_nothing(
    app: Starlette, engine: AsyncEngine, others: None
) -> None:
    before = await _rows(engine)
    async with authorized_client(app, Role.INGEST, users=["u1"]) as key:
        probes = await key.post(
            "/v1/events",
            json=[
                rating("f-probe", "m-v"),  # would take v's model, secret-model
                rating("f-write", "m-v", model="gpt-4o"),  # a model given changes nothing
                rating("f-absent", "nowhere"),  # reads exactly like v's message
                rating("f-other-app", "m-v", app="b"),
            ],
        )
        assert probes.status_code == 422
        assert [(r["index"], r["id"], r["error"]) for r in probes.json()["rejected"]] == [
            (0, "f-probe", NOT_THEIRS),
            (1, "f-write", NOT_THEIRS),
            (2, "f-absent", NOT_THEIRS),
            (3, "f-other-app", NOT_THEIRS),
        ]
        assert await _rows(engine) == before  # not even app b or u1's last_seen
        own = await key.post("/v1/events", json=[rating("f-own", "m-u1")])
        assert (own.json()["accepted"], own.json()["rejected"]) == (1, [])
    async with engine.connect() as connection:
        rated = (await connection.execute(select(feedback.c.feedback_id, feedback.c.model))).all()
    assert rated == [("f-own", "o3")]


async def test_record_feedback_over_graphql_keeps_to_the_same_rule(
    app: Starlette, engine: AsyncEngine, others: None
) -> None:
    mutation = """mutation($f: [FeedbackInput!]!) {
      recordFeedback(feedback: $f) { accepted rejected { index id field error } } }"""
    ratings = [
        {"id": "g-probe", "timestamp": WHEN, "app": "a", "user": {"id": "u1"}, "rating": 1,
         "messageId": "m-v"},
        {"id": "g-own", "timestamp": WHEN, "app": "a", "user": {"id": "u1"}, "rating": -1,
         "messageId": "m-u1", "model": "o3"},
    ]  # fmt: skip
    async with authorized_client(app, Role.INGEST, users=["u1"]) as key:
        # price book, apps, the rated messages, the insert, the user
        data = await graphql_counted(key, engine, mutation, 5, {"f": ratings})
    assert data["recordFeedback"] == {
        "accepted": 1,
        "rejected": [
            {
                "index": 0,
                "id": "g-probe",
                "field": "messageId",
                "error": NOT_THEIRS.replace("message_id", "messageId"),
            },
        ],
    }
    async with engine.connect() as connection:
        rated = (await connection.execute(select(feedback.c.feedback_id))).scalars().all()
    assert rated == ["g-own"]


async def test_unbound_and_app_bound_keys_rate_and_describe_as_before(
    app: Starlette, engine: AsyncEngine, others: None
) -> None:
    async with authorized_client(app, Role.INGEST, apps=["a"]) as key:
        response = await key.post(
            "/v1/events",
            json=[rating("f-app", "m-v"), chat("c-v", "renamed by the app", minutes=30)],
        )
        assert (response.json()["accepted"], response.json()["described"]) == (1, 1)
    async with authorized_client(app, Role.INGEST) as key:
        response = await key.post("/v1/events", json=[chat("c-fresh", "no messages yet")])
        assert (response.json()["accepted"], response.json()["described"]) == (0, 1)
    async with engine.connect() as connection:
        titles = dict((await connection.execute(select(chats.c.chat_id, chats.c.title))).all())
        rated = (await connection.execute(select(feedback.c.feedback_id, feedback.c.model))).all()
    assert (titles["c-v"], titles["c-fresh"]) == ("renamed by the app", "no messages yet")
    assert rated == [("f-app", "secret-model")]


async def test_the_receivers_of_litellm_and_opentelemetry_write_only_the_keys_users(
    app: Starlette, engine: AsyncEngine
) -> None:
    """The producers' receivers go through the same checks: a user-bound key stores its users'
    calls and gets the others back as rejections, whatever the producer says."""
    start = 1_772_366_400.0  # 2026-03-01 12:00 UTC
    payloads = [
        {"litellm_call_id": f"call-{user}", "model": "gpt-4o", "startTime": start, "end_user": user}
        for user in ("u1", "v")
    ]

    def span(number: int, user: str) -> dict[str, Any]:
        return {
            "traceId": "0" * 31 + "1",
            "spanId": "0" * 15 + str(number),
            "startTimeUnixNano": str(int(start) * 10**9),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "user.id", "value": {"stringValue": user}},
            ],
        }

    # The service names another app: a key bound to one app writes to that app whatever it says.
    service = {"attributes": [{"key": "service.name", "value": {"stringValue": "b"}}]}
    spans = [span(1, "u1"), span(2, "v")]
    traces = {"resourceSpans": [{"resource": service, "scopeSpans": [{"spans": spans}]}]}
    async with authorized_client(app, Role.INGEST, apps=["a"], users=["u1"]) as client:
        litellm = (await client.post("/v1/integrations/litellm", json=payloads)).json()
        otlp = (await client.post("/v1/traces", json=traces)).json()
    assert litellm["accepted"] == 1
    refusal = "user: this API key may only write records of users u1"
    assert litellm["rejected"] == [{"index": 1, "id": "call-v", "error": refusal}]
    assert otlp["partialSuccess"] == {
        "rejectedSpans": "1",
        "errorMessage": f"span {'0' * 31}1:{'0' * 15}2: {refusal}",
    }
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(messages.c.app_id, messages.c.message_id, messages.c.user_id)
        )
        stored = sorted(tuple(row) for row in rows)
    assert stored == [("a", f"{'0' * 31}1:{'0' * 15}1", "u1"), ("a", "call-u1", "u1")]
