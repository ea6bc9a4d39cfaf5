"""Query.usage on a small fixture whose numbers are worked out by hand below."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.graphql_client import graphql, graphql_counted
from tests.sqlcount import count_statements


@pytest.mark.usefixtures("usage_data")
async def test_summary_computes_every_metric(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage { summary {
            messages requests successfulRequests failedRequests unpricedRequests
            users chats models spend
            tokens { input output cacheRead cacheWrite reasoning total }
            latencyMs { avg p50 p90 max } ttftMs { p50 }
        } } }""",
        statements=1,
    )
    assert data["usage"]["summary"] == {
        "messages": 5,
        "requests": 4,  # m4 is a user message
        "successfulRequests": 3,
        "failedRequests": 1,
        "unpricedRequests": 1,  # local-llm has no price and reported no cost
        "users": 3,
        "chats": 3,
        "models": 3,
        "spend": 1.75,
        "tokens": {
            "input": 360,
            "output": 36,
            "cacheRead": 0,
            "cacheWrite": 0,
            "reasoning": 0,
            "total": 396,
        },
        # latencies 100, 200, 300, 400: continuous percentiles
        "latencyMs": {"avg": 250.0, "p50": 250.0, "p90": 370.0, "max": 400.0},
        "ttftMs": {"p50": None},
    }


@pytest.mark.usefixtures("usage_data")
async def test_models_are_ordered_with_ties_broken_by_name(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        "{ usage { models(orderBy: {metric: REQUESTS}) { model provider metrics { requests } } } }",
        statements=1,
    )
    assert [(m["model"], m["metrics"]["requests"]) for m in data["usage"]["models"]] == [
        ("gpt-4o", 2),
        ("claude-x", 1),
        ("local-llm", 1),
    ]
    ascending = await graphql_counted(
        client,
        engine,
        "{ usage { models(orderBy: {metric: SPEND, direction: ASC}, limit: 2) { model } } }",
        statements=1,
    )
    # spend: gpt-4o 0.75, claude-x 1.0, local-llm null (unpriced): unknown comes last either way
    assert [m["model"] for m in ascending["usage"]["models"]] == ["gpt-4o", "claude-x"]


@pytest.mark.usefixtures("usage_data")
async def test_days_begin_at_midnight_in_the_requested_zone(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = """{ usage(filter: {from: "2026-03-01T00:00:00Z", to: "2026-03-06T00:00:00Z"}%s) {
        timeseries(granularity: DAY) { start end metrics { messages } } } }"""
    utc = await graphql_counted(client, engine, query % "", statements=1)
    assert [(b["start"][:10], b["metrics"]["messages"]) for b in utc["usage"]["timeseries"]] == [
        ("2026-03-01", 1), ("2026-03-02", 2), ("2026-03-03", 1), ("2026-03-04", 0),
        ("2026-03-05", 1),
    ]  # fmt: skip
    berlin = await graphql_counted(
        client, engine, query % ', timezone: "Europe/Berlin"', statements=1
    )
    series = berlin["usage"]["timeseries"]
    assert series[0]["start"] == "2026-02-28T23:00:00+00:00"  # 1 March, 00:00 in Berlin
    assert series[0]["end"] == "2026-03-01T23:00:00+00:00"
    # m3 (23:30 UTC on 2 March) is on 3 March in Berlin; the last bucket starts before `to`.
    assert [b["metrics"]["messages"] for b in series] == [1, 1, 2, 0, 1, 0]


@pytest.mark.usefixtures("usage_data")
async def test_each_level_of_drill_down_costs_one_statement(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage(timezone: "UTC") { models(limit: 5) { model
              usage { timeseries(granularity: DAY, fillGaps: false) { start
                usage { summary { users } tags(limit: 5) { tag } } } } } } }""",
        statements=4,  # models; their days; each day's summary; each day's tags
    )
    gpt = data["usage"]["models"][0]
    assert gpt["model"] == "gpt-4o"
    assert [
        (d["start"][:10], d["usage"]["summary"]["users"], [t["tag"] for t in d["usage"]["tags"]])
        for d in gpt["usage"]["timeseries"]
    ] == [("2026-03-01", 1, ["UA:x", "f:1"]), ("2026-03-02", 1, ["UA:y"])]


@pytest.mark.usefixtures("usage_data")
async def test_tags_filter_on_the_tag_itself_and_rows_narrow_their_usage(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage { tags(filter: {tagContains: "ua:"}) { tag
              metrics { requests users } usage { summary { messages } } } } }""",
        statements=2,
    )
    assert data["usage"]["tags"] == [
        {
            "tag": "UA:x",
            "metrics": {"requests": 2, "users": 1},
            "usage": {"summary": {"messages": 2}},
        },
        {
            "tag": "UA:y",
            "metrics": {"requests": 1, "users": 1},
            "usage": {"summary": {"messages": 1}},
        },
    ]


