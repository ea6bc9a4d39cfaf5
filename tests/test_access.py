"""Who may do what, and that a key bound to apps or users never sees or writes past them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.app_client import app_client, authorized_client
from usageql.auth import Role, create_key, revoke_key
from usageql.config import Settings
from usageql.db.engine import create_engine
from usageql.graphql.view import KEY_NEEDED as GRAPHQL_KEY_NEEDED
from usageql.ingest.http import KEY_NEEDED as EVENTS_KEY_NEEDED

READ = "{ usage { summary { messages } } }"
EVENT = {"id": "new-1", "timestamp": "2026-03-01T10:00:00Z", "model": "gpt-4o"}
RECORD = 'mutation { recordMessages(messages: [{id: "new-2", timestamp: "2026-03-01T10:00:00Z",'
RECORD += ' model: "gpt-4o"}]) { accepted } }'
PRICE = 'mutation { setPrices(prices: [{model: "m", input: 1, output: 1}]) { model } }'


async def _errors(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    body = (await client.post("/graphql", json={"query": query})).json()
    errors: list[dict[str, Any]] = body.get("errors", [])
    return errors


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, {"read", "viewer", "events", "record", "price"}),
        (Role.READER, {"read", "viewer"}),
        (Role.INGEST, {"viewer", "events", "record"}),
    ],
)
async def test_every_role_against_every_operation(
    app: Starlette, role: Role, allowed: set[str]
) -> None:
    async with authorized_client(app, role) as client:
        outcomes = {
            "read": not await _errors(client, READ),
            "viewer": not await _errors(client, "{ viewer { role } }"),
            "record": not await _errors(client, RECORD),
            "price": not await _errors(client, PRICE),
            "events": (await client.post("/v1/events", json=[EVENT])).status_code == 200,
        }
        assert {name for name, ok in outcomes.items() if ok} == allowed
        if "read" not in allowed:
            (error,) = await _errors(client, READ)
            assert error["message"] == "this API key may not read usage: use a reader or admin key"
            assert error["extensions"] == {"code": "FORBIDDEN"}
        if "events" not in allowed:
            refused = await client.post("/v1/events", json=[EVENT])
            assert refused.status_code == 403
            assert "may not write records" in refused.json()["error"]


async def test_requests_without_a_usable_key_get_401(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "Token x"}):
            graphql = await client.post("/graphql", json={"query": READ}, headers=headers)
            assert graphql.status_code == 401
            assert graphql.headers["www-authenticate"] == "Bearer"
            (error,) = graphql.json()["errors"]
            assert error["extensions"] == {"code": "UNAUTHENTICATED"}
            events = await client.post("/v1/events", json=[EVENT], headers=headers)
            assert events.status_code == 401
            assert "error" in events.json()
        # GraphiQL's page itself and the health checks stay open.
        assert (await client.get("/graphql", headers={"accept": "text/html"})).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/graphql", params={"query": READ})).status_code == 401


def _roles_named(hint: str) -> list[Role]:
    """The roles of the `usageql keys create --role R` commands a hint gives, in order."""
    return [Role(role) for role in re.findall(r"--role (\w+)", hint)]


async def test_each_refusal_names_the_key_its_endpoint_takes_and_that_key_works(
    app: Starlette,
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        events = (await anonymous.post("/v1/events", json=[EVENT])).json()["error"]
        graphql = (await anonymous.post("/graphql", json={"query": READ})).json()["errors"]
    assert events == (
        "missing API key: send the header `Authorization: Bearer uq_...`; POST /v1/events takes"
        " an ingest or admin key (`usageql keys create --role ingest`)"
    )
    assert graphql[0]["message"] == (
        "missing API key: send the header `Authorization: Bearer uq_...`; /graphql takes a"
        " reader or admin key for queries (`usageql keys create --role reader` makes one) and an"
        " ingest or admin key for recordMessages, recordFeedback and upsertChats"
        " (`--role ingest`)"
    )
    async with authorized_client(app, Role.READER) as reader:
        forbidden = await reader.post("/v1/events", json=[EVENT])
    assert (forbidden.status_code, forbidden.json()["error"]) == (
        403,
        f"this API key (role reader) may not write records; {EVENTS_KEY_NEEDED}",
    )
    # The keys the hints say to make do what was refused.
    (for_events,) = _roles_named(EVENTS_KEY_NEEDED)
    for_queries, for_records = _roles_named(GRAPHQL_KEY_NEEDED)
    async with authorized_client(app, for_events) as client:
        assert (await client.post("/v1/events", json=[EVENT])).status_code == 200
    async with authorized_client(app, for_queries) as client:
        assert await _errors(client, READ) == []
    async with authorized_client(app, for_records) as client:
        assert await _errors(client, RECORD) == []


async def test_a_revoked_key_stops_working(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, auth_cache_seconds=0)
    engine = create_engine(database_url, pool_size=1)  # as `usageql keys` would, from outside
    try:
        async with app_client(settings) as admin:
            key, info = await create_key(engine, Role.READER)
            headers = {"authorization": f"Bearer {key}"}
            ok = await admin.post("/graphql", json={"query": READ}, headers=headers)
            assert ok.status_code == 200
            assert await revoke_key(engine, info.key_id)
            refused = await admin.post("/graphql", json={"query": READ}, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["message"] == (
                f"unknown or revoked API key; {GRAPHQL_KEY_NEEDED}"
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def app_a(app: Starlette, usage_data: None) -> AsyncIterator[httpx.AsyncClient]:
    """A reader bound to app a of tests/usage_data.py (a: m1, m2, m3; b: m4, m5)."""
    async with authorized_client(app, Role.READER, apps=["a"]) as client:
        yield client


async def _data(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_an_app_bound_key_sees_only_its_app_however_it_asks(
    app_a: httpx.AsyncClient,
) -> None:
    everything = await _data(app_a, "{ usage { summary { messages users } } }")
    assert everything["usage"]["summary"] == {"messages": 3, "users": 2}
    # Naming another app returns nothing (not an error that tells it exists).
    other = await _data(app_a, '{ usage(filter: {apps: ["b"]}) { summary { messages } } }')
    assert other["usage"]["summary"] == {"messages": 0}
    nested = await _data(
        app_a,
        '{ usage { models { model usage { summary(filter: {apps: ["b"]}) { messages } } } } }',
    )
    assert [m["model"] for m in nested["usage"]["models"]] == ["gpt-4o", "local-llm"]
    assert {m["usage"]["summary"]["messages"] for m in nested["usage"]["models"]} == {0}
    by_app = await _data(
        app_a, "{ usage { breakdown(by: [APP]) { keys { value } } apps { app } } }"
    )
    assert by_app["usage"]["breakdown"] == [{"keys": [{"value": "a"}]}]
    assert by_app["usage"]["apps"] == [{"app": "a"}]
    catalog = await _data(app_a, "{ apps { id } }")
    assert catalog["apps"] == [{"id": "a"}]
    chats = await _data(app_a, "{ usage { chats { totalCount edges { node { app } } } } }")
    assert chats["usage"]["chats"]["totalCount"] == 2
    assert {e["node"]["app"] for e in chats["usage"]["chats"]["edges"]} == {"a"}
    ratings = await _data(app_a, "{ usage { feedback(fillGaps: false) { positive negative } } }")
    assert sum(b["positive"] + b["negative"] for b in ratings["usage"]["feedback"]) == 2
    viewer = await _data(app_a, "{ viewer { role apps users } }")
    assert viewer["viewer"] == {"role": "reader", "apps": ["a"], "users": None}


async def test_a_cursor_from_another_keys_answer_stays_inside_the_scope(
    app: Starlette, app_a: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    query = """query($after: String) { usage { users(first: 1, after: $after) {
        totalCount edges { node { user { id } } } } } }"""
    admin_page = await _data(client, query)
    assert admin_page["usage"]["users"]["totalCount"] == 3
    cursor = (await client.post("/graphql", json={"query": query.replace(
        "totalCount", "totalCount pageInfo { endCursor }")})).json()  # fmt: skip
    after = cursor["data"]["usage"]["users"]["pageInfo"]["endCursor"]
    page = await _data(app_a, query, after=after)
    assert page["usage"]["users"]["totalCount"] == 2  # u1 and u2; u3 is in app b
    assert [e["node"]["user"]["id"] for e in page["usage"]["users"]["edges"]] == ["u2"]


async def test_a_user_bound_key_sees_only_its_users(app: Starlette, usage_data: None) -> None:
    async with authorized_client(app, Role.READER, users=["u1"]) as client:
        data = await _data(client, "{ usage { summary { messages users } tags { tag } } }")
    assert data["usage"]["summary"] == {"messages": 2, "users": 1}  # m1, m3
    assert [t["tag"] for t in data["usage"]["tags"]] == ["UA:x", "f:1"]


async def test_an_app_bound_ingest_key_writes_only_its_app(app: Starlette) -> None:
    async with authorized_client(app, Role.INGEST, apps=["a"]) as client:
        response = await client.post(
            "/v1/events",
            json=[
                {**EVENT, "id": "to-a", "app": "a"},
                {**EVENT, "id": "to-b", "app": "b"},
                {**EVENT, "id": "no-app"},  # goes to the key's only app
            ],
        )
        answer = response.json()
    assert answer["accepted"] == 2
    assert answer["rejected"] == [
        {"index": 1, "id": "to-b", "error": "app: this API key may only write to apps a, not 'b'"}
    ]
    async with authorized_client(app, Role.ADMIN) as admin:
        stored = await _data(admin, "{ usage { apps { app metrics { messages } } } }")
    assert stored["usage"]["apps"] == [{"app": "a", "metrics": {"messages": 2}}]


async def test_an_app_bound_admin_prices_only_its_apps(app: Starlette) -> None:
    async with authorized_client(app, Role.ADMIN, apps=["a"]) as client:
        (error,) = await _errors(client, PRICE)
        assert error["message"] == (
            "prices.app: this API key may only set prices for apps a, not *"
        )
        ok = await _errors(
            client, 'mutation { setPrices(prices: [{model: "m", app: "a", input: 1, output: 1}])'
            " { model } }"
        )  # fmt: skip
        assert ok == []


async def test_authentication_can_be_disabled_for_local_use_with_a_warning(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, auth=False)
    async with app_client(settings, with_key=False) as client:
        viewer = await client.post("/graphql", json={"query": "{ viewer { role apps keyId } }"})
        events = await client.post("/v1/events", json=[EVENT])
    assert viewer.json()["data"] == {"viewer": {"role": "admin", "apps": None, "keyId": None}}
    assert events.json()["accepted"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("authentication is disabled (USAGEQL_AUTH=disabled)" in w for w in warnings)
