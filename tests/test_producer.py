"""Each message keeps the path it came by (`producer`): POST /v1/events and the GraphQL mutations
are `api`, `usageql import` is `import`, LiteLLM's receiver is `litellm`; a dimension to break
down and filter by, answered from raw events (the rollups do not keep it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from usageql.ingest.importer import import_files
from usageql.ingest.pipeline import Ingestor

WHEN = "2026-03-01T12:00:00+00:00"
RECORD = """mutation Record($messages: [MessageInput!]!) { recordMessages(messages: $messages) {
  accepted } }"""


def message(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "timestamp": WHEN, "model": "gpt-4o", **fields}


@pytest.fixture
async def from_every_path(client: httpx.AsyncClient, engine: AsyncEngine, tmp_path: Path) -> None:
    posted = await client.post("/v1/events", json=[message("e1"), message("e2")])
    assert posted.json()["accepted"] == 2
    recorded = await graphql(client, RECORD, {"messages": [message("g1")]})
    assert recorded["recordMessages"]["accepted"] == 1
    file = tmp_path / "backfill.ndjson"
    file.write_text("\n".join(json.dumps(message(f"i{n}")) for n in range(3)))
    summary = await import_files(Ingestor(engine), [str(file)])
    assert summary.accepted == 3
    payload = {
        "litellm_call_id": "call-1",
        "model": "gpt-4o",
        "startTime": 1_772_366_400.0,  # 2026-03-01 12:00 UTC
        "prompt_tokens": 3,
        "completion_tokens": 4,
    }
    received = await client.post("/v1/integrations/litellm", json=[payload])
    assert received.json()["accepted"] == 1


@pytest.mark.usefixtures("from_every_path")
async def test_a_message_keeps_the_path_it_came_by(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    question = """{ usage {
      breakdown(by: [PRODUCER]) { keys { value } metrics { requests } }
      litellm: summary(filter: {producers: ["litellm"]}) { requests tokens { total } }
    } }"""
    with count_statements(engine) as sql:
        data = await graphql(client, question)
    assert sql.count == 2, sql
    assert "usage_hourly" not in str(sql)  # the rollups do not keep producers: raw events
    rows = {
        row["keys"][0]["value"]: row["metrics"]["requests"] for row in data["usage"]["breakdown"]
    }
    assert rows == {"api": 3, "import": 3, "litellm": 1}
    assert data["usage"]["litellm"] == {"requests": 1, "tokens": {"total": 7}}
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT message_id, producer FROM messages"))
        stored = {row.message_id: row.producer for row in result}
    assert stored == {
        "e1": "api",
        "e2": "api",
        "g1": "api",
        "i0": "import",
        "i1": "import",
        "i2": "import",
        "call-1": "litellm",
    }