@pytest.mark.usefixtures("usage_data")
async def test_breakdown_keeps_rows_without_a_key(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage { breakdown(by: [APP, MODEL], metadataKeys: ["plan"],
              orderBy: {metric: MESSAGES, direction: ASC}) {
              keys { dimension value } metrics { messages } usage { summary { requests } } } } }""",
        statements=2,
    )
    rows = [
        ([k["value"] for k in row["keys"]], row["metrics"]["messages"], row["usage"]["summary"])
        for row in data["usage"]["breakdown"]
    ]
    assert rows == [
        (["a", "gpt-4o", "pro"], 1, {"requests": 1}),  # ties: by keys, nulls last
        (["a", "gpt-4o", None], 1, {"requests": 1}),
        (["a", "local-llm", "free"], 1, {"requests": 1}),
        (["b", "claude-x", None], 1, {"requests": 1}),
        (["b", None, None], 1, {"requests": 0}),  # the user message has no model
    ]
    assert data["usage"]["breakdown"][0]["keys"][2]["dimension"] == "metadata.plan"


@pytest.mark.usefixtures("usage_data")
async def test_filters_combine_down_the_tree(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage(filter: {apps: ["a"]}) {
              summary(filter: {status: SUCCESS}) { requests }
              models(filter: {users: ["u1"]}) { model usage { summary(filter: {apps: ["b"]}) {
                messages } } } } }""",
        statements=3,
    )
    assert data["usage"]["summary"] == {"requests": 2}
    assert data["usage"]["models"] == [
        {"model": "gpt-4o", "usage": {"summary": {"messages": 0}}},
        {"model": "local-llm", "usage": {"summary": {"messages": 0}}},
    ]


@pytest.mark.usefixtures("usage_data")
async def test_apps_rank_apps_and_narrow_to_them(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        "{ usage { apps { app metrics { messages spend } usage { models { model } } } } }",
        statements=2,
    )
    assert data["usage"]["apps"] == [
        {"app": "a", "metrics": {"messages": 3, "spend": 0.75},
         "usage": {"models": [{"model": "gpt-4o"}, {"model": "local-llm"}]}},
        {"app": "b", "metrics": {"messages": 2, "spend": 1.0},
         "usage": {"models": [{"model": "claude-x"}]}},
    ]  # fmt: skip


async def _statements_for(client: httpx.AsyncClient, engine: AsyncEngine, query: str) -> int:
    with count_statements(engine) as sql:
        await graphql(client, query)
    return sql.count


DASHBOARD = """{ usage(timezone: "Europe/Berlin") {
  summary { messages users spend }
  timeseries(granularity: DAY) { start metrics { messages } }
  models(limit: 60) { model metrics { requests latencyMs { p95 } }
    usage { timeseries(granularity: DAY) { start metrics { requests } } } }
  tags { tag usage { summary { users } } } } }"""


