"""Threat: one key holds every connection of the server with concurrent requests.

Each key may have USAGEQL_MAX_CONCURRENT_PER_KEY requests in progress; the next gets 429 with
Retry-After, and every place is given back however its request ends. Requests are held open by
request bodies that the test releases, so nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.types import Message

from tests.app_client import authorized_client
from usageql.auth import Role, create_key
from usageql.config import Settings

LIMIT = 2
QUERY = {"query": "{ viewer { role } }"}
EVENT = b'{"id": "m-1", "timestamp": "2026-11-21T10:00:00Z", "model": "gpt-4o"}\n'
PAYLOAD = {"litellm_call_id": "call-1", "model": "gpt-4o", "startTime": 1_795_000_000.0}


def _span_request() -> bytes:
    """An OTLP traces request of one chat span."""
    span = Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="chat gpt-4o")
    span.start_time_unix_nano = span.end_time_unix_nano = 1_795_000_000 * 10**9
    for key, text in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o")):
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=text)))
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request.SerializeToString()


BODIES = [
    ("/graphql", json.dumps(QUERY).encode()),
    ("/v1/events", EVENT),
    ("/v1/integrations/litellm", json.dumps([PAYLOAD]).encode()),
    ("/v1/traces", _span_request()),
]
CONTENT_TYPES = {
    "/graphql": "application/json",
    "/v1/events": "application/x-ndjson",
    "/v1/integrations/litellm": "application/json",
    "/v1/traces": "application/x-protobuf",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(
        settings,
        max_concurrent_per_key=LIMIT,
    )


class HeldBody:
    """A request body sent in two parts: the first at once, the rest once released."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.reading = asyncio.Event()  # the app has started reading: it passed every check
        self.release = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.reading.set()
        yield self.body[:5]
        await self.release.wait()
        yield self.body[5:]


def _post(
    client: httpx.AsyncClient, path: str, body: bytes | HeldBody
) -> Coroutine[Any, Any, httpx.Response]:
    return client.post(path, content=body, headers={"content-type": CONTENT_TYPES[path]})


async def _hold(client: httpx.AsyncClient, path: str, body: bytes, count: int) -> tuple[
    list[HeldBody], list[asyncio.Task[httpx.Response]]
]:  # fmt: skip
    """`count` requests in progress, each waiting for the rest of its body."""
    bodies = [HeldBody(body) for _ in range(count)]
    tasks = [asyncio.create_task(_post(client, path, held)) for held in bodies]
    for held, task in zip(bodies, tasks, strict=True):
        reading = asyncio.create_task(held.reading.wait())
        await asyncio.wait({reading, task}, return_when=asyncio.FIRST_COMPLETED)
        reading.cancel()
        assert held.reading.is_set(), (await task).text  # answered without reading its body
    return bodies, tasks


@pytest.mark.parametrize(("path", "body"), BODIES)
async def test_requests_over_a_keys_limit_get_429_and_other_keys_are_served(
    app: Starlette, client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    bodies, tasks = await _hold(client, path, body, LIMIT)
    refused = await _post(client, path, body)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-request-id"]
    message = (
        f"this API key already has {LIMIT} requests in progress, the most this server runs at"
        " once for one key (USAGEQL_MAX_CONCURRENT_PER_KEY): retry after 1 s, or send fewer"
        " requests at a time"
    )
    if path == "/graphql":
        (error,) = refused.json()["errors"]
        assert error == {
            "message": message,
            "extensions": {"code": "TOO_MANY_REQUESTS", "limit": LIMIT, "retryAfter": 1},
        }
    elif path == "/v1/traces":  # a google.rpc.Status: RESOURCE_EXHAUSTED (8) and the message
        assert refused.content.startswith(b"\x08\x08\x12")
        assert refused.content.endswith(message.encode())
    else:
        assert refused.json() == {"error": message}
    async with authorized_client(app) as other:  # another key has places of its own
        assert (await other.post("/graphql", json=QUERY)).status_code == 200
    for held in bodies:
        held.release.set()
    assert [(await task).status_code for task in tasks] == [200] * LIMIT
    assert (await _post(client, path, body)).status_code == 200  # places given back


async def _asgi_post(
    app: Starlette, path: str, key: str, parts: list[Message | Exception]
) -> list[Message]:
    """POST to `path` straight through the ASGI app, receiving `parts` (an exception is raised
    by `receive`); what the app sent."""
    content_type = CONTENT_TYPES[path].encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"usageql.test"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", content_type),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("usageql.test", 80),
    }
    pending = iter(parts)
    sent: list[Message] = []

    async def receive() -> Message:
        part = next(pending)
        if isinstance(part, Exception):
            raise part
        return part

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(("path", "body"), BODIES)
async def test_places_are_given_back_when_clients_disconnect_or_requests_fail(
    app: Starlette, path: str, body: bytes
) -> None:
    key, _ = await create_key(app.state.database.engine, Role.ADMIN)
    first: Message = {"type": "http.request", "body": body[:5], "more_body": True}
    for _ in range(LIMIT + 1):  # a client that goes away in the middle of its body
        await _asgi_post(app, path, key, [first, {"type": "http.disconnect"}])
    for _ in range(LIMIT + 1):  # a request that fails inside the app
        sent = await _asgi_post(app, path, key, [first, RuntimeError("the body was lost")])
        assert sent[0]["type"] == "http.response.start"
        assert sent[0]["status"] == 500
    async with authorized_client(app) as client:
        client.headers["authorization"] = f"Bearer {key}"
        bodies, tasks = await _hold(client, path, body, LIMIT)
        assert (await _post(client, path, body)).status_code == 429
        for held in bodies:
            held.release.set()
        assert [(await task).status_code for task in tasks] == [200] * LIMIT
