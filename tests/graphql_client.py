"""Posting GraphQL to the app in tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.sqlcount import count_statements


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run `query` and return its data, failing the test on any GraphQL error."""
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def graphql_counted(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    query: str,
    statements: int,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `query` and return its data, asserting it ran exactly `statements` SQL statements."""
    with count_statements(engine) as sql:
        data = await graphql(client, query, variables)
    assert sql.count == statements, sql
    return data


async def ask_usage(
    client: httpx.AsyncClient, engine: AsyncEngine, query: str, statements: int
) -> dict[str, Any]:
    """The `usage` field of `query`'s data, asserting it ran exactly `statements` statements."""
    data = await graphql_counted(client, engine, query, statements)
    usage: dict[str, Any] = data["usage"]
    return usage
