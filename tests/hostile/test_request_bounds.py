"""Hostile sizes on /graphql: a body or query string past its bound, an answer past its bound,
string arguments longer than anything stored, and record batches multiplied by aliases. Each is
refused with the bound named, before any SQL runs (or, for an answer, instead of sending it)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import app_client
from tests.sqlcount import count_statements
from usageql.config import Settings
from usageql.demo.generate import DemoGenerator, DemoOptions
from usageql.graphql.inputs import UsageFilter
from usageql.graphql.view import _json

LIMIT = 4096  # bytes of a request body and of an answer, in these tests' server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(
        settings,
        max_graphql_bytes=LIMIT,
        max_response_bytes=LIMIT,
        max_batch_records=5,
    )


async def _refused(engine: AsyncEngine, send: Any, *, status: int, code: str) -> dict[str, Any]:
    """The error of a request `send()` makes, checking that no SQL ran."""
    with count_statements(engine) as sql:
        response: httpx.Response = await send()
    assert sql.count == 0, sql
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    return body


TOO_LARGE = (
    "the request is larger than the 4,096 bytes this server accepts on /graphql"
    " (USAGEQL_MAX_GRAPHQL_BYTES): send fewer records per request (or POST them to /v1/events),"
    " or shorten the query and its variables"
)


async def test_a_body_past_the_bound_is_refused_unread(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = "query ($t: String) { usage(filter: {tagContains: $t}) { summary { messages } } }"
    fits = {"query": query, "variables": {"t": "x" * 100}}
    assert (await client.post("/graphql", json=fits)).status_code == 200
    large = {"query": query, "variables": {"t": "x" * LIMIT}}
    body = await _refused(
        engine,
        lambda: client.post("/graphql", json=large),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    )
    assert body["errors"][0] == {
        "message": TOO_LARGE,
        "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": LIMIT},
    }

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 1000

    json_type = {"content-type": "application/json"}
    await _refused(
        engine,
        lambda: client.post("/graphql", content=chunks(), headers=json_type),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    )


async def test_a_query_string_past_the_bound_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    document = '{ usage(filter: {tagContains: "%s"}) { summary { messages } } }' % ("x" * LIMIT)
    await _refused(
        engine,
        lambda: client.get("/graphql", params={"query": document}),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    )


async def test_the_default_bound_refuses_a_larger_body(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    async with app_client(settings) as client:
        padding = " " * settings.max_graphql_bytes
        response = await client.post(
            "/graphql",
            content=b'{"query": "{ viewer { role } }"}' + padding.encode(),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert "16,777,216 bytes" in response.json()["errors"][0]["message"]


def _graphql_message(record: dict[str, Any]) -> dict[str, Any]:
    """A demo record as recordMessages takes it (camelCase, enums in capitals)."""
    names = {"chat_id": "chatId", "api_key": "apiKey", "error_type": "errorType",
             "latency_ms": "latencyMs", "ttft_ms": "ttftMs", "usage": "providerUsage"}  # fmt: skip
    upper = {"role", "status"}
    return {
        names.get(key, key): value.upper() if key in upper else value
        for key, value in record.items()
        if value is not None
    }


def test_the_default_bound_admits_a_full_batch_of_realistic_records() -> None:
    generator = DemoGenerator(DemoOptions(messages=12_000, end=datetime(2026, 11, 1, tzinfo=UTC)))
    records = [r for batch, _ in generator.batches() for r in batch if "type" not in r][:10_000]
    assert len(records) == Settings().max_batch_records
    body = json.dumps(
        {"query": "mutation ($m: [MessageInput!]!) { recordMessages(messages: $m) { accepted } }",
         "variables": {"m": [_graphql_message(r) for r in records]}}
    )  # fmt: skip
    # About 6.8 MB: the bound leaves more than twice that, for longer contents and metadata.
    assert 2 * len(body) < Settings().max_graphql_bytes


async def test_an_answer_past_the_bound_is_replaced_by_an_error(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = (
        '{ usage(filter: {from: "2026-03-01T00:00:00Z", to: "2026-03-08T00:00:00Z"}) {'
        " timeseries(granularity: HOUR) { start end } } }"
    )
    with count_statements(engine) as sql:
        response = await client.post("/graphql", json={"query": query})
    assert sql.count == 1  # the series ran; its 168 buckets are not sent
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    size = error["extensions"]["bytes"]
    assert size > LIMIT
    assert error == {
        "message": f"the answer would be {size:,} bytes, more than the 4,096 this server sends"
        " (USAGEQL_MAX_RESPONSE_BYTES): ask for fewer rows (limit, first, a shorter from/to, a"
        " coarser granularity) or fewer fields, or page through the rows",
        "extensions": {"code": "RESPONSE_TOO_LARGE", "bytes": size, "limit": LIMIT},
    }
    assert body["extensions"]["cost"] == {"rows": 168, "limit": 250_000}
    assert len(response.content) < LIMIT


def test_answers_are_utf8_json_sized_in_bytes_and_big_integers_stay_exact() -> None:
    answer = {"data": {"model": "模型-é", "tokens": 2**70, "spend": 0.5}}
    encoded = _json(answer)
    assert json.loads(encoded) == answer  # past 64 bits: the json module's encoding
    assert _json({"model": "é"}) == '{"model":"é"}'.encode()  # 2 bytes, not a 6-byte escape


LONG = "x" * 201


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (f'tags: ["ok", "{LONG}"]', "filter.tags[1]: 201 characters; tags are at most 200"
         " characters"),
        (f'tagContains: "{LONG}"', "filter.tagContains: 201 characters; tags are at most 200"
         " characters, so no tag contains it"),
        (f'models: ["{LONG}"]', "filter.models[0]: 201 characters; model names are at most 200"
         " characters"),
        (f'chats: ["{LONG}"]', "filter.chats[0]: 201 characters; chat ids are at most 200"
         " characters"),
        ("users: [%s]" % ", ".join(f'"u{n}"' for n in range(1001)),
         "filter.users: 1,001 values; at most 1,000 are accepted"),
        (f'metadata: [{{key: "{"k" * 65}", values: ["v"]}}]',
         "filter.metadata[0].key: 65 characters; metadata keys are at most 64 characters"),
        (f'metadata: [{{key: "plan", values: ["{"v" * 1001}"]}}]',
         "filter.metadata[0].values[0]: 1,001 characters; metadata values are at most 1,000"
         " characters"),
    ],
)  # fmt: skip
async def test_string_arguments_are_bounded(
    database_url: str, tmp_path: Path, field: str, message: str
) -> None:
    # The usual request bound: these documents are larger than this module's 4 KiB.
    async with app_client(Settings(database_url=database_url, data_dir=tmp_path)) as client:
        for query in (
            "{ usage(filter: {%s}) { summary { messages } } }" % field,
            "{ usage { models(filter: {%s}) { model } } }" % field,
        ):
            body = (await client.post("/graphql", json={"query": query})).json()
            assert body["data"] is None
            assert body["errors"][0]["message"] == message


@pytest.mark.parametrize(
    "name",
    sorted(
        field.name
        for field in dataclasses.fields(UsageFilter)
        if field.name not in {"from_", "to", "tag_contains", "status", "metadata"}
    ),
)
async def test_every_list_of_a_filter_refuses_nul_and_overlong_values(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str
) -> None:
    """Each list a filter has (the ones added later too) is checked before any SQL runs."""
    first, *rest = name.split("_")
    camel = first + "".join(part.title() for part in rest)
    for values, problem in (
        ('["ok", "a\\u0000b"]', f"filter.{camel}[1]: contains a NUL character"),
        (f'["{"x" * 1001}"]', f"filter.{camel}[0]: 1,001 characters"),
    ):
        query = "{ usage(filter: {%s: %s}) { summary { messages } } }" % (camel, values)
        with count_statements(engine) as sql:
            body = (await client.post("/graphql", json={"query": query})).json()
        assert sql.count == 0
        assert body["data"] is None, body
        assert body["errors"][0]["message"].startswith(problem), body


async def test_a_time_zone_name_is_bounded(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    query = '{ usage(timezone: "%s") { summary { messages } } }' % ("Europe/" + "x" * 60)
    with count_statements(engine) as sql:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert sql.count == 0
    message = body["errors"][0]["message"]
    assert message.startswith("timezone: ")
    assert "67 characters" in message
    assert "64" in message


def _messages(prefix: str, count: int) -> str:
    return ", ".join(
        f'{{id: "{prefix}{n}", timestamp: "2026-03-01T10:00:00Z", model: "m"}}'
        for n in range(count)
    )


async def _stored(client: httpx.AsyncClient) -> int:
    body = await client.post("/graphql", json={"query": "{ usage { summary { messages } } }"})
    messages: int = body.json()["data"]["usage"]["summary"]["messages"]
    return messages


async def test_the_record_limit_holds_across_aliases(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    aliased = "mutation { %s }" % " ".join(
        f"a{n}: recordMessages(messages: [{_messages(f'm{n}-', 2)}]) {{ accepted }}"
        for n in range(3)
    )
    body = await _refused(
        engine,
        lambda: client.post("/graphql", json={"query": aliased}),
        status=200,
        code="TOO_MANY_RECORDS",
    )
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "6 records in one request (recordMessages, recordFeedback and upsertChats together,"
        " whatever their aliases); at most 5 are accepted (USAGEQL_MAX_BATCH_RECORDS): split"
        " them over several requests. Nothing was stored"
    )
    # From variables too, and across the three mutations.
    mixed = (
        "mutation ($m: [MessageInput!]!, $f: [FeedbackInput!]!) { recordMessages(messages: $m)"
        " { accepted } recordFeedback(feedback: $f) { accepted } upsertChats(chats:"
        ' {id: "c1", timestamp: "2026-03-01T10:00:00Z"}) { accepted } }'
    )
    rating = {"id": "f1", "timestamp": "2026-03-01T10:00:00Z", "rating": 1, "model": "m"}
    message = {"id": "v1", "timestamp": "2026-03-01T10:00:00Z", "model": "m"}
    ratings = [rating, {**rating, "id": "f2"}, {**rating, "id": "f3"}]
    variables = {"m": [message, {**message, "id": "v2"}], "f": ratings}
    await _refused(
        engine,
        lambda: client.post("/graphql", json={"query": mixed, "variables": variables}),
        status=200,
        code="TOO_MANY_RECORDS",
    )
    assert await _stored(client) == 0

    within = "mutation { %s }" % " ".join(
        f"a{n}: recordMessages(messages: [{_messages(f'm{n}-', 2)}]) {{ accepted }}"
        for n in range(2)
    )
    response = await client.post("/graphql", json={"query": within})
    assert response.json()["data"] == {"a0": {"accepted": 2}, "a1": {"accepted": 2}}
    assert await _stored(client) == 4


async def test_a_variables_default_counts_as_records(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = (
        "mutation ($m: [MessageInput!]! = [%s]) { recordMessages(messages: $m) { accepted } }"
        % _messages("d", 6)
    )
    await _refused(
        engine,
        lambda: client.post("/graphql", json={"query": query}),
        status=200,
        code="TOO_MANY_RECORDS",
    )
