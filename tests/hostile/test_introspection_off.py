"""Threat: with introspection off (USAGEQL_INTROSPECTION=false), a client maps the schema anyway
from graphql-core's "Did you mean ...?" suggestions, one misspelt name at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from tests.app_client import app_client
from usageql.config import Settings

# (query, variables, a real name that a suggestion would reveal)
MISSPELT = [
    ("{ usag { summary { messages } } }", None, "usage"),
    ("{ usage { summary { mesages } } }", None, "messages"),
    ('{ usage(timezon: "UTC") { summary { messages } } }', None, "timezone"),
    ('{ usage(filter: {modls: ["x"]}) { summary { messages } } }', None, "models"),
    ("{ usage { timeseries(granularity: DAYY) { start } } }", None, "'DAY'"),
    (
        "query($g: Granularity!) { usage { timeseries(granularity: $g) { start } } }",
        {"g": "DAYY"},
        "'DAY'",
    ),
    (
        "query($f: UsageFilter) { usage(filter: $f) { summary { messages } } }",
        {"f": {"fromm": "2026-01-01T00:00:00Z"}},
        "'from'",
    ),
    ("query($f: UsageFiltr) { usage(filter: $f) { summary { messages } } }", None, "UsageFilter"),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(
        settings,
        introspection=False,
    )


async def _message(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None) -> str:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    (error,) = response.json()["errors"]
    message: str = error["message"]
    return message


@pytest.mark.parametrize(("query", "variables", "real"), MISSPELT)
async def test_errors_suggest_no_name_when_introspection_is_off(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, real: str
) -> None:
    message = await _message(client, query, variables)
    assert "Did you mean" not in message
    assert real not in message


async def test_errors_keep_their_suggestions_when_introspection_is_on(
    settings: Settings,
) -> None:
    async with app_client(settings.with_changes(introspection=True)) as client:
        for query, variables, real in MISSPELT:
            message = await _message(client, query, variables)
            assert "Did you mean" in message
            assert real in message
