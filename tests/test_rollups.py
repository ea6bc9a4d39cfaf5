"""Hourly rollups: kept exact by ingestion, chosen only when exact, and what pruning leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import EVENTS
from tests.ways import read_rollups
from usageql.db.measures import MEASURES
from usageql.db.prune import prune, prune_horizon
from usageql.db.tables import messages
from usageql.query import rollups
from usageql.query.model import Dimension, Filter, Granularity, Metric, Question, Source
from usageql.query.model import TimeBucket as Bucket

# Each rollup table, as the migrations' backfill computes it: its keys over a FROM.
ROLLUP_KEYS = {
    "usage_hourly": ("model, provider, source, role, status", "messages"),
    "usage_hourly_chats": ("chat_id, user_id, model", "messages"),
    "usage_hourly_tags": ("tag, user_id, model", "messages, unnest(tags) AS tag"),
}
# Before migration 0022 the sums per user and model had a table of their own.
HOURLY_USERS = {"usage_hourly_users": ("user_id, model", "messages")}
ROLLUPS_BEFORE_0022 = {**ROLLUP_KEYS, **HOURLY_USERS}
# The hourly tables with fewer keys (migration 0010 adds them up from usage_hourly).
NARROW_KEYS = {"usage_hourly_apps": ("", "messages"), "usage_hourly_models": ("model", "messages")}
# Each measure over a group of messages, as usageql.db.measures defines it in SQL (the writer sums
# it in Python; migrations backfill it with SQL of their own).
ROLLUP_MEASURES = ", ".join(
    str(measure.over_events(messages.c).compile(compile_kwargs={"literal_binds": True}))
    for measure in MEASURES
)


async def rollup_matches_messages(
    engine: AsyncEngine, tables: dict[str, tuple[str, str]] | None = None
) -> int:
    """Assert every rollup table (or those of `tables`, at an older revision) equals a GROUP BY
    over `messages`; returns rollup rows seen."""
    seen = 0
    async with engine.connect() as connection:
        for table, (keys, source) in (tables or {**ROLLUP_KEYS, **NARROW_KEYS}).items():
            coalesced = "".join(f"coalesce({key}, ''), " for key in keys.split(", ") if key)
            grouped = (
                f"SELECT app_id, date_trunc('hour', ts, 'UTC'), {coalesced}{ROLLUP_MEASURES}"  # noqa: S608
                f" FROM {source} GROUP BY app_id, 2, {coalesced.rstrip(', ') or 2}"
            )
            stored = f"SELECT * FROM {table}"  # noqa: S608
            expected = {tuple(row) for row in await connection.execute(text(grouped))}
            actual = {tuple(row) for row in await connection.execute(text(stored))}
            assert actual == expected, table
            seen += len(actual)
    return seen


async def post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=events)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["rejected"] == []
    return body


async def test_ingestion_keeps_rollups_exact_through_duplicates(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post(client, EVENTS[:1500])
    assert await rollup_matches_messages(engine) > 100
    # A retried batch (all duplicates) and one half new, half stored: only new events count.
    assert (await post(client, EVENTS[:1500]))["duplicates"] == 1500
    assert (await post(client, EVENTS[1000:3000]))["duplicates"] == 500
    assert await rollup_matches_messages(engine) > 100


async def test_an_acknowledged_event_is_in_the_rollups_at_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    query = '{ usage(filter: {models: ["m-fresh"]}) { summary { messages users } } }'
    await post(client, EVENTS[:500])
    fresh = {**EVENTS[0], "id": "fresh-1", "model": "m-fresh", "user": "u-fresh"}
    await post(client, [fresh])
    with count_statements(engine) as sql:
        summary = (await graphql(client, query))["usage"]["summary"]
    assert read_rollups(sql), sql
    assert summary == {"messages": 1, "users": 1}


def _plan(
    metrics: set[Metric],
    group_by: tuple[Any, ...] = (),
    filter: Filter | None = None,
    zone: str = "UTC",
) -> str | None:
    question = Question(metrics=frozenset(metrics), group_by=group_by)
    chosen = rollups.plan(question, filter or Filter(), zone, (), ())
    return None if chosen is None else chosen.rollup.table.name


def test_plans_choose_the_smallest_rollup_that_is_exact() -> None:
    day = Bucket(Granularity.DAY)
    assert _plan({Metric.MESSAGES, Metric.SPEND}, (Dimension.MODEL,)) == "usage_hourly_models"
    assert _plan({Metric.MESSAGES, Metric.SPEND}, (Dimension.SOURCE,)) == "usage_hourly"
    assert _plan({Metric.USERS}, (day,), zone="Europe/Berlin") == "usage_hourly_chats"
    assert _plan({Metric.SPEND}, (day,), zone="Europe/Berlin") == "usage_hourly_apps"
    assert _plan({Metric.REQUESTS}, (Dimension.MODEL, day), zone="Europe/Berlin") == (
        "usage_hourly_models"
    )
    assert _plan({Metric.MESSAGES}, (Dimension.USER,)) == "usage_hourly_chats"
    assert _plan({Metric.LATENCY_MAX}, (Dimension.STATUS,)) == "usage_hourly"
    assert _plan({Metric.CHATS, Metric.USERS}) == "usage_hourly_chats"
    assert _plan({Metric.MESSAGES}, (Dimension.CHAT,)) == "usage_hourly_chats"
    assert _plan({Metric.USERS}, (Dimension.TAG, day), zone="Europe/Berlin") == "usage_hourly_tags"
    ua = Filter(tag_contains=("ua",), values=((Dimension.USER, ("u1",)),))
    assert _plan({Metric.MESSAGES}, (Dimension.TAG,), filter=ua) == "usage_hourly_tags"
    # Not exact from rollups: raw events answer.
    assert _plan({Metric.MESSAGES}, (day,), zone="Asia/Kolkata") is None  # local days at :30
    assert _plan({Metric.LATENCY_P50}, (Dimension.MODEL,)) is None  # percentiles need values
    assert _plan({Metric.CHATS}, (Dimension.TAG,)) is None
    assert _plan({Metric.USERS}, (Dimension.PROVIDER,)) is None
    # A filter on tags keeps an event once, however many of its tags match: not per tag row.
    assert _plan({Metric.MESSAGES}, filter=Filter(tag_contains=("ua",))) is None
    tagged = Filter(values=((Dimension.TAG, ("a", "b")),))
    assert _plan({Metric.MESSAGES}, (Dimension.MODEL,), filter=tagged) is None
    assert _plan({Metric.MESSAGES}, filter=Filter(metadata=(("team", ("x",)),))) is None
    feedback = Question(metrics=frozenset({Metric.POSITIVE_FEEDBACK}), source=Source.FEEDBACK)
    assert rollups.plan(feedback, Filter(), "UTC", (), ()) is None


def test_partial_hours_at_the_edges_come_from_raw_events() -> None:
    start = datetime(2026, 3, 5, 7, 23, tzinfo=UTC)
    end = datetime(2026, 3, 9, 12, 41, tzinfo=UTC)
    question = Question(metrics=frozenset({Metric.MESSAGES}))
    chosen = rollups.plan(question, Filter(start=start, end=end), "UTC", (), ())
    assert chosen is not None
    assert chosen.raw_ranges == [
        (start, datetime(2026, 3, 5, 8, tzinfo=UTC)),
        (datetime(2026, 3, 9, 12, tzinfo=UTC), end),
    ]
    # Inside one hour there is nothing to take from the rollups.
    inside = Filter(start=start, end=start + timedelta(minutes=20))
    assert rollups.plan(question, inside, "UTC", (), ()) is None


def test_each_rollup_answers_the_metrics_whose_columns_it_has() -> None:
    every = {
        Metric.MESSAGES,
        Metric.REQUESTS,
        Metric.SUCCESSFUL_REQUESTS,
        Metric.FAILED_REQUESTS,
        Metric.INPUT_TOKENS,
        Metric.OUTPUT_TOKENS,
        Metric.CACHE_READ_TOKENS,
        Metric.CACHE_WRITE_TOKENS,
        Metric.REASONING_TOKENS,
        Metric.TOTAL_TOKENS,
        Metric.SPEND,
        Metric.UNPRICED_REQUESTS,
        Metric.LATENCY_MAX,
        Metric.TTFT_MAX,
        Metric.MODELS,  # every table but usage_hourly_apps is keyed by model
    }
    answers = {rollup.table.name: rollup.metrics for rollup in rollups.TABLES}
    assert answers == {
        "usage_hourly_apps": every - {Metric.MODELS},
        "usage_hourly_models": every,
        "usage_hourly": {*every, Metric.PROVIDER},
        "usage_hourly_chats": {*every, Metric.USERS, Metric.CHATS},
        "usage_hourly_tags": {*every, Metric.USERS},
    }


def test_whole_hour_zones() -> None:
    assert rollups.whole_hour_zone("Europe/Berlin")
    assert rollups.whole_hour_zone("America/New_York")
    assert not rollups.whole_hour_zone("Asia/Kolkata")
    assert not rollups.whole_hour_zone("America/Caracas")  # -04:30 from 2007 to 2016


async def test_prune_keeps_rollup_answers_and_refuses_raw_ones(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post(client, EVENTS)
    totals = """{ usage { summary { messages spend users chats tokens { total } }
      tags { tag metrics { messages users } } } }"""
    before = (await graphql(client, totals))["usage"]
    assert before["tags"], before
    horizon = datetime(2026, 3, 20, 10, 30, tzinfo=UTC)

    summary = await prune(engine, horizon, wait_seconds=0)
    assert summary.horizon == datetime(2026, 3, 20, 10, tzinfo=UTC)
    assert summary.messages == sum(
        datetime.fromisoformat(e["timestamp"]) < summary.horizon for e in EVENTS
    )
    await app.state.horizon.refresh(engine)

    with count_statements(engine) as sql:
        assert (await graphql(client, totals))["usage"] == before
    assert sql.count == 2  # the summary, the tags
    percentiles = "{ usage%s { summary { latencyMs { p50 } } } }"
    response = await client.post("/graphql", json={"query": percentiles % ""})
    error = response.json()["errors"][0]["message"]
    assert "needs raw events from before 2026-03-20T10:00:00Z, which were pruned" in error
    recent = '(filter: {from: "2026-03-20T10:00:00Z"})'
    assert (await graphql(client, percentiles % recent))["usage"]["summary"]["latencyMs"]["p50"]


def test_prune_refuses_the_future() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"--before: .* is in the future"):
        prune_horizon(now + timedelta(hours=2), now)
    assert prune_horizon(now - timedelta(minutes=1), now) == now - timedelta(hours=1)
