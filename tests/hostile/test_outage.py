"""Fault: the database is stopped, unreachable, or too slow for an ingestion statement.

Every path answers 503 with a clear, retryable message, `Retry-After` and the request id (GraphQL
in its error format, /v1/events as `{"error": ...}`), never a bare 500; and once the database is
back, the same request succeeds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.app_client import app_client
from usageql.app import create_app
from usageql.auth import Role, create_key
from usageql.config import Settings
from usageql.db.embedded import EmbeddedPostgres
from usageql.db.engine import create_engine
from usageql.db.outage import DATABASE_UNAVAILABLE, INGEST_UNAVAILABLE, KEY_CHECK_UNAVAILABLE

READ = "{ usage { summary { messages } } }"
RECORD = 'mutation { recordMessages(messages: [{id: "g-1", timestamp: "2026-11-21T10:00:00Z",'
RECORD += ' model: "gpt-4o"}]) { accepted } }'
EVENT = b'{"id": "m-1", "timestamp": "2026-11-21T10:00:00Z", "model": "gpt-4o"}\n'
NDJSON = {"content-type": "application/x-ndjson"}
PAYLOAD = {"litellm_call_id": "call-1", "model": "gpt-4o", "startTime": 1_795_000_000.0}
SPAN = {
    "traceId": "0" * 31 + "1",
    "spanId": "0" * 15 + "2",
    "startTimeUnixNano": "1795000000000000000",
    "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
    ],
}
TRACES = {"resourceSpans": [{"scopeSpans": [{"spans": [SPAN]}]}]}


def _graphql_503(response: httpx.Response, message: str) -> None:
    """A GraphQL answer that the database is unavailable: 503, Retry-After, the request id."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/json"
    request_id = response.headers["x-request-id"]
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert errors
    for error in errors:
        assert error["message"] == message
        assert error["extensions"] == {
            "code": "UNAVAILABLE",
            "retryAfter": 5,
            "requestId": request_id,
        }


def _events_503(response: httpx.Response, message: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"error": message, "requestId": response.headers["x-request-id"]}


async def test_an_unreachable_database_is_503_on_every_path(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, so every connection is refused at once.
    url = "postgresql://postgres@127.0.0.1:1/nothing"
    settings = Settings(database_url=url, data_dir=tmp_path, migrate_on_start=False)
    unchecked = {"authorization": f"Bearer uq_{'a' * 12}_{'A' * 43}"}
    async with app_client(settings, with_key=False) as client:
        _graphql_503(
            await client.post("/graphql", json={"query": READ}, headers=unchecked),
            KEY_CHECK_UNAVAILABLE,
        )
        _graphql_503(
            await client.get("/graphql", params={"query": READ}, headers=unchecked),
            KEY_CHECK_UNAVAILABLE,
        )
        _events_503(
            await client.post("/v1/events", content=EVENT, headers={**unchecked, **NDJSON}),
            KEY_CHECK_UNAVAILABLE,
        )
        _events_503(
            await client.post("/v1/integrations/litellm", json=[], headers=unchecked),
            KEY_CHECK_UNAVAILABLE,
        )
        traces = await client.post("/v1/traces", json={}, headers=unchecked)
        assert (traces.status_code, traces.headers["retry-after"]) == (503, "5")
        assert traces.json() == {"code": 14, "message": KEY_CHECK_UNAVAILABLE}  # UNAVAILABLE
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["x-request-id"]
        assert (await client.get("/healthz")).status_code == 200


@pytest.fixture
def stoppable() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, which it may stop."""
    with tempfile.TemporaryDirectory(prefix="usageql-outage-") as directory:
        server = EmbeddedPostgres(Path(directory) / "pg", delete_on_stop=True)
        try:
            yield server
        finally:
            server.stop()


async def test_a_stopped_database_is_503_on_every_path(
    stoppable: EmbeddedPostgres, tmp_path: Path
) -> None:
    settings = Settings(database_url=stoppable.start(), data_dir=tmp_path, pool_size=2)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine = app.state.database.engine
        used, _ = await create_key(engine, Role.ADMIN)
        unused, _ = await create_key(engine, Role.ADMIN)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers={"authorization": f"Bearer {used}"},
            ) as client,
            httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers={"authorization": f"Bearer {unused}"},
            ) as unchecked,
        ):
            stored = await client.post("/v1/events", content=EVENT, headers=NDJSON)
            assert stored.json()["accepted"] == 1  # the key is checked, and remembered

            stoppable.stop()

            # The key is remembered: queries and writes reach the database and find it gone.
            _graphql_503(await client.post("/graphql", json={"query": READ}), DATABASE_UNAVAILABLE)
            _graphql_503(
                await client.post("/graphql", json={"query": RECORD}), DATABASE_UNAVAILABLE
            )
            _events_503(
                await client.post("/v1/events", content=EVENT, headers=NDJSON), INGEST_UNAVAILABLE
            )
            _events_503(
                await client.post("/v1/integrations/litellm", json=[PAYLOAD]), INGEST_UNAVAILABLE
            )
            traces = await client.post("/v1/traces", json=TRACES)
            assert (traces.status_code, traces.headers["retry-after"]) == (503, "5")
            assert traces.json() == {"code": 14, "message": INGEST_UNAVAILABLE}
            # A key not checked yet cannot be.
            _graphql_503(
                await unchecked.post("/graphql", json={"query": READ}), KEY_CHECK_UNAVAILABLE
            )
            _events_503(
                await unchecked.post("/v1/events", content=EVENT, headers=NDJSON),
                KEY_CHECK_UNAVAILABLE,
            )
            assert (await client.get("/readyz")).status_code == 503


async def test_an_ingestion_statement_past_the_timeout_is_503_and_can_be_sent_again(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, statement_timeout_ms=200)
    async with app_client(settings) as client:
        blocker = create_engine(database_url, pool_size=1)
        try:
            async with blocker.connect() as connection:
                # Every write to messages waits for this lock, past the statement timeout.
                await connection.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
                _events_503(
                    await client.post("/v1/events", content=EVENT, headers=NDJSON),
                    INGEST_UNAVAILABLE,
                )
                await connection.rollback()
        finally:
            await blocker.dispose()
        again = await client.post("/v1/events", content=EVENT, headers=NDJSON)
        assert again.json() == {
            "accepted": 1, "duplicates": 0, "described": 0,
            "replaced": 0, "rejected": [], "conflicts": []
        }  # fmt: skip
