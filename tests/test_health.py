from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.app_client import app_client
from usageql.config import Settings
from usageql.db.migrate import head_revision
from usageql.logs import JsonFormatter


async def test_healthz_answers_while_the_process_is_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_reports_the_schema_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": head_revision()}


async def test_readyz_is_503_with_the_fix_when_migrations_are_missing(
    empty_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=empty_database_url, data_dir=tmp_path, migrate_on_start=False)
    async with app_client(settings, with_key=False) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["revision"] is None
        assert "run `usageql migrate`" in body["reason"]


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql://postgres@127.0.0.1:1/nothing"
    settings = Settings(database_url=url, data_dir=tmp_path, migrate_on_start=False)
    async with app_client(settings, with_key=False) as client:
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["reason"].startswith("database unreachable")


async def test_requests_get_an_id_and_one_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="usageql.http"):
        response = await client.get("/healthz", headers={"x-request-id": "abc-123"})
        generated = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.name == "usageql.http"]
    assert [r.getMessage() for r in lines] == ["GET /healthz 200", "GET /healthz 200"]
    assert lines[0].__dict__["request_id"] == "abc-123"
    assert lines[0].__dict__["duration_ms"] >= 0
    assert lines[0].__dict__["sql_statements"] == 0  # liveness never touches the database
    assert json.loads(JsonFormatter().format(lines[0]))["sql_statements"] == 0


async def test_root_redirects_to_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/graphql"
