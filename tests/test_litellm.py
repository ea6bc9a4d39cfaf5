"""POST /v1/integrations/litellm with LiteLLM itself as the producer: its `generic_api` logger
posts its standard logging payloads of mock completions (successes, failures, a stream, cache and
reasoning tokens, a model it cannot price) to a served usageql, in each of its log formats; what
GraphQL then answers is compared with what LiteLLM reported."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.sqlcount import count_statements
from usageql.auth import Role, create_key
from usageql.db.tables import messages

PRODUCER = Path(__file__).with_name("litellm_producer.py")
APP = "gateway"
ROUTE = "/v1/integrations/litellm"


async def produce(
    base: str, key: str, log_format: str, out: Path, *, resend: bool = False
) -> list[dict[str, Any]]:
    """Run LiteLLM's completions in their own process; the payloads it logged."""
    arguments = [str(PRODUCER), base + ROUTE, key, log_format, str(out)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *arguments,
        *(["--resend"] if resend else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    payloads: list[dict[str, Any]] = json.loads(await asyncio.to_thread(out.read_text))
    return payloads


async def gateway_key(engine: AsyncEngine) -> str:
    key, _ = await create_key(engine, Role.INGEST, apps=[APP])
    return key


QUESTION = """{ usage {
  summary {
    requests failedRequests unpricedRequests spend
    tokens { input output cacheRead cacheWrite reasoning total }
    latencyMs { max } ttftMs { max }
  }
  models { model provider metrics { requests spend } }
  users(first: 10) { edges { node { user { id email } metrics { requests } } } }
  breakdown(by: [API_KEY], metadataKeys: ["team", "environment", "nested"]) {
    keys { dimension value } metrics { requests }
  }
  tags { tag metrics { requests } }
  apps { app metrics { requests } }
} }"""


def _ms(payload: dict[str, Any], until: str) -> float:
    return round((float(payload[until]) - float(payload["startTime"])) * 1000, 3)


@pytest.mark.slow
async def test_litellm_reports_are_counted_as_litellm_reported_them_once_however_often_sent(
    engine: AsyncEngine, client: httpx.AsyncClient, served: str, tmp_path: Path
) -> None:
    key = await gateway_key(engine)
    payloads = await produce(served, key, "json_array", tmp_path / "sent.json", resend=True)
    assert len(payloads) == 7
    by_model: dict[str, list[dict[str, Any]]] = {}
    for payload in payloads:
        by_model.setdefault(payload["model"], []).append(payload)
    gpt = by_model["gpt-4o-mini"]

    with count_statements(engine) as sql:
        response = await client.post("/graphql", json={"query": QUESTION})
    body = response.json()
    assert "errors" not in body, body
    assert sql.count == 7, sql  # a statement per field; the users list also reads their profiles
    usage = body["data"]["usage"]
    summary = usage["summary"]
    assert summary["requests"] == 7  # the batch was sent twice
    assert summary["failedRequests"] == sum(p["status"] == "failure" for p in payloads) == 2
    assert summary["tokens"] == {
        "input": sum(p["prompt_tokens"] for p in payloads),
        "output": sum(p["completion_tokens"] for p in payloads),
        "cacheRead": 1000,
        "cacheWrite": 50,
        "reasoning": 200,
        "total": sum(p["total_tokens"] for p in payloads),
    }
    assert summary["latencyMs"]["max"] == max(_ms(p, "endTime") for p in payloads)
    (stream,) = [p for p in payloads if p["stream"]]
    assert summary["ttftMs"]["max"] == _ms(stream, "completionStartTime")

    models = {row["model"]: row for row in usage["models"]}
    assert models["gpt-4o-mini"]["provider"] == "openai"
    # LiteLLM's costs as sent; the model it could not price is priced from usageql's table.
    assert models["gpt-4o-mini"]["metrics"]["spend"] == pytest.approx(
        sum(p["response_cost"] for p in gpt)
    )
    (haiku,) = by_model["claude-3-5-haiku-20241022"]
    assert haiku["response_cost"] == 0
    assert haiku["response_cost_failure_debug_info"]
    assert models["claude-3-5-haiku-20241022"]["provider"] == "anthropic"
    assert models["claude-3-5-haiku-20241022"]["metrics"]["spend"] != 0

    users = {
        edge["node"]["user"]["id"]: (edge["node"]["user"]["email"], edge["node"]["metrics"])
        for edge in usage["users"]["edges"]
    }
    assert users == {
        "end-user-1": (None, {"requests": 2}),  # a success and a rate-limited call
        "key-owner": ("owner@example.com", {"requests": 1}),  # no end user: the key's user
        "end-user-2": (None, {"requests": 1}),
    }
    rows = {
        tuple((k["dimension"], k["value"]) for k in row["keys"]): row["metrics"]["requests"]
        for row in usage["breakdown"]
    }
    assert rows == {
        (
            ("API_KEY", "gateway-key"),
            ("metadata.team", "search-team"),
            ("metadata.environment", "prod"),
            ("metadata.nested", None),  # not a text, number or boolean: not kept
        ): 1,
        (
            ("API_KEY", "gateway-key"),
            ("metadata.team", "search-team"),
            ("metadata.environment", None),
            ("metadata.nested", None),
        ): 1,
        (
            ("API_KEY", None),
            ("metadata.team", None),
            ("metadata.environment", None),
            ("metadata.nested", None),
        ): 5,
    }
    assert {row["tag"]: row["metrics"]["requests"] for row in usage["tags"]} == {
        "User-Agent:claude-cli/1.0": 1,
        "feature:summarize": 1,
    }
    assert usage["apps"] == [{"app": APP, "metrics": {"requests": 7}}]

    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                select(
                    messages.c.message_id,
                    messages.c.ts,
                    messages.c.status,
                    messages.c.error_type,
                    messages.c.chat_id,
                    messages.c.content_preview,
                    messages.c.metadata,
                )
            )
        ).all()
    sent = {p["litellm_call_id"]: p for p in payloads}
    assert {row.message_id for row in stored} == set(sent)
    for row in stored:
        payload = sent[row.message_id]
        assert row.ts == datetime.fromtimestamp(payload["startTime"], UTC)
        assert row.status == ("error" if payload["status"] == "failure" else "success")
        failure = payload["error_information"]["error_class"] or None
        assert row.error_type == failure
        assert row.chat_id == (payload["session_id"] or None)
        assert row.metadata["call_type"] == "acompletion"
    assert {row.error_type for row in stored} == {None, "RateLimitError", "InternalServerError"}
    assert {row.chat_id for row in stored} == {None, "chat-9"}
    assert {row.content_preview for row in stored} >= {
        "hello there",
        "a streamed answer",
        "ok",
        "hola",
    }


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["ndjson", "single"])
async def test_every_log_format_of_litellm_is_read(
    engine: AsyncEngine, client: httpx.AsyncClient, served: str, tmp_path: Path, log_format: str
) -> None:
    key = await gateway_key(engine)
    payloads = await produce(served, key, log_format, tmp_path / "sent.json")
    question = "{ usage { summary { requests tokens { total } } } }"
    with count_statements(engine) as sql:
        response = await client.post("/graphql", json={"query": question})
    assert sql.count == 1, sql
    assert len(payloads) == 7
    assert response.json()["data"]["usage"]["summary"] == {
        "requests": 7,
        "tokens": {"total": sum(p["total_tokens"] for p in payloads)},
    }


