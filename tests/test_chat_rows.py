"""The chat browser and chat tags find the chats in scope in the chat rollup (whole hours) and raw
events (partial hours) when those answer exactly, and give the raw-events answer either way."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import EVENTS, Event, when
from tests.ways import read_rollups, settings, way
from usageql.db.prune import prune

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

CHAT_TAGS = ["billing", "bug", "how-to", "sales"]
BERLIN = ZoneInfo("Europe/Berlin")


def chat_records() -> list[Event]:
    """A chat record with 0-2 tags for each chat the events name."""
    rng = random.Random(5)
    chats = sorted({(e["app"], e["chat_id"]) for e in _all() if "chat_id" in e})
    return [
        {
            "type": "chat",
            "app": app,
            "id": chat,
            "timestamp": "2026-03-01T00:00:00+00:00",
            "title": f"{app}/{chat}",
            "tags": rng.sample(CHAT_TAGS, rng.randint(0, 2)),
        }
        for app, chat in chats
    ]


def bursts() -> list[Event]:
    """Chats with several messages of one user and model in one hour: one row of the chat
    rollup holds them all, so a chat's message count is that row's sum, not its rows."""
    events: list[Event] = []
    for n in range(40):
        hour = f"2026-03-{4 + n % 20:02}T{n % 24:02}"
        for k in range(1 + n % 4):
            events.append(
                {
                    "id": f"burst{n}-{k}",
                    "timestamp": f"{hour}:{10 + k * 7:02}:00+00:00",
                    "app": "a1",
                    "role": "assistant",
                    "chat_id": f"c{n * 5}",
                    "user": "u7",
                    "model": "m-b",
                    "provider": "openai",
                    "usage": {"input_tokens": 10, "output_tokens": 2},
                }
            )
    return events


def lookalikes() -> list[Event]:
    """Chats whose ids differ only in case, accents or a byte's order: each is a chat of its
    own (chats are grouped by their ids' bytes), ordered by those bytes among ties."""
    ids = ["Ünïcode", "ünïcode", "unicode", "UNICODE", "unicode ", "ǅ-chat", "z-chat", "ß"]
    return [
        {
            "id": f"lookalike{n}-{k}",
            "timestamp": f"2026-03-12T{8 + n:02}:{15 + k:02}:00+00:00",
            "app": "a2",
            "role": "assistant",
            "chat_id": chat,
            "user": "u2",
            "model": "m-b",
        }
        for n, chat in enumerate(ids)
        for k in range(2)
    ]


def _all() -> list[Event]:
    return [*EVENTS, *bursts(), *lookalikes()]


ALL = _all()
CHATS = chat_records()
TAGS_OF = {(c["app"], c["id"]): c["tags"] for c in CHATS}


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for batch in (CHATS, *(ALL[n : n + 1000] for n in range(0, len(ALL), 1000))):
        response = await client.post("/v1/events", json=batch)
        assert response.json()["rejected"] == []


# Periods cut inside hours, at whole days, and open; each with a filter the chat rollup answers.
CASES: dict[str, tuple[str, Any]] = {
    "partial hours": (
        'from: "2026-03-03T10:17:00Z", to: "2026-03-19T05:41:30Z"',
        lambda e: "2026-03-03T10:17:00" <= e["timestamp"][:19] < "2026-03-19T05:41:30",
    ),
    "whole days, one model": (
        'from: "2026-03-05T00:00:00Z", to: "2026-03-25T00:00:00Z", models: ["m-b"]',
        lambda e: "2026-03-05" <= e["timestamp"][:10] < "2026-03-25" and e.get("model") == "m-b",
    ),
    "users and an app": (
        'from: "2026-03-10T06:30:00Z", users: ["u1", "u2", "u3"], apps: ["a2"]',
        lambda e: (
            e["timestamp"][:19] >= "2026-03-10T06:30:00"
            and e.get("user") in {"u1", "u2", "u3"}
            and e["app"] == "a2"
        ),
    ),
}

QUERY = """{ usage(filter: {%s}) {
  chats(first: 1000, orderBy: {field: MESSAGES, direction: DESC}) {
    totalCount edges { node { app id messages models tags } } }
  chatTags(limit: 10) { tag count } } }"""


def chats_of(events: list[Event]) -> dict[tuple[str, str], list[Event]]:
    per_chat: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        if "chat_id" in event:
            per_chat[(event["app"], event["chat_id"])].append(event)
    return per_chat


def expected_chats(events: list[Event]) -> list[tuple[str, str, int, list[str]]]:
    per_chat = chats_of(events)
    rows = [
        (app, chat, len(kept), sorted({e["model"] for e in kept if "model" in e}))
        for (app, chat), kept in per_chat.items()
    ]
    return sorted(rows, key=lambda row: (-row[2], row[0].encode(), row[1].encode()))


def expected_tags(events: list[Event]) -> list[dict[str, Any]]:
    counts = Counter(tag for chat in chats_of(events) for tag in TAGS_OF[chat])
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"tag": tag, "count": count} for tag, count in ordered]


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(CASES))
async def test_chats_and_chat_tags_in_a_scope(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, name: str
) -> None:
    argument, keep = CASES[name]
    with count_statements(engine) as sql:
        usage = (await graphql(client, QUERY % argument))["usage"]
    # Chats (with their descriptions), chat tags, and the profiles of the chats' users.
    assert sql.count <= 3, sql
    assert read_rollups(sql) == (way == "rollups"), sql
    kept = [e for e in ALL if keep(e)]
    expected = expected_chats(kept)
    assert len(expected) > 20, name
    page = usage["chats"]
    assert page["totalCount"] == len(expected)
    answer = [
        (n["app"], n["id"], n["messages"], n["models"])
        for n in (edge["node"] for edge in page["edges"])
    ]
    assert answer == [(app, chat, count, models) for app, chat, count, models in expected]
    for edge in page["edges"]:
        node = edge["node"]
        assert node["tags"] == TAGS_OF[(node["app"], node["id"])]
    assert usage["chatTags"] == expected_tags(kept)[:10]


