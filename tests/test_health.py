from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tests.app_client import app_client
from usageql.config import Settings
from usageql.db.migrate import head_revision
from usageql.db.outage import Unavailable
from usageql.logs import JsonFormatter
from usageql.requestlog import RequestLogMiddleware


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
        assert response.headers["retry-after"] == "5"
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


def _failing_app(error: Exception) -> Starlette:
    async def fail(request: Request) -> Response:
        raise error

    return Starlette(routes=[Route("/fail", fail)], middleware=[Middleware(RequestLogMiddleware)])


async def test_an_unhandled_error_is_a_500_naming_the_request_id_it_is_logged_under(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _failing_app(RuntimeError("a bug"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.INFO, logger="usageql.http"):
            response = await client.get("/fail", headers={"x-request-id": "req-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    assert response.json() == {
        "error": "internal error (request id req-500); it is logged under that id",
        "requestId": "req-500",
    }
    records = [r for r in caplog.records if r.name == "usageql.http"]
    assert [r.getMessage() for r in records] == ["unhandled error", "GET /fail 500"]
    assert all(r.__dict__["request_id"] == "req-500" for r in records)
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "a bug"


async def test_an_unavailable_database_escaping_the_app_is_a_503_with_retry_after() -> None:
    app = _failing_app(Unavailable("the database is unavailable: retry in a few seconds"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/fail", headers={"x-request-id": "req-503"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["x-request-id"] == "req-503"
    assert response.json() == {
        "error": "the database is unavailable: retry in a few seconds",
        "requestId": "req-503",
    }


async def test_a_client_gone_before_its_answer_gets_none_and_is_logged_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reads_a_body(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ClientDisconnect()

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/events", "headers": []}
    with caplog.at_level(logging.INFO, logger="usageql.http"):
        await RequestLogMiddleware(reads_a_body)(scope, gone, send)
    assert sent == []
    assert [r.getMessage() for r in caplog.records if r.name == "usageql.http"] == [
        "POST /v1/events 499"
    ]