def _payload(call_id: str, **fields: Any) -> dict[str, Any]:
    """The fields of a standard logging payload the receiver reads (LiteLLM sends ~45)."""
    return {
        "litellm_call_id": call_id,
        "id": f"chatcmpl-{call_id}",
        "status": "success",
        "model": "gpt-4o-mini",
        "custom_llm_provider": "openai",
        "startTime": 1_796_311_837.25,
        "endTime": 1_796_311_838.5,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "total_tokens": 30,
        "response_cost": 0.5,
        **fields,
    }


async def test_a_bad_payload_is_rejected_alone_naming_litellms_field(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    batch = [
        _payload("good"),
        "not an object",
        _payload("late", startTime="yesterday"),
        _payload("", id=None),
        _payload("tokens", prompt_tokens=-3),
        _payload("tags", request_tags="a,b"),
    ]
    response = await client.post(ROUTE, json=batch)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    rejected = [(r["index"], r["id"], r["error"]) for r in response.json()["rejected"]]
    assert rejected == [
        (1, None, "expected a standard logging payload (a JSON object), got str"),
        (2, "late", "startTime: expected epoch seconds (a number), got 'yesterday'"),
        (3, None, "litellm_call_id: missing: each payload needs LiteLLM's call id"),
        (4, "tokens", "prompt_tokens: expected a whole number of tokens, got -3"),
        (5, "tags", "request_tags: expected a list of tags, got str"),
    ]
    async with engine.connect() as connection:
        stored = (await connection.execute(select(messages.c.message_id, messages.c.cost))).all()
    assert [tuple(row) for row in stored] == [("good", 0.5)]


async def test_ndjson_lines_are_read_each_on_its_own(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    lines = [json.dumps(_payload("a")), "{not json", json.dumps(_payload("b"))]
    response = await client.post(
        ROUTE, content="\n".join(lines), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["line"], r["id"]) for r in body["rejected"]] == [(2, None)]
    assert body["rejected"][0]["error"].startswith("not valid JSON: ")


async def test_bodies_that_are_no_payloads_are_refused_whole(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        ROUTE, content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("the body is not valid JSON: ")
    scalar = await client.post(ROUTE, json=42)
    assert scalar.status_code == 400
    assert "LiteLLM's standard logging payloads" in scalar.json()["error"]
    text = await client.post(ROUTE, content=b"{}", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert "application/json" in text.json()["error"]


async def test_only_writing_keys_of_the_payloads_app_may_post(
    app: Starlette, engine: AsyncEngine
) -> None:
    reader, _ = await create_key(engine, Role.READER)
    other_app, _ = await create_key(engine, Role.INGEST, apps=["a", "b"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://usageql.test") as client:
        anonymous = await client.post(ROUTE, json=[_payload("x")])
        assert anonymous.status_code == 401
        assert ROUTE in anonymous.json()["error"]
        headers = {"authorization": f"Bearer {reader}"}
        read_only = await client.post(ROUTE, json=[_payload("x")], headers=headers)
        assert read_only.status_code == 403
        assert f"POST {ROUTE} takes an ingest or admin key" in read_only.json()["error"]
        # A key of two apps names none of them: the payload's app is `default`, outside both.
        headers = {"authorization": f"Bearer {other_app}"}
        outside = await client.post(ROUTE, json=[_payload("x")], headers=headers)
        assert outside.status_code == 422
        assert outside.json()["rejected"][0]["error"] == (
            "app: this API key may only write to apps a, b, not 'default'"
        )
    async with engine.connect() as connection:
        assert (await connection.execute(select(messages.c.message_id))).all() == []
