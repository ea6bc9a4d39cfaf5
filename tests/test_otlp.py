"""POST /v1/traces with OpenTelemetry's own SDK and OTLP/HTTP exporter as the producer, configured
by the environment variables any OpenTelemetry application uses; the JSON encoding built from the
same spans with opentelemetry-proto's messages and OTLP's JSON mapping. What GraphQL answers is
compared with the spans' attributes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.sqlcount import count_statements
from usageql.auth import Role, create_key
from usageql.db.tables import messages

ROUTE = "/v1/traces"
CHAT: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.cache_creation.input_tokens": 50,
    "gen_ai.usage.reasoning.output_tokens": 200,
    "gen_ai.conversation.id": "conv-1",
    "gen_ai.agent.name": "planner",
    "user.id": "u-1",
    "usageql.metadata.team": "growth",
    "usageql.tags": ("feature:plan",),
}
OLDER: dict[
    str, AttributeValue
] = {  # the names of conventions before 1.27 and 1.37, and enduser.id
    "gen_ai.operation.name": "embeddings",
    "gen_ai.system": "cohere",
    "gen_ai.request.model": "embed-v4",
    "gen_ai.usage.prompt_tokens": 40,
    "gen_ai.usage.completion_tokens": 0,
    "enduser.id": "u-2",
}
FAILED: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4",
    "error.type": "rate_limit",
    "user.id": "u-1",
}


def make_spans() -> list[ReadableSpan]:
    """An agent's spans: its turn (not GenAI), an agent span and three model calls; and a model
    call of a service the key may not write to."""
    spans: list[ReadableSpan] = []
    for service, calls in (("agent", (CHAT, OLDER, FAILED)), ("intruder", (CHAT,))):
        kept = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(kept))
        tracer = provider.get_tracer("usageql.tests")
        with tracer.start_as_current_span("handle request"):
            agent: dict[str, AttributeValue] = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.usage.input_tokens": 1240,
            }
            with tracer.start_as_current_span("invoke_agent planner", attributes=agent):
                for attributes in calls:
                    name = f"{attributes['gen_ai.operation.name']!s} model"
                    kind = SpanKind.CLIENT
                    with tracer.start_as_current_span(name, kind=kind) as span:
                        span.set_attributes(attributes)
                        if "error.type" in attributes:
                            span.set_status(Status(StatusCode.ERROR, "429"))
        spans += kept.get_finished_spans()
        provider.shutdown()
    return spans


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The spans as OTLP's JSON encoding: protobuf's JSON mapping, but ids in hex and enums as
    numbers."""
    document = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)

    def hex_ids(value: Any) -> Any:
        if isinstance(value, list):
            return [hex_ids(item) for item in value]
        if isinstance(value, dict):
            return {
                key: base64.b64decode(item).hex()
                if key in {"traceId", "spanId", "parentSpanId"}
                else hex_ids(item)
                for key, item in value.items()
            }
        return value

    return orjson.dumps(hex_ids(document))


async def agent_key(engine: AsyncEngine) -> str:
    key, _ = await create_key(engine, Role.INGEST, apps=["agent", "tools"])
    return key


QUESTION = """{ usage {
  summary { requests failedRequests tokens { input output cacheRead cacheWrite reasoning total } }
  models { model provider metrics { requests } }
  users(first: 10) { edges { node { user { id } metrics { requests } } } }
  apps { app metrics { requests } }
  breakdown(by: [PRODUCER, CHAT], metadataKeys: ["team", "operation", "agent"]) {
    keys { value } metrics { requests }
  }
  tags { tag metrics { requests } }
} }"""


async def answer(client: httpx.AsyncClient, engine: AsyncEngine) -> dict[str, Any]:
    with count_statements(engine) as sql:
        body = (await client.post("/graphql", json={"query": QUESTION})).json()
    assert "errors" not in body, body
    assert sql.count == 7, sql  # a statement per field; the users list also reads their profiles
    usage: dict[str, Any] = body["data"]["usage"]
    return usage