async def test_statements_do_not_depend_on_models_or_days(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    one = [{"id": "x", "timestamp": "2026-03-01T10:00:00Z", "model": "m0", "tags": ["t"]}]
    await client.post("/v1/events", json=one)
    await app.state.first_events.refresh(engine)  # the query cost counts open ranges from it
    small = await _statements_for(client, engine, DASHBOARD)
    many = [
        {"id": f"y{n}", "timestamp": f"2025-{1 + n % 12:02}-{1 + n % 28:02}T10:00:00Z",
         "model": f"m{n % 50}", "tags": [f"t{n % 9}"]}
        for n in range(730)
    ]  # fmt: skip
    await client.post("/v1/events", json=many)
    await app.state.first_events.refresh(engine)
    large = await _statements_for(client, engine, DASHBOARD)
    data = await graphql(client, DASHBOARD)
    assert len(data["usage"]["models"]) == 50
    assert len(data["usage"]["timeseries"]) > 365
    assert small == large == 6


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{ usage(timezone: "Mars/Olympus") { summary { messages } } }',
         "timezone: 'Mars/Olympus' is not an IANA time zone name"),
        ('{ usage(filter: {from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z"}) {'
         " summary { messages } } }", "filter: from (2026-02-01T00:00:00+00:00) is after to"),
        ("{ usage { models(limit: 1001) { model } } }", "limit: must be between 1 and 1000"),
        ("{ usage { tags(limit: 0) { tag } } }", "limit: must be between 1 and 1000, got 0"),
        ("{ usage { breakdown(by: []) { keys { value } } } }", "by: give 1 to 5 dimensions"),
        ('{ usage { breakdown(by: [APP], metadataKeys: [""]) { keys { value } } } }',
         "metadataKeys: each key must be 1 to 64 characters"),
        ('{ usage(filter: {metadata: [{key: "", values: ["x"]}]}) { summary { messages } } }',
         "filter.metadata[0].key: empty; metadata keys are 1 to 64 characters"),
        ('{ usage(filter: {from: "2026-01-01T00:00:00"}) { summary { messages } } }',
         "filter.from: needs a UTC offset"),
        ("{ usage { users(first: 5000) { totalCount } } }", "first: must be between 1 and 1000"),
        ('{ usage(filter: {tags: ["a\\u0000"]}) { summary { messages } } }',
         "filter.tags[0]: contains a NUL character"),
        ('{ usage { models(filter: {tagContains: "\\u0000"}) { model } } }',
         "filter.tagContains: contains a NUL character"),
    ],
)  # fmt: skip
async def test_bad_arguments_get_clear_errors(
    client: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await client.post("/graphql", json={"query": query})
    errors = response.json()["errors"]
    assert message in errors[0]["message"]


USERS = """query($after: String) { usage {
  users(first: 2, after: $after, orderBy: {metric: SUCCESSFUL_REQUESTS}) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { user { id name email firstSeen lastSeen }
      metrics { successfulRequests failedRequests requests tokens { total } spend }
      usage { tags(limit: 1, filter: {tagContains: "UA:"}) { tag } } } } } } }"""


@pytest.mark.usefixtures("usage_data")
async def test_users_page_with_cursors_profiles_and_nested_tags(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    with count_statements(engine) as sql:
        first = await graphql(client, USERS)
    assert sql.count == 3  # the rows, the users' profiles, each user's top tag
    page = first["usage"]["users"]
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is True
    nodes = [edge["node"] for edge in page["edges"]]
    # u1: 2 successful requests; u2 and u3: none, so the tie goes by id.
    assert [n["user"]["id"] for n in nodes] == ["u1", "u2"]
    assert nodes[0]["user"] == {
        "id": "u1",
        "name": "Ada",
        "email": "ada@example.com",
        "firstSeen": "2026-03-01T10:00:00+00:00",
        "lastSeen": "2026-03-02T23:30:00+00:00",
    }
    assert nodes[0]["metrics"] == {
        "successfulRequests": 2,
        "failedRequests": 0,
        "requests": 2,
        "tokens": {"total": 165},
        "spend": 0.5,
    }
    assert nodes[0]["usage"]["tags"] == [{"tag": "UA:x"}]
    assert nodes[1]["usage"]["tags"] == [{"tag": "UA:y"}]
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]

    second = await graphql(client, USERS, {"after": page["pageInfo"]["endCursor"]})
    rest = second["usage"]["users"]
    assert [e["node"]["user"]["id"] for e in rest["edges"]] == ["u3"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["totalCount"] == 3

    past = await graphql(client, USERS, {"after": rest["pageInfo"]["endCursor"]})
    assert past["usage"]["users"]["edges"] == []
    assert past["usage"]["users"]["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    assert past["usage"]["users"]["totalCount"] == 3


@pytest.mark.usefixtures("usage_data")
async def test_tampered_cursors_are_refused(client: httpx.AsyncClient) -> None:
    page = (await graphql(client, USERS))["usage"]["users"]
    cursor = page["pageInfo"]["endCursor"]
    for bad in (cursor[:-3] + "xyz", "not-a-cursor", ""):
        response = await client.post("/graphql", json={"query": USERS, "variables": {"after": bad}})
        (error,) = response.json()["errors"]
        assert error["message"] == (
            "after: not a cursor from this list; use pageInfo.endCursor of the previous page"
        )


PERIOD = '(filter: {from: "2026-03-01T00:00:00Z", to: "2026-03-06T00:00:00Z"})'


@pytest.mark.usefixtures("usage_data")
async def test_active_users_by_calendar_period_and_rolling_window(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        "{ usage" + PERIOD + " { daily: activeUsers(period: DAY) { start users }"
        " weekly: activeUsers(period: WEEK) { start end users }"
        " rolling: activeUsers(period: WEEK, window: ROLLING) { start end users } } }",
        statements=4,  # daily, weekly, the rolling series' days, its windows
    )
    usage = data["usage"]
    # users: 1 March u1; 2 March u2 and u1 (m3); 3 March u3; m5 on 5 March has no user.
    assert [d["users"] for d in usage["daily"]] == [1, 2, 1, 0, 0]
    # ISO weeks: 1 March 2026 is a Sunday, so it closes the week of 23 February.
    assert [(w["start"][:10], w["users"]) for w in usage["weekly"]] == [
        ("2026-02-23", 1),
        ("2026-03-02", 3),
    ]
    assert [(r["start"][:10], r["end"][:10], r["users"]) for r in usage["rolling"]] == [
        ("2026-02-23", "2026-03-02", 1),
        ("2026-02-24", "2026-03-03", 2),
        ("2026-02-25", "2026-03-04", 3),
        ("2026-02-26", "2026-03-05", 3),
        ("2026-02-27", "2026-03-06", 3),
    ]


@pytest.mark.usefixtures("usage_data")
async def test_feedback_per_day_per_model_and_per_tag_of_the_rated_message(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        "{ usage" + PERIOD + " { feedback { start positive negative }"
        " models { model usage { feedback(fillGaps: false) { start positive negative } } }"
        ' tags(filter: {tagContains: "UA:"}) { tag usage { feedback(fillGaps: false) {'
        " positive negative } } } } }",
        statements=5,  # feedback; models; their feedback; tags; their feedback
    )
    usage = data["usage"]
    assert [(b["positive"], b["negative"]) for b in usage["feedback"]] == [
        (1, 0), (0, 1), (0, 0), (0, 0), (1, 0),
    ]  # fmt: skip
    per_model = {
        m["model"]: [
            (b["start"][:10], b["positive"], b["negative"]) for b in m["usage"]["feedback"]
        ]
        for m in usage["models"]
    }
    assert per_model == {
        "gpt-4o": [("2026-03-01", 1, 0), ("2026-03-02", 0, 1)],
        "claude-x": [("2026-03-05", 1, 0)],  # rated by model name, without a message
        "local-llm": [],
    }
    assert [(t["tag"], t["usage"]["feedback"]) for t in usage["tags"]] == [
        ("UA:x", [{"positive": 1, "negative": 0}]),
        ("UA:y", [{"positive": 0, "negative": 1}]),
    ]


CHATS = """query($after: String, $order: ChatOrder) { usage { chats(first: 2, after: $after,
  orderBy: $order) { totalCount pageInfo { hasNextPage endCursor } edges { node {
    app id title user { id name } firstMessage createdAt updatedAt messages models tags
    metrics { requests spend } usage { models { model } } } } } } }"""


@pytest.mark.usefixtures("usage_data")
async def test_the_chat_browser_pages_through_described_chats(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    with count_statements(engine) as sql:
        data = await graphql(client, CHATS)
    assert sql.count == 4, sql  # the chats, their users, first user messages, models per chat
    page = data["usage"]["chats"]
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is True
    # Latest update first: c3 (3 March), c1 (m3, 2 March 23:30), c2 (2 March 10:00).
    c3, c1 = (edge["node"] for edge in page["edges"])
    assert (
        c3
        == {
            "app": "b",
            "id": "c3",
            "title": None,  # no chat record was sent
            "user": {"id": "u3", "name": None},
            "firstMessage": ("Where is my invoice? " + "x" * 300)[:200],
            "createdAt": "2026-03-03T08:00:00+00:00",
            "updatedAt": "2026-03-03T08:00:00+00:00",
            "messages": 1,
            "models": [],
            "tags": [],
            "metrics": {"requests": 0, "spend": 0.0},
            "usage": {"models": []},  # its only message has no model
        }
    )
    assert c1["title"] == "Plans"
    assert c1["user"] == {"id": "u1", "name": "Ada"}
    assert c1["firstMessage"] is None  # c1 holds assistant messages only
    assert (c1["messages"], c1["models"], c1["tags"]) == (2, ["gpt-4o", "local-llm"],
                                                         ["how-to", "billing"])  # fmt: skip
    assert c1["metrics"] == {"requests": 2, "spend": 0.5}
    assert c1["usage"] == {"models": [{"model": "gpt-4o"}, {"model": "local-llm"}]}

    rest = await graphql(client, CHATS, {"after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["usage"]["chats"]["edges"]] == ["c2"]
    assert rest["usage"]["chats"]["pageInfo"]["hasNextPage"] is False

    by_title = await graphql(client, CHATS, {"order": {"field": "TITLE", "direction": "ASC"}})
    assert [e["node"]["title"] for e in by_title["usage"]["chats"]["edges"]] == ["Bug", "Plans"]
    by_user = await graphql(client, CHATS, {"order": {"field": "USER_NAME", "direction": "ASC"}})
    assert [e["node"]["id"] for e in by_user["usage"]["chats"]["edges"]] == ["c1", "c2"]


@pytest.mark.usefixtures("usage_data")
async def test_chat_tags_count_the_chats_in_scope(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    data = await graphql_counted(
        client,
        engine,
        """{ usage { chatTags { tag count }
              models { model usage { chatTags(limit: 1) { tag count } } } } }""",
        statements=3,  # chat tags; models; each model's chat tags
    )
    assert data["usage"]["chatTags"] == [
        {"tag": "billing", "count": 1},
        {"tag": "bug", "count": 1},
        {"tag": "how-to", "count": 1},
    ]
    assert {m["model"]: m["usage"]["chatTags"] for m in data["usage"]["models"]} == {
        "gpt-4o": [{"tag": "billing", "count": 1}],
        "local-llm": [{"tag": "billing", "count": 1}],
        "claude-x": [],  # its message has no chat
    }


async def test_latencies_come_back_to_the_microsecond_without_float_noise(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    timings = [(100.1, 0.1), (200.2, 0.2), (300.3, 0.2), (400.4, 0.1)]
    events = [
        {"id": f"r{n}", "timestamp": "2026-03-01T10:00:00Z", "model": "gpt-4o",
         "latency_ms": latency, "ttft_ms": ttft}
        for n, (latency, ttft) in enumerate(timings)
    ]  # fmt: skip
    assert (await client.post("/v1/events", json=events)).json()["accepted"] == 4
    # What PostgreSQL computes carries float noise in its last digits...
    async with engine.connect() as connection:
        raw = (
            await connection.execute(
                text(
                    "SELECT avg(latency_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY"
                    " latency_ms), percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms)"
                    " FROM messages"
                )
            )
        ).one()
    assert [value == round(value, 3) for value in raw] == [False, False, False]
    # ...which the answer leaves out: values to the microsecond, as measured.
    data = await graphql_counted(
        client,
        engine,
        """{ usage { summary {
            latencyMs { avg p50 p90 p95 p99 max } ttftMs { avg p50 max } } } }""",
        statements=1,
    )
    assert data["usage"]["summary"] == {
        "latencyMs": {
            "avg": 250.25,
            "p50": 250.25,
            "p90": 370.37,
            "p95": 385.385,
            "p99": 397.397,
            "max": 400.4,
        },
        "ttftMs": {"avg": 0.15, "p50": 0.15, "max": 0.2},
    }
    # A value sent with more digits than a microsecond comes back to the microsecond.
    precise = {**events[0], "id": "precise", "app": "precise", "latency_ms": 12.3456789}
    assert (await client.post("/v1/events", json=[precise])).json()["accepted"] == 1
    data = await graphql_counted(
        client,
        engine,
        '{ usage(filter: {apps: ["precise"]}) { summary { latencyMs { avg max } } } }',
        statements=1,
    )
    assert data["usage"]["summary"] == {"latencyMs": {"avg": 12.346, "max": 12.346}}
