"""The query cost is an upper bound of the rows an answer holds, known before any SQL runs:
representative queries (nested series, rolling active users, open ranges, variables with
defaults, pages, breakdown keys, fragments) report a cost at least the rows they return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from graphql import get_named_type, is_list_type, is_non_null_type, is_object_type
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.app_client import authorized_client
from tests.sqlcount import count_statements
from usageql.auth import Role
from usageql.graphql.cost import COUNTED_LISTS
from usageql.graphql.schema import schema
from usageql.ingest.pricing import BUILTIN_PRICES

MODELS = ("gpt-4o", "claude-x", "local-llm")


def _events() -> list[dict[str, Any]]:
    """60 messages over 1 to 10 March 2026 in apps a and b: 3 models, 5 users, 12 chats, tags;
    a rating for every fifth one."""
    start = datetime(2026, 3, 1, 7, tzinfo=UTC)
    records: list[dict[str, Any]] = []
    for n in range(60):
        records.append(
            {"id": f"m{n}", "app": "ab"[n % 2], "timestamp": (start + timedelta(hours=n * 3.7))
             .isoformat(), "model": MODELS[n % 3], "user": f"u{n % 5}", "chat_id": f"c{n % 12}",
             "tags": [f"t{n % 4}"], "usage": {"input_tokens": 10 + n, "output_tokens": n}}
        )  # fmt: skip
        if n % 5 == 0:
            records.append(
                {"type": "feedback", "id": f"f{n}", "app": "ab"[n % 2], "message_id": f"m{n}",
                 "timestamp": (start + timedelta(hours=n * 3.7 + 1)).isoformat(), "rating": 1}
            )  # fmt: skip
    return records


@pytest.fixture
async def data(app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await client.post("/v1/events", json=_events())
    assert response.json()["accepted"] == 72
    await app.state.first_events.refresh(engine)  # as the server does every few seconds


def _rows(value: Any) -> int:
    """Rows in an answer: the objects in its lists, at any depth."""
    if isinstance(value, dict):
        return sum(_rows(v) for v in value.values())
    if isinstance(value, list):
        return sum(1 + _rows(v) for v in value if isinstance(v, dict))
    return 0


async def _cost_and_rows(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    query: str,
    statements: int,
    variables: dict[str, Any] | None = None,
) -> tuple[int, int]:
    with count_statements(engine) as sql:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert sql.count == statements, sql
    cost: int = body["extensions"]["cost"]["rows"]
    return cost, _rows(body["data"])


RANGE = '{from: "2026-03-01T00:00:00Z", to: "2026-03-08T00:00:00Z"}'

# (query, variables, statements, the exact cost when the range fixes it)
CASES: list[tuple[str, dict[str, Any] | None, int, int | None]] = [
    (  # a day series in Berlin (8 local days touch the range), hours nested in each day
        f'{{ usage(filter: {RANGE}, timezone: "Europe/Berlin") {{ timeseries(granularity: DAY)'
        " { start usage { timeseries(granularity: HOUR) { start metrics { messages } } } } } }",
        None, 2, 8 + 8 * 28,
    ),
    (  # series in series in series, each narrowing the next to one of its buckets
        f"{{ usage(filter: {RANGE}) {{ timeseries(granularity: WEEK) {{ usage {{"
        " timeseries(granularity: DAY) { usage { timeseries(granularity: HOUR, fillGaps: false)"
        " { start } } } } } } }",
        # 2 ISO weeks touch the range, each at most its 7 days of it, each day at most 28 hours
        None, 3, 2 + 2 * 7 + 2 * 7 * 28,
    ),
    (  # rolling weekly active users over an open range: one row per day
        "{ usage { activeUsers(period: WEEK, window: ROLLING) { start users } } }", None, 2, None,
    ),
    (  # calendar months in a zone, over an open range; ratings without gaps filled
        '{ usage(timezone: "America/Santiago") { activeUsers(period: MONTH) { start users }'
        " feedback(granularity: DAY, fillGaps: false) { start positive } } }",
        None, 2, None,
    ),
    (  # every size from variables' defaults: 3 models, 48 hours each
        "query ($g: Granularity = HOUR, $from: DateTime = \"2026-03-01T00:00:00Z\","
        ' $to: DateTime = "2026-03-03T00:00:00Z", $n: Int = 3) { usage(filter: {from: $from,'
        " to: $to}) { models(limit: $n) { model usage { timeseries(granularity: $g) { start } }"
        " } } }",
        None, 2, 3 + 3 * 48,
    ),
    (  # sizes from variables sent
        "query ($first: Int!, $by: [Dimension!]!) { usage { users(first: $first) { edges {"
        " node { usage { tags(limit: 2) { tag } } } } } breakdown(by: $by, limit: 4) {"
        " keys { dimension value } } } }",
        {"first": 3, "by": ["APP", "MODEL"]}, 3, 3 + 3 * 2 + 4 + 4 * 2,
    ),
    (  # pages, rankings and their nested scopes
        "{ usage { chats(first: 5) { edges { node { id usage { models { model } } } } }"
        " apps { app usage { chatTags(limit: 3) { tag } } } } }",
        None, 4, 5 + 5 * 50 + 50 + 50 * 3,
    ),
    (  # fragments and aliases: each use counts
        "{ one: usage { ...top } two: usage(filter: {apps: [\"a\"]}) { ...top } }"
        " fragment top on Usage { models(limit: 2) { model } tags(limit: 3) { tag } }",
        None, 4, 2 * (2 + 3),
    ),
]  # fmt: skip


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize(("query", "variables", "statements", "exact"), CASES)
async def test_the_cost_bounds_the_rows_returned(
    *,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    query: str,
    variables: dict[str, Any] | None,
    statements: int,
    exact: int | None,
) -> None:
    cost, rows = await _cost_and_rows(client, engine, query, statements, variables)
    assert 0 < rows <= cost
    if exact is not None:
        assert cost == exact


@pytest.mark.usefixtures("data")
async def test_an_open_range_counts_from_the_scopes_first_event(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = "{ usage { timeseries(granularity: DAY) { start } } }"
    cost, rows = await _cost_and_rows(client, engine, query, 1)
    # From 1 March 2026 (the first event) to tomorrow (ingestion accepts a day ahead).
    days = (datetime.now(UTC).date() - datetime(2026, 3, 1).date()).days + 2
    assert rows <= cost <= days + 1
    async with authorized_client(app, Role.READER, apps=["b"]) as bound:
        # App b's first event is 3.7 hours later, on the same day: the same days.
        cost_b, _ = await _cost_and_rows(bound, engine, query, 1)
    assert cost_b <= cost

    app.state.first_events.catalog = type(app.state.first_events.catalog)()  # nothing known
    unknown, _ = await _cost_and_rows(client, engine, query, 1)
    # Ingestion refuses events before 2000: counting from there is safe.
    assert unknown >= (datetime.now(UTC).date() - datetime(2000, 1, 1).date()).days


@pytest.mark.usefixtures("data")
async def test_root_lists_count_the_apps_and_prices(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = "{ apps { id } prices { model } }"
    cost, rows = await _cost_and_rows(client, engine, query, 2)
    assert cost == rows == 2 + len(BUILTIN_PRICES)  # apps a and b, every built-in price


async def test_the_issues_query_is_refused_before_any_sql(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = (
        '{ usage(filter: {from: "2000-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z"}) {'
        " breakdown(by: [CHAT], limit: 60) { usage { timeseries(granularity: DAY) { start"
        " metrics { messages } } } } } }"
    )
    with count_statements(engine) as sql:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert sql.count == 0
    assert body["data"] is None
    (error,) = body["errors"]
    # 60 chats, each with every day of 27 years (9,862 buckets: under MAX_BUCKETS).
    assert error["extensions"] == {"code": "QUERY_TOO_EXPENSIVE", "cost": 60 + 60 * 9862,
                                   "limit": 250_000}  # fmt: skip
    assert (
        "this query could ask for 591,780 rows, more than the limit of 250,000"
        in (error["message"])
    )


async def test_arguments_the_field_refuses_count_no_rows(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # limit 5000 is refused by the field (1 to 1000) before it reads anything: it costs nothing.
    query = "{ usage { models(limit: 5000) { model } } }"
    with count_statements(engine) as sql:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert sql.count == 0
    assert body["extensions"]["cost"]["rows"] == 0
    assert "limit: must be between 1 and 1000, got 5000" in body["errors"][0]["message"]


def test_every_list_of_rows_in_the_schema_is_counted() -> None:
    lists = set()
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not is_object_type(graphql_type):
            continue
        for field_name, field in graphql_type.fields.items():
            field_type = field.type.of_type if is_non_null_type(field.type) else field.type
            if is_list_type(field_type) and is_object_type(get_named_type(field_type)):
                lists.add((name, field_name))
    assert lists == COUNTED_LISTS
