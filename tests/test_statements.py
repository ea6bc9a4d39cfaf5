"""Statements are kept for the asks that come again, and read the data of the moment each time;
a statement is built again on the next UTC day, which bounds periods without an end."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from usageql.query import statements
from usageql.query.compile import Compiled
from usageql.query.model import Filter, Granularity, Metric, Question, TimeBucket

QUERY = """{ usage(filter: {from: "2026-05-01T00:00:00Z", to: "2026-05-08T00:00:00Z"}) {
  summary { messages users }
  models { model metrics { requests } } } }"""


def events(first: int, count: int, model: str) -> list[dict[str, object]]:
    return [
        {
            "id": f"kept-{n}",
            "timestamp": f"2026-05-0{1 + n % 6}T{n % 24:02}:30:00+00:00",
            "app": "a1",
            "role": "assistant",
            "user": f"u{n % 3}",
            "model": model,
        }
        for n in range(first, first + count)
    ]


async def test_a_kept_statement_answers_with_the_events_stored_since(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    assert (await client.post("/v1/events", json=events(0, 40, "m-a"))).json()["rejected"] == []
    with count_statements(engine) as sql:
        before = (await graphql(client, QUERY))["usage"]
    assert sql.count == 2, sql  # the summary; the models
    assert before["summary"] == {"messages": 40, "users": 3}
    assert before["models"] == [{"model": "m-a", "metrics": {"requests": 40}}]

    assert (await client.post("/v1/events", json=events(40, 9, "m-b"))).json()["rejected"] == []
    kept = statements._kept.cache_info()
    with count_statements(engine) as sql:
        after = (await graphql(client, QUERY))["usage"]
    assert sql.count == 2, sql
    again = statements._kept.cache_info()
    assert (again.hits - kept.hits, again.misses - kept.misses) == (2, 0)
    assert after["summary"] == {"messages": 49, "users": 3}
    assert after["models"] == [
        {"model": "m-a", "metrics": {"requests": 40}},
        {"model": "m-b", "metrics": {"requests": 9}},
    ]


def test_a_statement_is_built_again_on_the_next_utc_day() -> None:
    # Berlin's weeks do not start on UTC days: the days between are listed, up to two days
    # past the day the statement is built on (usageql.query.rollups.days).
    weekly = Question(
        metrics=frozenset({Metric.MESSAGES}), group_by=(TimeBucket(Granularity.WEEK),)
    )
    open_ended = Filter(start=datetime(2026, 5, 1, tzinfo=UTC))

    def built(now: datetime) -> Compiled:
        return statements.compiled(
            weekly, open_ended, "Europe/Berlin", (), (), use_rollups=True, now=now
        )

    morning = built(datetime(2026, 5, 20, 0, 0, 1, tzinfo=UTC))
    assert built(datetime(2026, 5, 20, 23, 59, 59, tzinfo=UTC)) is morning
    next_day = built(datetime(2026, 5, 21, 0, 0, 0, tzinfo=UTC))
    assert next_day is not morning
    listed = [
        sorted(map(str, compiled.statement.compile().params.values()))
        for compiled in (morning, next_day)
    ]
    assert "2026-05-22 00:00:00+00:00" in listed[0]
    assert "2026-05-22 00:00:00+00:00" not in listed[1]
    assert "2026-05-23 00:00:00+00:00" in listed[1]
