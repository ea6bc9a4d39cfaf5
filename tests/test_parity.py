"""Every question the seed systems answer (shared/design/parity.md), asked as parity.md words it,
on tests/usage_data.py, with the seed's semantics worked out by hand.

Where usageql differs on purpose it says so: months are calendar months, weeks ISO weeks in the
requested zone, windows follow the filter (not "today"), events without a user still count.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import ask_usage, graphql
from tests.sqlcount import count_statements
from tests.ways import settings, way

pytestmark = pytest.mark.usefixtures("usage_data")
__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

MARCH = 'from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z"'


# Open WebUI


async def test_owu_messages_per_model_most_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        "{ usage { models(orderBy: {metric: MESSAGES}) { model metrics { messages } } } }",
        statements=1,
    )
    # gpt-4o: m1, m2; claude-x: m5; local-llm: m3 (the tie goes by name). m4 has no model.
    assert [(m["model"], m["metrics"]["messages"]) for m in usage["models"]] == [
        ("gpt-4o", 2),
        ("claude-x", 1),
        ("local-llm", 1),
    ]


async def test_owu_messages_and_tokens_per_user_with_name_and_email(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage { users(first: 2, orderBy: {metric: MESSAGES}) { edges { node {
            user { id name email } metrics { messages tokens { input output total } } } } } } }""",
        statements=2,
    )
    # u1: m1 + m3 = 2 messages, 100 + 50 in, 10 + 5 out. u2: m2. u3 (m4, 0 tokens) is third.
    assert [edge["node"] for edge in usage["users"]["edges"]] == [
        {
            "user": {"id": "u1", "name": "Ada", "email": "ada@example.com"},
            "metrics": {"messages": 2, "tokens": {"input": 150, "output": 15, "total": 165}},
        },
        {
            "user": {"id": "u2", "name": None, "email": None},
            "metrics": {"messages": 1, "tokens": {"input": 200, "output": 20, "total": 220}},
        },
    ]


async def test_owu_totals(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    usage = await ask_usage(
        client, engine, "{ usage { summary { messages chats models users } } }", statements=1
    )
    # 5 messages; chats c1, c2, c3; models gpt-4o, local-llm, claude-x; users u1, u2, u3.
    assert usage["summary"] == {"messages": 5, "chats": 3, "models": 3, "users": 3}


async def test_owu_per_model_messages_per_day_both_ways_round(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    by_model = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { models { model usage {
            timeseries(granularity: DAY, fillGaps: false) { start metrics { messages } } } } } }"""
        % MARCH,
        statements=2,
    )
    assert {
        m["model"]: [(b["start"][:10], b["metrics"]["messages"]) for b in m["usage"]["timeseries"]]
        for m in by_model["models"]
    } == {
        "gpt-4o": [("2026-03-01", 1), ("2026-03-02", 1)],
        "claude-x": [("2026-03-05", 1)],
        "local-llm": [("2026-03-02", 1)],
    }
    by_day = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { timeseries(granularity: HOUR, fillGaps: false) { start
            usage { models { model metrics { messages } } } } } }"""
        % MARCH,
        statements=2,
    )
    # Hourly buckets: m4 (a user message, no model) has a bucket but no model row.
    assert [
        (b["start"][:13], [(m["model"], m["metrics"]["messages"]) for m in b["usage"]["models"]])
        for b in by_day["timeseries"]
    ] == [
        ("2026-03-01T10", [("gpt-4o", 1)]),
        ("2026-03-02T10", [("gpt-4o", 1)]),
        ("2026-03-02T23", [("local-llm", 1)]),
        ("2026-03-03T08", []),
        ("2026-03-05T12", [("claude-x", 1)]),
    ]