@pytest.mark.usefixtures("loaded")
async def test_after_a_prune_the_chat_rollup_still_lists_the_chats(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    browse = """{ usage%s { chats(first: 1000, orderBy: {field: MESSAGES, direction: DESC}) {
      totalCount edges { node { app id messages models } } } chatTags { tag count } } }"""
    before = (await graphql(client, browse % ""))["usage"]
    summary = await prune(engine, datetime(2026, 3, 20, 10, 30, tzinfo=UTC), wait_seconds=0)
    assert summary.messages > 500
    await app.state.horizon.refresh(engine)
    pruned = "needs raw events from before 2026-03-20T10:00:00Z, which were pruned"
    response = await client.post("/graphql", json={"query": browse % ""})
    if way == "rollups":
        assert response.json()["data"]["usage"] == before
    else:
        assert pruned in response.json()["errors"][0]["message"]
    # Chats described for some users are described from their raw messages: refused.
    users = '(filter: {users: ["u1", "u2"]})'
    response = await client.post("/graphql", json={"query": browse % users})
    assert pruned in response.json()["errors"][0]["message"]


# The chat browser in its default order (a field of the chat itself, not a sum of its events):
# the page is chosen among the chats in scope before their events are added up.
PAGED = """{ usage(filter: {%s}) {
  chats(first: 6%s, orderBy: {field: UPDATED_AT, direction: %s}) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { app id messages models updatedAt metrics { requests } } } } } }"""
# Chats described for some users take their times from those users' messages (_chat_people).
PEOPLE = {"users and an app": {"u1", "u2", "u3"}}


def last_messages(events: list[Event]) -> dict[tuple[str, str], datetime]:
    return {chat: max(when(e) for e in kept) for chat, kept in chats_of(events).items()}


def by_update(
    chats: list[tuple[str, str]], latest: dict[tuple[str, str], datetime], descending: bool
) -> list[tuple[str, str]]:
    """Latest update first (or last), then app and chat id in byte order."""
    sign = -1 if descending else 1
    return sorted(chats, key=lambda c: (sign * latest[c].timestamp(), c[0].encode(), c[1].encode()))


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("direction", ["DESC", "ASC"])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_chats_by_update_page_by_page(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str, name: str, direction: str
) -> None:
    argument, keep = CASES[name]
    per_chat = chats_of([e for e in ALL if keep(e)])
    people = PEOPLE.get(name)
    latest = last_messages([e for e in ALL if people is None or e.get("user") in people])
    expected = by_update(list(per_chat), latest, direction == "DESC")
    assert len(expected) > 20, name
    nodes: list[dict[str, Any]] = []
    after = ""
    while True:
        with count_statements(engine) as sql:
            page = (await graphql(client, PAGED % (argument, after, direction)))["usage"]["chats"]
        assert sql.count <= 2, sql  # the page; its users' profiles when the scope names users
        assert read_rollups(sql) == (way == "rollups"), sql
        assert page["totalCount"] == len(expected)
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f', after: "{page["pageInfo"]["endCursor"]}"'
    assert [(node["app"], node["id"]) for node in nodes] == expected
    for node in nodes:
        chat = (node["app"], node["id"])
        events = per_chat[chat]
        assert node["messages"] == len(events), chat
        assert node["models"] == sorted({e["model"] for e in events if "model" in e}), chat
        assert node["metrics"]["requests"] == sum(e["role"] == "assistant" for e in events)
        assert datetime.fromisoformat(node["updatedAt"]) == latest[chat], chat


NARROWED = """{ usage(filter: {from: "2026-03-02T09:30:00Z", to: "2026-03-30T00:00:00Z"},
    timezone: "Europe/Berlin") {
  models(limit: 10) { model usage { chatTags { tag count } chats(first: 3) { totalCount edges {
    node { app id messages models } } } } }
  timeseries(granularity: WEEK) { start usage { chats(first: 4) { totalCount edges { node {
    app id messages models } } } } } } }"""


@pytest.mark.usefixtures("loaded")
async def test_chat_tags_and_pages_per_model_and_per_berlin_week(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    with count_statements(engine) as sql:
        usage = (await graphql(client, NARROWED))["usage"]
    assert sql.count == 5, sql  # models, their chat tags, their chats; weeks, their chats
    assert read_rollups(sql) == (way == "rollups"), sql
    start, end = datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)
    kept = [e for e in ALL if start <= when(e) < end]
    latest = last_messages(ALL)

    def expect(events: list[Event], first: int) -> tuple[int, list[tuple[Any, ...]]]:
        per_chat = chats_of(events)
        page = by_update(list(per_chat), latest, descending=True)[:first]
        described = [
            (
                app,
                chat,
                len(per_chat[(app, chat)]),
                sorted({e["model"] for e in per_chat[(app, chat)] if "model" in e}),
            )
            for app, chat in page
        ]
        return len(per_chat), described

    def answer(chats: dict[str, Any]) -> tuple[int, list[tuple[Any, ...]]]:
        nodes = [edge["node"] for edge in chats["edges"]]
        return chats["totalCount"], [(n["app"], n["id"], n["messages"], n["models"]) for n in nodes]

    assert len(usage["models"]) > 1
    for row in usage["models"]:
        of_model = [e for e in kept if e.get("model") == row["model"]]
        assert row["usage"]["chatTags"] == expected_tags(of_model), row["model"]
        assert answer(row["usage"]["chats"]) == expect(of_model, 3), row["model"]
    assert len(usage["timeseries"]) == 5
    for bucket in usage["timeseries"]:
        week = datetime.fromisoformat(bucket["start"]).astimezone(BERLIN)
        in_week = [
            e for e in kept if 0 <= (when(e).astimezone(BERLIN) - week).total_seconds() < 7 * 86400
        ]
        assert answer(bucket["usage"]["chats"]) == expect(in_week, 4), bucket["start"]
