from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import app_client
from tests.factories import T0, message
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from usageql import __version__
from usageql.config import Settings
from usageql.db.migrate import head_revision
from usageql.ingest.records import Batch
from usageql.ingest.write import store_batch

APPS = "{ apps { id messages users chats firstEventAt lastEventAt } }"


async def _store(engine: AsyncEngine, batch: Batch) -> None:
    await store_batch(engine, batch)


async def test_server_reports_versions(client: httpx.AsyncClient) -> None:
    data = await graphql(
        client, "{ server { version postgresVersion schemaRevision embeddedDatabase } }"
    )
    server = data["server"]
    assert server["version"] == __version__
    assert server["postgresVersion"].split(".")[0].isdigit()
    assert server["schemaRevision"] == head_revision()
    assert server["embeddedDatabase"] is False


async def test_apps_lists_each_app_with_counts(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _store(
        engine,
        Batch(
            messages=[
                message("m1", app="beta", user="u1", chat="c1", minutes=5),
                message("m2", app="beta", user="u2", chat="c1", minutes=9),
                message("m3", app="beta", user="u1", chat="c2", minutes=1),
                message("m4", app="alpha", minutes=3),
            ]
        ),
    )
    with count_statements(engine) as sql:
        data = await graphql(client, APPS)
    assert sql.count == 2, sql  # the apps with their first and last events; their totals
    assert data["apps"] == [
        {
            "id": "alpha",
            "messages": 1,
            "users": 0,
            "chats": 0,
            "firstEventAt": "2025-03-01T12:03:00+00:00",
            "lastEventAt": "2025-03-01T12:03:00+00:00",
        },
        {
            "id": "beta",
            "messages": 3,
            "users": 2,
            "chats": 2,
            "firstEventAt": "2025-03-01T12:01:00+00:00",
            "lastEventAt": "2025-03-01T12:09:00+00:00",
        },
    ]
    assert T0.isoformat() == "2025-03-01T12:00:00+00:00"


async def test_apps_costs_two_statements_for_one_app_or_forty(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _store(engine, Batch(messages=[message("only", app="app-00")]))
    with count_statements(engine) as one:
        assert len((await graphql(client, APPS))["apps"]) == 1
    await _store(engine, Batch(messages=[message(f"m{n}", app=f"app-{n:02}") for n in range(40)]))
    with count_statements(engine) as forty:
        assert len((await graphql(client, APPS))["apps"]) == 40
    assert one.count == forty.count == 2


async def test_graphiql_can_be_turned_off(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, graphiql=False)
    async with app_client(settings) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404


async def test_queries_work_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ server { version } }"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"server": {"version": __version__}},
        "extensions": {"cost": {"rows": 0, "limit": 250_000}},
    }


async def test_a_bad_query_gets_a_graphql_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ apps { nope } }"})
    assert response.status_code == 200
    assert "Cannot query field 'nope' on type 'App'" in response.json()["errors"][0]["message"]