async def test_owu_token_usage_per_model_and_in_total(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage { summary { tokens { input output total } }
            models(orderBy: {metric: TOTAL_TOKENS}) { model
              metrics { tokens { input output total } messages } } } }""",
        statements=2,
    )
    assert usage["summary"]["tokens"] == {"input": 360, "output": 36, "total": 396}
    assert [(m["model"], m["metrics"]["tokens"]["total"]) for m in usage["models"]] == [
        ("gpt-4o", 330),  # 100 + 10 + 200 + 20
        ("local-llm", 55),
        ("claude-x", 11),
    ]


async def test_owu_chats_that_used_a_model(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {models: ["gpt-4o"]}) { chats(first: 10) {
            edges { node { id user { id name } firstMessage updatedAt } } totalCount } } }""",
        statements=3,  # the chats, their users, their first user messages (none here)
    )
    # gpt-4o answered in c1 (m1) and c2 (m2); c1 was updated last by m3.
    assert usage["chats"]["totalCount"] == 2
    assert [e["node"] for e in usage["chats"]["edges"]] == [
        {
            "id": "c1",
            "user": {"id": "u1", "name": "Ada"},
            "firstMessage": None,
            "updatedAt": "2026-03-02T23:30:00+00:00",
        },
        {
            "id": "c2",
            "user": {"id": "u2", "name": None},
            "firstMessage": None,
            "updatedAt": "2026-03-02T10:00:00+00:00",
        },
    ]


async def test_owu_a_models_daily_feedback_with_gaps_filled_and_top_chat_tags(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {models: ["gpt-4o"], from: "2026-03-01T00:00:00Z",
              to: "2026-03-04T00:00:00Z"}) {
            feedback(granularity: DAY) { start positive negative }
            chatTags(limit: 10) { tag count } } }""",
        statements=2,
    )
    # f1 rates m1 up on 1 March, f2 rates m2 down on 2 March, nothing on 3 March.
    assert [(b["start"][:10], b["positive"], b["negative"]) for b in usage["feedback"]] == [
        ("2026-03-01", 1, 0),
        ("2026-03-02", 0, 1),
        ("2026-03-03", 0, 0),
    ]
    assert usage["chatTags"] == [
        {"tag": "billing", "count": 1},
        {"tag": "bug", "count": 1},
        {"tag": "how-to", "count": 1},
    ]


# Chipp


async def test_chipp_sessions_consumers_and_messages_per_app(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        '{ usage(filter: {apps: ["a"], %s}) { summary { chats users messages } } }' % MARCH,
        statements=1,
    )
    assert usage["summary"] == {"chats": 2, "users": 2, "messages": 3}  # m1, m2, m3


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        ("DAY", [("2026-03-01", 1, 1), ("2026-03-02", 2, 2)]),
        # Calendar weeks (ISO, Monday) and months, not the seed's 7- and 30-day windows.
        ("WEEK", [("2026-02-23", 1, 1), ("2026-03-02", 2, 2)]),
        ("MONTH", [("2026-03-01", 2, 3)]),
    ],
)
async def test_chipp_the_same_as_a_series(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    granularity: str,
    expected: list[tuple[str, int, int]],
) -> None:
    usage = await ask_usage(
        client,
        engine,
        '{ usage(filter: {apps: ["a"]}) { timeseries(granularity: %s) {'
        " start metrics { chats messages } } } }" % granularity,
        statements=1,
    )
    assert [
        (b["start"][:10], b["metrics"]["chats"], b["metrics"]["messages"])
        for b in usage["timeseries"]
    ] == expected


async def test_chipp_token_totals_and_requests_in_total_and_per_model(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage { summary { requests tokens { input output total } }
            models { model metrics { requests tokens { input output total } } } } }""",
        statements=2,
    )
    assert usage["summary"] == {
        "requests": 4,
        "tokens": {"input": 360, "output": 36, "total": 396},
    }
    assert {m["model"]: m["metrics"] for m in usage["models"]}["gpt-4o"] == {
        "requests": 2,
        "tokens": {"input": 300, "output": 30, "total": 330},
    }


