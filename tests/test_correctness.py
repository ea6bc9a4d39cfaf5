"""usageql's answers against an independent computation in plain Python, on seeded random data.

The reference below uses zoneinfo and the standard library only (not usageql's time or query
code). 3,000 events span both 2026 daylight-saving changes (US 8 March, EU 29 March); some have
no user, no chat, no model price or no latency.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.compacted import database_url, way
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import read_rollups, settings

# fixtures: every test runs from raw events, from rollups, and from rollups with days deferred
__all__ = ["database_url", "settings", "way"]


START = datetime(2026, 3, 1, tzinfo=UTC)
TAGS = ["UA:cli", "UA:web", "feature:a", "feature:b", "beta"]
MODELS = {"m-a": "openai", "m-b": "openai", "m-c": "anthropic", "m-d": None, "m-e": "x"}

Event = dict[str, Any]


def make_events(count: int = 3000, seed: int = 11) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        role = "assistant" if rng.random() < 0.7 else "user"
        event: Event = {
            "id": f"e{n}",
            "timestamp": (START + timedelta(seconds=rng.randrange(40 * 86400))).isoformat(),
            "app": rng.choice(["a1", "a2", "a3"]),
            "role": role,
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "source": rng.choice(["chat", "api"]),
        }
        if rng.random() < 0.9:
            event["user"] = f"u{rng.randrange(40)}"
        if rng.random() < 0.85:
            event["chat_id"] = f"c{rng.randrange(200)}"
        if rng.random() < 0.6:
            event["metadata"] = {"team": rng.choice(["x", "y", "z"])}
        if role == "assistant":
            model = rng.choice(list(MODELS))
            event["model"] = model
            if MODELS[model]:
                event["provider"] = MODELS[model]
            event["status"] = "error" if rng.random() < 0.08 else "success"
            inp = rng.randrange(1, 5000)
            out = rng.randrange(0, 800)
            event["usage"] = {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_tokens": rng.randrange(0, inp // 2 + 1),
                "reasoning_tokens": rng.randrange(0, out // 3 + 1),
            }
            if rng.random() < 0.7:  # the rest are unpriced: these models have no price
                event["cost"] = round(rng.random() * 0.05, 6)
            if rng.random() < 0.9:
                event["latency_ms"] = rng.randrange(50, 20000)
        events.append(event)
    return events


EVENTS = make_events()


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for start in range(0, len(EVENTS), 1000):
        response = await client.post("/v1/events", json=EVENTS[start : start + 1000])
        assert response.json()["rejected"] == []


# The reference.


def when(event: Event) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def is_request(event: Event) -> bool:
    return bool(event["role"] == "assistant")


def percentile(values: list[float], share: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spend(events: list[Event]) -> float | None:
    """The costs summed; None (unknown) when there are requests, none priced, and no cost."""
    costs = [e["cost"] for e in events if "cost" in e]
    requests = [e for e in events if is_request(e)]
    if requests and all("cost" not in e for e in requests) and not any(costs):
        return None
    return float(sum(costs))


def metrics(events: list[Event]) -> dict[str, Any]:
    requests = [e for e in events if is_request(e)]
    usage = [e.get("usage", {}) for e in events]
    latencies = [float(e["latency_ms"]) for e in events if "latency_ms" in e]
    inp = sum(u.get("input_tokens", 0) for u in usage)
    out = sum(u.get("output_tokens", 0) for u in usage)
    return {
        "messages": len(events),
        "requests": len(requests),
        "successfulRequests": sum(e["status"] == "success" for e in requests),
        "failedRequests": sum(e["status"] == "error" for e in requests),
        "unpricedRequests": sum("cost" not in e for e in requests),
        "users": len({e["user"] for e in events if "user" in e}),
        # A chat is an (app, chat id) pair: the same id in two apps is two chats.
        "chats": len({(e["app"], e["chat_id"]) for e in events if "chat_id" in e}),
        "models": len({e["model"] for e in events if "model" in e}),
        "spend": spend(events),
        "tokens": {
            "input": inp,
            "output": out,
            "cacheRead": sum(u.get("cache_read_tokens", 0) for u in usage),
            "cacheWrite": 0,
            "reasoning": sum(u.get("reasoning_tokens", 0) for u in usage),
            "total": inp + out,
        },
        "latencyMs": {
            "avg": sum(latencies) / len(latencies) if latencies else None,
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies) if latencies else None,
        },
    }


METRICS = """metrics { messages requests successfulRequests failedRequests unpricedRequests
  users chats models spend tokens { input output cacheRead cacheWrite reasoning total }
  latencyMs { avg p50 p95 max } }"""
# What the hourly rollups hold: sums, maxima, distinct models, and distinct users and chats
# (from the rollups per user, chat and tag).
ROLLUP_METRICS = """metrics { messages requests successfulRequests failedRequests unpricedRequests
  %s models spend tokens { input output cacheRead cacheWrite reasoning total }
  latencyMs { max } }"""


def asked(way: str, distinct: str = "users chats") -> str:
    """The metrics a test asks for: all of them from raw events, the rollups' own from them
    (with the `distinct` counts the rollup keyed as the test asks holds)."""
    return METRICS if way == "raw" else ROLLUP_METRICS % distinct


def expected_part(actual: Any, expected: Any) -> Any:
    """The reference's values for the fields the answer holds."""
    if isinstance(expected, dict):
        return {key: expected_part(actual[key], expected[key]) for key in actual}
    return expected


