"""Approximate percentiles (`latencyMs(approximate: true)`, `ttftMs(approximate: true)`) within
1% of the exact ones, on seeded data of several distributions: uniform with decimals, whole
milliseconds with many ties, a long tail, tiny values with zeros, only zeros, and none at all.

From raw events (tests.ways) the approximate fields are exact. With rollups the whole UTC days
of a period come from log-spaced buckets and the rest from raw values; each estimate is checked
against percentile_cont's exact value (the API's own, and plain Python's) for every percentile
the schema has and the mean; the maximum stays exact.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Double, TextClause, bindparam, func, literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import BindParameter

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import percentile
from tests.ways import settings, way
from usageql.db import buckets
from usageql.db.tables import messages

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 30


def _uniform(rng: random.Random) -> float:
    return round(rng.uniform(50, 20000), 3)


def _whole(rng: random.Random) -> float:
    return float(rng.randrange(100, 400))  # whole milliseconds: ties everywhere


def _tail(rng: random.Random) -> float:
    return round(min(150 * rng.paretovariate(1.1), 600_000_000.0), 3)  # rare values up to days


def _tiny(rng: random.Random) -> float:
    return 0.0 if rng.random() < 0.2 else round(rng.uniform(0, 5), 3)


DISTRIBUTIONS: dict[str, Callable[[random.Random], float]] = {
    "m-uniform": _uniform,
    "m-whole": _whole,
    "m-tail": _tail,
    "m-tiny": _tiny,
    "m-zero": lambda _: 0.0,
}
SHARES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

Event = dict[str, Any]


def make_events(count: int = 4000, seed: int = 23) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        model = rng.choice([*DISTRIBUTIONS, "m-none"])
        moment = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        event: Event = {
            "id": f"s{n}",
            "timestamp": moment.isoformat(),
            "app": rng.choice(["a1", "a2"]),
            "model": model,
            "user": f"u{rng.randrange(20)}",
        }
        if model in DISTRIBUTIONS and rng.random() < 0.9:  # some requests report nothing
            latency = DISTRIBUTIONS[model](rng)
            event["latency_ms"] = latency
            if rng.random() < 0.7:
                event["ttft_ms"] = round(latency * rng.random(), 3)
        events.append(event)
    return events


EVENTS = make_events()


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for start in range(0, len(EVENTS), 1000):
        response = await client.post("/v1/events", json=EVENTS[start : start + 1000])
        assert response.json()["rejected"] == []


def _when(event: Event) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


FIELDS = "avg p50 p90 p95 p99 max"
DISTRIBUTION = f"""exactLatency: latencyMs {{ {FIELDS} }}
    latency: latencyMs(approximate: true) {{ {FIELDS} }}
    exactTtft: ttftMs {{ {FIELDS} }}
    ttft: ttftMs(approximate: true) {{ {FIELDS} }}"""


def reference(values: list[float]) -> dict[str, float | None]:
    """percentile_cont, the mean and the maximum, in plain Python."""
    found: dict[str, float | None] = {name: percentile(values, s) for name, s in SHARES.items()}
    found["avg"] = sum(values) / len(values) if values else None
    found["max"] = max(values) if values else None
    return found


def check(answer: dict[str, Any], events: list[Event], way: str, where: str) -> None:
    """Exact fields equal plain Python's; approximate ones equal them from raw events and are
    within 1% of them from buckets (the maximum exact)."""
    for exact_name, name, column in (
        ("exactLatency", "latency", "latency_ms"),
        ("exactTtft", "ttft", "ttft_ms"),
    ):
        values = [float(e[column]) for e in events if column in e]
        expected = reference(values)
        for field, value in expected.items():
            exact, estimate = answer[exact_name][field], answer[name][field]
            if value is None:
                assert (exact, estimate) == (None, None), (where, name, field)
                continue
            assert math.isclose(exact, value, rel_tol=1e-9, abs_tol=1e-3), (where, field, exact)
            if way == "raw" or field == "max":
                assert estimate == exact, (where, name, field, estimate, exact)
            else:
                error = abs(estimate - value)
                bound = buckets.RELATIVE_ERROR * value + 1e-3  # answers have 3 decimals
                assert error <= bound, (where, name, field, estimate, value)


LATENCY_TABLES = ("usage_daily_latency", "usage_monthly_latency")
MODELS_QUERY = """{ usage(filter: %s) { models(limit: 10) { model metrics { %s } } } }"""
PERIODS = {
    "all": "{}",
    "inside hours": '{from: "2026-05-03T10:17:00Z", to: "2026-05-27T16:40:00.25Z"}',
    "whole days": '{from: "2026-05-03T00:00:00Z", to: "2026-05-27T00:00:00Z"}',
}


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("period", sorted(PERIODS))
async def test_every_percentile_per_model_within_one_percent(
    client: httpx.AsyncClient, engine: AsyncEngine, period: str, way: str
) -> None:
    query = MODELS_QUERY % (PERIODS[period], DISTRIBUTION)
    with count_statements(engine) as sql:
        models = (await graphql(client, query))["usage"]["models"]
    assert sql.count == 1, sql
    # May is read as a month: whole, or (most of it in the period) less its other days.
    read = {t for t in ("usage_daily_latency", "usage_monthly_latency") if t in sql.statements[0]}
    expected = {"usage_monthly_latency"} if period == "all" else set(LATENCY_TABLES)
    assert read == (expected if way == "rollups" else set()), sql
    start = datetime(2026, 5, 3, 10, 17, tzinfo=UTC) if period == "inside hours" else None
    start = datetime(2026, 5, 3, tzinfo=UTC) if period == "whole days" else start
    end = datetime(2026, 5, 27, 16, 40, 0, 250000, tzinfo=UTC) if period == "inside hours" else None
    end = datetime(2026, 5, 27, tzinfo=UTC) if period == "whole days" else end
    kept = [
        e
        for e in EVENTS
        if (start is None or _when(e) >= start) and (end is None or _when(e) < end)
    ]
    assert {row["model"] for row in models} == {*DISTRIBUTIONS, "m-none"}
    for row in models:
        events = [e for e in kept if e["model"] == row["model"]]
        check(row["metrics"], events, way, f"{period}: {row['model']}")
    zeros = next(row["metrics"] for row in models if row["model"] == "m-zero")
    assert {zeros["latency"][f] for f in ("avg", "p50", "p99", "max")} == {0.0}
    nothing = next(row["metrics"] for row in models if row["model"] == "m-none")
    assert set(nothing["latency"].values()) == {None}


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
async def test_weekly_series_and_totals_in_zones(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, way: str
) -> None:
    """Weeks in Berlin and Kolkata take the days they start in from raw values; the totals
    come in the same request, and the approximate fields cost no statement of their own."""
    query = """{ usage(filter: {models: ["m-uniform", "m-tail", "m-whole"],
        from: "2026-04-27T00:00:00Z", to: "2026-06-01T00:00:00Z"}, timezone: "%s") {
        summary { requests %s }
        timeseries(granularity: WEEK) { start metrics { %s } } } }""" % (
        zone,
        DISTRIBUTION,
        DISTRIBUTION,
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 2, sql
    assert all(("usage_daily_latency" in s) == (way == "rollups") for s in sql.statements), sql
    # The summary reads May as a month; weeks cut months, so the series reads days.
    monthly = ["usage_monthly_latency" in s for s in sql.statements]
    assert sorted(monthly) == ([False, True] if way == "rollups" else [False, False]), sql
    chosen = [e for e in EVENTS if e["model"] in {"m-uniform", "m-tail", "m-whole"}]
    assert usage["summary"]["requests"] == len(chosen)
    check(usage["summary"], chosen, way, f"{zone}: summary")
    tz = ZoneInfo(zone)
    for week in usage["timeseries"]:
        start = datetime.fromisoformat(week["start"])
        local = start.astimezone(tz)
        following = (local + timedelta(days=7)).replace(tzinfo=None)
        end = datetime.combine(following.date(), following.time(), tz).astimezone(UTC)
        events = [e for e in chosen if start <= _when(e) < end]
        check(week["metrics"], events, way, f"{zone}: week of {week['start']}")


@pytest.mark.usefixtures("loaded")
async def test_a_list_cut_by_its_limit_estimates_its_own_rows(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """The top rows by messages are cut first and only their buckets are added up: each row's
    estimates are the uncut list's, events without a model (a row of their own in a breakdown,
    here the top one) included."""
    rng = random.Random(5)
    unnamed = [
        {
            "id": f"x{n}",
            "timestamp": (START + timedelta(seconds=rng.randrange(DAYS * 86400))).isoformat(),
            "app": "a1",
            "role": "user",  # a model is asked only of the assistant's messages
            "latency_ms": _uniform(rng),
        }
        for n in range(900)
    ]
    assert (await client.post("/v1/events", json=unnamed)).json()["rejected"] == []
    order = "orderBy: {metric: MESSAGES}"
    lists = {
        "models": "models(%s, limit: %d) { model metrics { %s } }",
        "breakdown": "breakdown(by: [MODEL], %s, limit: %d) { keys { value } metrics { %s } }",
    }
    everything = [*EVENTS, *unnamed]
    for name, field in lists.items():
        answers = []
        for limit in (3, 50):
            query = "{ usage { %s } }" % (field % (order, limit, DISTRIBUTION))
            with count_statements(engine) as sql:
                answers.append((await graphql(client, query))["usage"][name])
            assert sql.count == 1, sql
            assert ("WITH top AS" in sql.statements[0]) == (way == "rollups"), sql
        top, every = answers
        assert len(top) == 3, name
        assert top == every[:3], name
        for row in top:
            model = row["model"] if name == "models" else row["keys"][0]["value"]
            events = [e for e in everything if e.get("model") == model]
            check(row["metrics"], events, way, f"{name}: {model}")
        if name == "breakdown":
            assert top[0]["keys"] == [{"value": None}], top


@pytest.mark.usefixtures("loaded")
async def test_questions_the_buckets_do_not_hold_are_answered_exactly(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """A filter on users (the buckets are per app and model), or a period with no whole UTC
    day: the approximate fields give the exact values."""
    day = (datetime(2026, 5, 4, 3, tzinfo=UTC), datetime(2026, 5, 5, 2, tzinfo=UTC))
    by_user = '{ usage(filter: {users: ["u1", "u2"]}) { summary { %s } } }' % DISTRIBUTION
    short = (
        '{ usage(filter: {from: "2026-05-04T03:00:00Z", to: "2026-05-05T02:00:00Z"}) {'
        " summary { %s } } }" % DISTRIBUTION
    )
    cases: list[tuple[str, Callable[[Event], bool]]] = [
        (by_user, lambda e: e["user"] in {"u1", "u2"}),
        (short, lambda e: day[0] <= _when(e) < day[1]),
    ]
    for query, keep in cases:
        with count_statements(engine) as sql:
            summary = (await graphql(client, query))["usage"]["summary"]
        assert sql.count == 1, sql
        assert not any(t in s for t in LATENCY_TABLES for s in sql.statements), sql
        check(summary, [e for e in EVENTS if keep(e)], "raw", query)


async def test_a_month_less_its_other_days_counts_only_the_period(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """From the 3rd to the 27th, May is read as the month less its other days. A model whose
    latencies all lie in those days, and whose requests in the period report none, has no
    percentiles; one with values on both sides counts only the period's, ties at bucket edges
    and all. Months the period covers half of or less are read as days."""
    inside = [("m-both", 3, 250.0), ("m-both", 26, 250.0), ("m-both", 15, 1000.0)]
    outside = [("m-both", 1, 9000.0), ("m-both", 28, 9000.0), ("m-both", 31, 1.0)]
    outside += [("m-edge", 2, 400.0), ("m-edge", 27, 400.0), ("m-edge", 30, 50.0)]
    events: list[Event] = [
        {
            "id": f"edge{n}",
            "timestamp": datetime(2026, 5, day, 12, tzinfo=UTC).isoformat(),
            "model": model,
            "latency_ms": value,
        }
        for n, (model, day, value) in enumerate(inside + outside)
    ]
    events += [  # in the period, without a latency
        {"id": "quiet", "timestamp": "2026-05-10T08:00:00Z", "model": "m-edge"},
        {"id": "june", "timestamp": "2026-06-03T08:00:00Z", "model": "m-both", "latency_ms": 7.0},
    ]
    assert (await client.post("/v1/events", json=events)).json()["rejected"] == []
    ask = MODELS_QUERY % (
        "{from: %s, to: %s}",
        "requests latency: latencyMs(approximate: true) { avg p50 p90 max }",
    )
    for start, end, tables in (
        ("2026-05-03T00:00:00Z", "2026-05-27T00:00:00Z", set(LATENCY_TABLES)),
        ("2026-05-03T00:00:00Z", "2026-05-16T00:00:00Z", {"usage_daily_latency"}),
        ("2026-05-03T00:00:00Z", "2026-06-05T00:00:00Z", set(LATENCY_TABLES)),
    ):
        with count_statements(engine) as sql:
            models = (await graphql(client, ask % (f'"{start}"', f'"{end}"')))["usage"]["models"]
        assert sql.count == 1, sql
        read = {t for t in LATENCY_TABLES if t in sql.statements[0]}
        assert read == (tables if way == "rollups" else set()), (start, end, sql)
        answers = {row["model"]: row["metrics"] for row in models}
        low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
        for model in ("m-both", "m-edge"):
            values = [
                float(e["latency_ms"])
                for e in events
                if e["model"] == model
                and "latency_ms" in e
                and low <= datetime.fromisoformat(e["timestamp"]) < high
            ]
            latency = answers[model]["latency"]
            if not values:
                assert set(latency.values()) == {None}, (start, end, model)
                continue
            for field, share in (("p50", 0.5), ("p90", 0.9)):
                exact = percentile(values, share)
                assert exact is not None
                bound = buckets.RELATIVE_ERROR * exact + 1e-3
                assert abs(latency[field] - exact) <= bound, (start, end, model, field)
            mean = sum(values) / len(values)
            assert abs(latency["avg"] - mean) <= buckets.RELATIVE_ERROR * mean + 1e-3
            assert latency["max"] == max(values)


def test_each_bucket_stands_for_its_values_within_the_bound() -> None:
    assert buckets.RELATIVE_ERROR < 0.01
    for index in (-400, -1, 0, 1, 57, 333, 1021):
        low, high = buckets.GAMMA ** (index - 1), buckets.GAMMA**index
        value = buckets.representative(index)
        for x in (math.nextafter(low, math.inf), (low + high) / 2, high):
            assert buckets.bucket(x) in {index, index + 1, index - 1}
            stood_for = buckets.representative(buckets.bucket(x))
            assert abs(stood_for - x) <= buckets.RELATIVE_ERROR * x * (1 + 1e-9), (index, x)
        assert low < value < high
    assert buckets.bucket(0.0) == buckets.ZERO
    assert buckets.representative(buckets.ZERO) == 0.0
    assert buckets.bucket(1e-300) > buckets.ZERO  # every positive value sorts after zero


async def test_python_and_sql_agree_on_every_bucket(engine: AsyncEngine) -> None:
    """The writer buckets in Python, statements over raw events in SQL: the same bucket for the
    same value, at bucket edges too."""
    rng = random.Random(5)
    values = [0.0, 0.001, 1.0, 1.02, 1.0404, 100.0, 604_800_000.0]
    values += [buckets.GAMMA**n for n in range(-50, 1030, 7)]
    values += [round(rng.uniform(0, 10 ** rng.randrange(1, 9)), 3) for _ in range(3000)]
    given: BindParameter[Any] = bindparam("values", values, type_=ARRAY(Double()))
    value = func.unnest(given).column_valued("value")
    async with engine.connect() as connection:
        rows = (await connection.execute(select(value, buckets.bucket_sql(value)))).all()
    assert [(v, b) for v, b in rows] == [(v, buckets.bucket(v)) for v in values]


async def test_buckets_hold_what_the_messages_hold_through_duplicates_and_late_events(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    late = [e for e in EVENTS if _when(e) < START + timedelta(days=10)]
    recent = [e for e in EVENTS if _when(e) >= START + timedelta(days=10)]
    for part in (recent, late[:800], late[400:], recent[:100]):
        response = await client.post("/v1/events", json=part)
        assert response.json()["rejected"] == []
    assert await buckets_match_messages(engine) > 1000


def histogram_rows(time: str) -> TextClause:
    """The histograms of usage_daily_latency (`time` day) or usage_monthly_latency (month) as
    rows of (app_id, time, model, bucket, latency, ttft), each checked to hold its buckets
    ascending, each once, with a count per bucket."""
    table = {"day": "usage_daily_latency", "month": "usage_monthly_latency"}[time]
    return text(
        f"SELECT h.app_id, h.{time}, h.model, u.bucket, u.latency, u.ttft FROM {table} AS h"  # noqa: S608
        " CROSS JOIN LATERAL unnest(h.buckets, h.latency, h.ttft) AS u(bucket, latency, ttft)"
        " WHERE h.buckets = ARRAY(SELECT DISTINCT b FROM unnest(h.buckets) AS b ORDER BY b)"
        " AND cardinality(h.latency) = cardinality(h.buckets)"
        " AND cardinality(h.ttft) = cardinality(h.buckets)"
    )


async def buckets_match_messages(engine: AsyncEngine) -> int:
    """Assert usage_daily_latency's histograms hold a GROUP BY over `messages`, and
    usage_monthly_latency's the same per UTC month; returns how many daily bucket counts."""
    bucket = buckets.bucket_sql(literal_column("value", Double()))
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    bucketed = bucket.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    grouped = text(
        "SELECT app_id, date_trunc('day', ts, 'UTC'), coalesce(model, ''),"  # noqa: S608
        f" {bucketed}, sum(latency), sum(ttft) FROM messages CROSS JOIN LATERAL"
        " (VALUES (latency_ms, 1, 0), (ttft_ms, 0, 1)) AS v(value, latency, ttft)"
        " WHERE value IS NOT NULL GROUP BY 1, 2, 3, 4"
    )
    async with engine.connect() as connection:
        expected = {tuple(row) for row in await connection.execute(grouped)}
        actual = {tuple(row) for row in await connection.execute(histogram_rows("day"))}
        months = await connection.execute(histogram_rows("month"))
        monthly = {
            (app, month, model, bucket): (n, m) for app, month, model, bucket, n, m in months
        }
        assert await connection.scalar(select(func.count()).select_from(messages)) == len(EVENTS)
    assert actual == expected
    added_up: dict[tuple[Any, ...], tuple[int, int]] = {}
    for app, day, model, bucket, latency, ttft in actual:
        key = (app, day.replace(day=1), model, bucket)
        n, m = added_up.get(key, (0, 0))
        added_up[key] = (n + latency, m + ttft)
    assert monthly == added_up
    return len(actual)