# LiteLLM


async def test_litellm_distinct_tags_most_used_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        "{ usage { tags(orderBy: {metric: REQUESTS}, limit: 250) { tag } } }",
        statements=1,
    )
    # UA:x on m1 and m3; UA:y and f:1 once each: the tie in byte order ("U" before "f").
    assert [t["tag"] for t in usage["tags"]] == ["UA:x", "UA:y", "f:1"]


async def test_litellm_dau_wau_mau_per_tag(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { tags(filter: {tagContains: "ua:"}) { tag usage {
            dau: activeUsers(period: DAY) { start users }
            wau: activeUsers(period: WEEK) { start end users }
            mau: activeUsers(period: MONTH) { start end users } } } } }"""
        % MARCH,
        statements=4,  # the tags; their daily, weekly and monthly active users
    )
    ua_x = usage["tags"][0]
    assert ua_x["tag"] == "UA:x"
    # UA:x events: m1 (u1, 1 March) and m3 (u1, 2 March).
    assert [d["users"] for d in ua_x["usage"]["dau"]][:3] == [1, 1, 0]
    assert len(ua_x["usage"]["dau"]) == 31  # every day of March: gaps filled
    assert [(w["start"][:10], w["users"]) for w in ua_x["usage"]["wau"][:2]] == [
        ("2026-02-23", 1),
        ("2026-03-02", 1),
    ]
    assert ua_x["usage"]["mau"] == [
        {"start": "2026-03-01T00:00:00+00:00", "end": "2026-04-01T00:00:00+00:00", "users": 1}
    ]


async def test_litellm_per_tag_summary_in_a_date_range(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    usage = await ask_usage(
        client,
        engine,
        """{ usage(filter: {%s}) { tags { tag metrics { users requests successfulRequests
            failedRequests tokens { total } spend } } } }"""
        % MARCH,
        statements=1,
    )
    assert {t["tag"]: t["metrics"] for t in usage["tags"]} == {
        "UA:x": {"users": 1, "requests": 2, "successfulRequests": 2, "failedRequests": 0,
                 "tokens": {"total": 165}, "spend": 0.5},
        "UA:y": {"users": 1, "requests": 1, "successfulRequests": 0, "failedRequests": 1,
                 "tokens": {"total": 220}, "spend": 0.25},
        "f:1": {"users": 1, "requests": 1, "successfulRequests": 1, "failedRequests": 0,
                "tokens": {"total": 110}, "spend": 0.5},
    }  # fmt: skip


async def test_litellm_per_user_requests_tokens_spend_user_agent_and_email_paginated(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = """query($after: String) { usage { users(first: 2, after: $after,
        orderBy: {metric: SUCCESSFUL_REQUESTS}) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { user { id email } metrics { successfulRequests failedRequests requests
          tokens { total } spend } usage { tags(limit: 1, filter: {tagContains: "User-Agent:"}) {
          tag } } } } } } }""".replace("User-Agent:", "UA:")
    with count_statements(engine) as sql:
        first = (await graphql(client, query))["usage"]["users"]
    assert sql.count == 3
    # Unlike the seed, users without a key mapping are not dropped, and pages come from SQL.
    assert first["totalCount"] == 3
    assert [
        (e["node"]["user"]["id"], e["node"]["metrics"]["successfulRequests"],
         [t["tag"] for t in e["node"]["usage"]["tags"]])
        for e in first["edges"]
    ] == [("u1", 2, ["UA:x"]), ("u2", 0, ["UA:y"])]  # fmt: skip
    assert first["edges"][0]["node"]["user"]["email"] == "ada@example.com"
    second = (await graphql(client, query, {"after": first["pageInfo"]["endCursor"]}))["usage"]
    assert [e["node"]["user"]["id"] for e in second["users"]["edges"]] == ["u3"]
    assert second["users"]["pageInfo"]["hasNextPage"] is False