def same(actual: Any, expected: Any, where: str) -> None:
    """Equal, with floats equal to 1e-6 relative (averages, percentiles, sums of costs)."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, float) and actual is not None:
        assert math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9), (where, actual, expected)
    else:
        assert actual == expected, (where, actual, expected)


def local_bucket(moment: datetime, granularity: str, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if granularity == "HOUR":
        return moment - timedelta(minutes=local.minute, seconds=local.second)
    day = local.date()
    if granularity == "WEEK":
        day -= timedelta(days=day.weekday())
    if granularity == "MONTH":
        day = day.replace(day=1)
    if granularity == "QUARTER":
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if granularity == "YEAR":
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def grouped(
    events: Iterable[Event], key: Callable[[Event], Iterable[Any]]
) -> dict[Any, list[Event]]:
    groups: dict[Any, list[Event]] = defaultdict(list)
    for event in events:
        for value in key(event):
            groups[value].append(event)
    return groups


# The comparisons.

DIMENSIONS: dict[str, Callable[[Event], Iterable[Any]]] = {
    "APP": lambda e: [e["app"]],
    "MODEL": lambda e: [e.get("model")],
    "PROVIDER": lambda e: [e.get("provider")],
    "USER": lambda e: [e.get("user")],
    "CHAT": lambda e: [e.get("chat_id")],
    "TAG": lambda e: e["tags"],  # an event counts once per tag; untagged events have no row
    "SOURCE": lambda e: [e["source"]],
    "STATUS": lambda e: [e.get("status", "success")],
    "ROLE": lambda e: [e["role"]],
    "PRODUCER": lambda e: ["api"],  # every event is posted to /v1/events (`loaded`)
}


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
async def test_every_dimension_and_metric(
    client: httpx.AsyncClient, engine: AsyncEngine, dimension: str, way: str
) -> None:
    # The keys of the rollups per chat (users and chats) and per tag (users).
    distinct = {"APP": "users chats", "MODEL": "users chats", "USER": "users chats"}
    distinct |= {"CHAT": "users chats", "TAG": "users"}
    query = "{ usage { breakdown(by: [%s], limit: 1000) { keys { value } %s } } }" % (
        dimension,
        asked(way, distinct.get(dimension, "")),
    )
    with count_statements(engine) as sql:
        rows = (await graphql(client, query))["usage"]["breakdown"]
    assert sql.count == 1
    # The rollups do not keep producers: breakdowns by producer read raw events either way.
    assert read_rollups(sql) == (way != "raw" and dimension != "PRODUCER"), sql
    expected = grouped(EVENTS, DIMENSIONS[dimension])
    assert {row["keys"][0]["value"] for row in rows} == set(expected)
    for row in rows:
        key = row["keys"][0]["value"]
        reference = expected_part(row["metrics"], metrics(expected[key]))
        same(row["metrics"], reference, f"{dimension}={key}")


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("granularity", ["HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"])
async def test_every_granularity_in_every_zone(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, granularity: str, way: str
) -> None:
    query = '{ usage(timezone: "%s") { timeseries(granularity: %s, fillGaps: false) {' % (
        zone,
        granularity,
    )
    query += " start end %s } } }" % asked(way)
    with count_statements(engine) as sql:
        buckets = (await graphql(client, query))["usage"]["timeseries"]
    assert sql.count == 1
    # Local days in Kolkata start at half past a UTC hour: only raw events answer them.
    assert read_rollups(sql) == (way != "raw" and zone != "Asia/Kolkata"), sql
    tz = ZoneInfo(zone)
    expected = grouped(EVENTS, lambda e: [local_bucket(when(e), granularity, tz)])
    assert [datetime.fromisoformat(b["start"]) for b in buckets] == sorted(expected)
    for bucket in buckets:
        start = datetime.fromisoformat(bucket["start"])
        reference = expected_part(bucket["metrics"], metrics(expected[start]))
        same(bucket["metrics"], reference, f"{granularity} {zone} {start}")
        end = datetime.fromisoformat(bucket["end"])
        if granularity == "DAY" and zone != "UTC":
            # A local day lasts 23, 24 or 25 hours; the next starts where this one ends.
            assert end - start in {timedelta(hours=h) for h in (23, 24, 25)}
        assert all(when(e) < end for e in expected[start])


SUMS = """metrics { messages requests successfulRequests failedRequests unpricedRequests spend
  tokens { input output cacheRead cacheWrite reasoning total } }"""
SHIFTED = {"Europe/Berlin", "America/New_York"}  # Sydney's days are 13 or 14 UTC hours apart


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", [*sorted(SHIFTED), "Australia/Sydney"])
@pytest.mark.parametrize("granularity", ["DAY", "WEEK", "MONTH"])
async def test_sums_read_the_utc_days_a_local_boundary_cuts(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, granularity: str, way: str
) -> None:
    """Sums alone read a UTC day that a local bucket starts inside of from the daily rollup,
    dated in its longer part, less its other hours there, plus those hours at their own time
    (pieces.shifted): Berlin's and New York's days, across both daylight-saving changes, over a
    period with partial hours at both ends, and each model's series narrowed by model."""
    period = 'from: "2026-03-03T07:23:11Z", to: "2026-04-06T12:41:00Z"'
    series = "timeseries(granularity: %s, fillGaps: false)" % granularity
    query = '{ usage(filter: {%s}, timezone: "%s") { %s { start %s }' % (period, zone, series, SUMS)
    query += " models(limit: 1000) { model usage { %s { start %s } } } } }" % (series, SUMS)
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 3  # the series, the models, the models' series
    # The two series (their statements run concurrently with the models', in any order).
    series_read = [statement for statement in sql.statements if "date_trunc" in statement]
    assert len(series_read) == 2, sql
    shifted = way != "raw" and (granularity != "DAY" or zone in SHIFTED)
    assert all(("usage_daily" in statement) == shifted for statement in series_read), sql
    start, end = (
        datetime(2026, 3, 3, 7, 23, 11, tzinfo=UTC),
        datetime(2026, 4, 6, 12, 41, tzinfo=UTC),
    )
    inside = [e for e in EVENTS if start <= when(e) < end]
    tz = ZoneInfo(zone)

    def check(buckets: list[dict[str, Any]], events: list[Event], where: str) -> None:
        expected = grouped(events, lambda e: [local_bucket(when(e), granularity, tz)])
        assert [datetime.fromisoformat(b["start"]) for b in buckets] == sorted(expected), where
        for bucket in buckets:
            moment = datetime.fromisoformat(bucket["start"])
            reference = expected_part(bucket["metrics"], metrics(expected[moment]))
            same(bucket["metrics"], reference, f"{where} {moment}")

    check(usage["timeseries"], inside, zone)
    models = {row["model"]: row["usage"]["timeseries"] for row in usage["models"]}
    assert set(models) == {e.get("model") for e in inside if e.get("model")}
    for model, buckets in models.items():
        check(buckets, [e for e in inside if e.get("model") == model], f"{zone} {model}")