def check_stored(usage: dict[str, Any]) -> None:
    """The three model calls of `agent`, as their attributes say."""
    assert usage["summary"] == {
        "requests": 3,
        "failedRequests": 1,
        "tokens": {
            "input": 1240,
            "output": 300,
            "cacheRead": 1000,
            "cacheWrite": 50,
            "reasoning": 200,
            "total": 1540,
        },
    }
    models = {
        row["model"]: (row["provider"], row["metrics"]["requests"]) for row in usage["models"]
    }
    assert models == {  # the model that answered, else the one asked for
        "gpt-4o-2024-08-06": ("openai", 1),
        "embed-v4": ("cohere", 1),
        "claude-sonnet-4": ("anthropic", 1),
    }
    users = {
        e["node"]["user"]["id"]: e["node"]["metrics"]["requests"] for e in usage["users"]["edges"]
    }
    assert users == {"u-1": 2, "u-2": 1}
    rows = {
        tuple(key["value"] for key in row["keys"]): row["metrics"]["requests"]
        for row in usage["breakdown"]
    }
    assert rows == {
        ("otlp", None, None, "chat", None): 1,
        ("otlp", None, None, "embeddings", None): 1,
        ("otlp", "conv-1", "growth", "chat", "planner"): 1,
    }
    assert usage["apps"] == [{"app": "agent", "metrics": {"requests": 3}}]  # service.name
    assert usage["tags"] == [{"tag": "feature:plan", "metrics": {"requests": 1}}]


def export(spans: Sequence[ReadableSpan]) -> SpanExportResult:
    """The spans through the SDK's OTLP/HTTP exporter, configured by the environment alone."""
    exporter = OTLPSpanExporter()
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["gzip", "deflate"])
async def test_the_sdks_exporter_sends_model_calls_that_are_counted_once(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    served: str,
    monkeypatch: pytest.MonkeyPatch,
    compression: str,
) -> None:
    key = await agent_key(engine)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", served)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{key}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    spans = await asyncio.to_thread(make_spans)
    assert await asyncio.to_thread(export, spans) is SpanExportResult.SUCCESS
    assert await asyncio.to_thread(export, spans) is SpanExportResult.SUCCESS  # a retry
    check_stored(await answer(client, engine))
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(messages.c.message_id, messages.c.latency_ms, messages.c.error_type)
            )
        ).all()
    calls = [s for s in spans if s.resource.attributes["service.name"] == "agent"]
    calls = [s for s in calls if s.attributes and "model" in s.name]
    expected = {
        f"{s.context.trace_id:032x}:{s.context.span_id:016x}": (
            ((s.end_time or 0) - (s.start_time or 0)) / 1e6,
            (s.attributes or {}).get("error.type"),
        )
        for s in calls
    }
    assert {row.message_id: (row.latency_ms, row.error_type) for row in rows} == expected


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_the_answer_names_rejected_spans_and_counts_the_others_in_the_requests_encoding(
    engine: AsyncEngine, client: httpx.AsyncClient, encoding: str
) -> None:
    key = await agent_key(engine)
    spans = make_spans()
    if encoding == "json":
        content, media = otlp_json(spans), "application/json"
    else:
        content, media = encode_spans(spans).SerializeToString(), "application/x-protobuf"
    headers = {"authorization": f"Bearer {key}", "content-type": media}
    response = await client.post(ROUTE, content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    answer_ = ExportTraceServiceResponse()
    if encoding == "json":
        json_format.ParseDict(response.json(), answer_)
    else:
        answer_.ParseFromString(response.content)
    intruder = next(
        s
        for s in spans
        if s.resource.attributes["service.name"] == "intruder" and "model" in s.name
    )
    span = f"{intruder.context.trace_id:032x}:{intruder.context.span_id:016x}"
    assert answer_.partial_success.rejected_spans == 1
    assert answer_.partial_success.error_message == (
        f"span {span}: app: this API key may only write to apps agent, tools, not 'intruder'; "
        "4 span(s) were not model calls (gen_ai.operation.name chat, embeddings,"
        " generate_content, text_completion) and were not stored"
    )
    check_stored(await answer(client, engine))


async def test_requests_that_are_not_otlp_are_refused_with_a_status(
    client: httpx.AsyncClient,
) -> None:
    garbage = await client.post(
        ROUTE, content=b"\xff\xff\xff", headers={"content-type": "application/x-protobuf"}
    )
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == "application/x-protobuf"
    assert garbage.content.startswith(b"\x08\x03\x12")  # INVALID_ARGUMENT, then the message
    assert b"not an OTLP protobuf traces request" in garbage.content
    bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}
    as_json = await client.post(ROUTE, json=bad_id)
    assert as_json.status_code == 400
    assert as_json.json() == {
        "code": 3,
        "message": "the body is not an OTLP JSON traces request: traceId: not a hex id: 'zz'",
    }
    text = await client.post(ROUTE, content=b"{}", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    empty = await client.post(ROUTE, json={})
    assert (empty.status_code, empty.json()) == (200, {})  # nothing sent, nothing to say