async def test_a_bucket_whose_events_all_moved_to_the_next_is_no_bucket(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    """A message in the hour a local day starts in (23:30 UTC, 00:30 in Berlin) is taken away
    from its UTC day's bucket and added to the next: the first bucket sums to 0 and is left
    out, as raw events have nothing there."""
    sent = [
        {"id": "late", "timestamp": "2026-03-10T23:30:00Z", "app": "edge", "role": "user"},
        {"id": "noon", "timestamp": "2026-03-12T12:00:00Z", "app": "edge", "role": "user"},
    ]
    assert (await client.post("/v1/events", json=sent)).json()["rejected"] == []
    query = """{ usage(filter: {from: "2026-03-09T00:00:00Z", to: "2026-03-14T00:00:00Z"},
      timezone: "Europe/Berlin") { timeseries(granularity: DAY, fillGaps: false) {
      start metrics { messages } } } }"""
    with count_statements(engine) as sql:
        buckets = (await graphql(client, query))["usage"]["timeseries"]
    assert sql.count == 1
    assert read_rollups(sql) == (way != "raw"), sql
    assert buckets == [
        {"start": "2026-03-10T23:00:00+00:00", "metrics": {"messages": 1}},
        {"start": "2026-03-11T23:00:00+00:00", "metrics": {"messages": 1}},
    ]


FILTERS: dict[str, tuple[str, Callable[[Event], bool]]] = {
    "apps": ('apps: ["a1", "a3"]', lambda e: e["app"] in {"a1", "a3"}),
    "models and period": (
        'models: ["m-a", "m-d"], from: "2026-03-05T00:00:00Z", to: "2026-03-29T12:00:00Z"',
        lambda e: (
            e.get("model") in {"m-a", "m-d"}
            and datetime(2026, 3, 5, tzinfo=UTC) <= when(e) < datetime(2026, 3, 29, 12, tzinfo=UTC)
        ),
    ),
    "period inside hours": (
        'from: "2026-03-05T07:23:11Z", to: "2026-03-29T12:41:00.5Z"',
        lambda e: (
            datetime(2026, 3, 5, 7, 23, 11, tzinfo=UTC)
            <= when(e)
            < datetime(2026, 3, 29, 12, 41, 0, 500000, tzinfo=UTC)
        ),
    ),
    "tags": ('tags: ["beta", "feature:a"]', lambda e: bool({"beta", "feature:a"} & set(e["tags"]))),
    "tag substring": ('tagContains: "ua:"', lambda e: any("ua:" in t.lower() for t in e["tags"])),
    "status": ("status: ERROR", lambda e: e.get("status", "success") == "error"),
    "users and sources": (
        'users: ["u1", "u2", "u3"], sources: ["api"]',
        lambda e: e.get("user") in {"u1", "u2", "u3"} and e["source"] == "api",
    ),
    "metadata": (
        'metadata: [{key: "team", values: ["x", "z"]}]',
        lambda e: e.get("metadata", {}).get("team") in {"x", "z"},
    ),
}


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("name", sorted(FILTERS))
async def test_filters_on_totals_and_on_a_breakdown(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, way: str
) -> None:
    argument, keep = FILTERS[name]
    wanted = asked(way, "")
    query = "{ usage(filter: {%s}) { summary { %s } models(limit: 1000) { model %s } } }" % (
        argument,
        wanted.removeprefix("metrics {").removesuffix("}"),
        wanted,
    )
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 2
    raw_only = {"tags", "tag substring", "metadata", "users and sources"}
    assert read_rollups(sql) == (way != "raw" and name not in raw_only), sql
    kept = [e for e in EVENTS if keep(e)]
    assert kept, name
    same(usage["summary"], expected_part(usage["summary"], metrics(kept)), f"{name}: summary")
    per_model = grouped((e for e in kept if "model" in e), lambda e: [e["model"]])
    assert {m["model"] for m in usage["models"]} == set(per_model)
    for row in usage["models"]:
        reference = expected_part(row["metrics"], metrics(per_model[row["model"]]))
        same(row["metrics"], reference, f"{name}: {row['model']}")
