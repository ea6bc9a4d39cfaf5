"""Paths no other test reaches, against plain Python over the events the test stores: TTFT and
latency distributions, cache-write tokens, a series nested in a series with its gaps filled, and
chats ordered by their message count. Each runs from raw events and with rollups on.

Events span February to April 2026 (both daylight-saving changes), in two apps whose ids sort
differently in byte order and in a natural-language collation, with two quiet spells of two days.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.test_correctness import percentile
from tests.ways import read_rollups, settings, way

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

START, END = datetime(2026, 2, 10, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)
QUIET_SPELLS = [datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC)]  # 48 h each
APPS = ["a1", "B2"]  # "B2" sorts first in byte order, last in en_US

Event = dict[str, Any]


def make_events(count: int = 1500, seed: int = 17) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        moment = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
        if any(spell <= moment < spell + timedelta(hours=48) for spell in QUIET_SPELLS):
            continue
        event: Event = {"id": f"e{n}", "timestamp": moment.isoformat(), "app": rng.choice(APPS)}
        if rng.random() < 0.85:
            event["chat_id"] = f"{rng.choice('cC_')}{rng.randrange(12)}"
        if rng.random() < 0.25:
            event["role"] = "user"
            events.append(event)
            continue
        event["model"] = rng.choice(["m-a", "m-b", "m-c"])
        inp, out = rng.randrange(1, 4000), rng.randrange(0, 500)
        read, write = rng.randrange(0, inp // 3 + 1), rng.randrange(0, inp // 3 + 1)
        if rng.random() < 0.3:  # Anthropic's shape: the input excludes both cache fields
            event["usage"] = {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": write,
            }
        else:
            event["usage"] = {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_tokens": read,
                "cache_write_tokens": write,
            }
        latency = round(rng.uniform(50, 20000), 3)
        if rng.random() < 0.8:
            event["latency_ms"] = latency
        if rng.random() < 0.7:
            event["ttft_ms"] = round(rng.uniform(0, latency), 3)
        events.append(event)
    return events


EVENTS = make_events()


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=EVENTS)
    assert response.json()["rejected"] == []


def when(event: Event) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def cache_writes(event: Event) -> int:
    usage = event.get("usage", {})
    return int(usage.get("cache_write_tokens", usage.get("cache_creation_input_tokens", 0)))


def input_tokens(event: Event) -> int:
    usage = event.get("usage", {})
    cached = usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    return int(usage.get("input_tokens", 0) + cached)


def distributions(events: list[Event]) -> dict[str, Any]:
    latencies = [float(e["latency_ms"]) for e in events if "latency_ms" in e]
    ttfts = [float(e["ttft_ms"]) for e in events if "ttft_ms" in e]
    return {
        "latencyMs": {"p99": percentile(latencies, 0.99)},
        "ttftMs": {
            "avg": sum(ttfts) / len(ttfts) if ttfts else None,
            "max": max(ttfts) if ttfts else None,
            "p99": percentile(ttfts, 0.99),
        },
    }


def maxima_and_tokens(events: list[Event]) -> dict[str, Any]:
    latencies = [float(e["latency_ms"]) for e in events if "latency_ms" in e]
    ttfts = [float(e["ttft_ms"]) for e in events if "ttft_ms" in e]
    return {
        "latencyMs": {"max": max(latencies) if latencies else None},
        "ttftMs": {"max": max(ttfts) if ttfts else None},
        "tokens": {
            "input": sum(map(input_tokens, events)),
            "cacheWrite": sum(map(cache_writes, events)),
        },
    }


def close(actual: Any, expected: Any, where: str) -> None:
    """Equal; floats as answered, to the microsecond (3 decimals of a millisecond), within
    half of one of the computed value (PostgreSQL sums doubles in another order)."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, float):
        assert actual is not None, where
        assert actual == round(actual, 3), (where, actual)
        assert abs(actual - expected) <= 5e-4 + 1e-9 * abs(expected), (where, actual, expected)
    else:
        assert actual == expected, (where, actual, expected)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def local_day(moment: datetime, zone: ZoneInfo) -> datetime:
    return midnight(moment.astimezone(zone).date(), zone)


def per_key(events: list[Event], key: Callable[[Event], Any]) -> dict[Any, list[Event]]:
    groups: dict[Any, list[Event]] = defaultdict(list)
    for event in events:
        groups[key(event)].append(event)
    return groups


ZONE = "Europe/Berlin"
BREAKDOWNS = """{ usage(timezone: "%s") { summary { %s }
  models { model metrics { %s } }
  timeseries(granularity: DAY, fillGaps: false) { start metrics { %s } } } }"""


async def _compare_breakdowns(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    wanted: str,
    reference: Callable[[list[Event]], dict[str, Any]],
) -> bool:
    """The summary, each model and each local day against `reference`; whether any statement
    read a rollup."""
    query = BREAKDOWNS % (ZONE, wanted, wanted, wanted)
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    assert sql.count == 3, sql
    close(usage["summary"], reference(EVENTS), "summary")
    models = per_key([e for e in EVENTS if "model" in e], lambda e: e["model"])
    assert sorted(m["model"] for m in usage["models"]) == sorted(models)
    for row in usage["models"]:
        close(row["metrics"], reference(models[row["model"]]), row["model"])
    days = per_key(EVENTS, lambda e: local_day(when(e), ZoneInfo(ZONE)))
    assert [datetime.fromisoformat(b["start"]) for b in usage["timeseries"]] == sorted(days)
    for bucket in usage["timeseries"]:
        start = datetime.fromisoformat(bucket["start"])
        close(bucket["metrics"], reference(days[start]), bucket["start"])
    return read_rollups(sql)


@pytest.mark.usefixtures("loaded")
async def test_latency_p99_and_ttft_avg_max_p99(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    wanted = "latencyMs { p99 } ttftMs { avg max p99 }"
    # Averages and percentiles are not in the rollups: raw events answer either way.
    assert not await _compare_breakdowns(client, engine, wanted, distributions)


@pytest.mark.usefixtures("loaded")
async def test_cache_write_tokens_and_maxima(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    assert sum(map(cache_writes, EVENTS)) > 0
    wanted = "latencyMs { max } ttftMs { max } tokens { input cacheWrite }"
    assert await _compare_breakdowns(client, engine, wanted, maxima_and_tokens) == (
        way == "rollups"
    )


def month_days(month_start: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Every local day of the month: its start and the next day's (23, 24 or 25 hours on)."""
    days = []
    day = month_start
    while day.month == month_start.month:
        days.append((midnight(day, zone), midnight(day + timedelta(days=1), zone)))
        day += timedelta(days=1)
    return days


NESTED = """{ usage(timezone: "%s") { timeseries(granularity: MONTH) { start end
  usage { timeseries(granularity: DAY, fillGaps: true) { start end metrics { messages } } } } } }"""


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
async def test_a_daily_series_in_each_month_has_every_day(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, way: str
) -> None:
    with count_statements(engine) as sql:
        months = (await graphql(client, NESTED % zone))["usage"]["timeseries"]
    assert sql.count == 2, sql  # the months, then every month's days in one statement
    assert read_rollups(sql) == (way == "rollups"), sql
    tz = ZoneInfo(zone)
    per_day = Counter(local_day(when(e), tz) for e in EVENTS)
    first, last = min(map(when, EVENTS)).astimezone(tz), max(map(when, EVENTS)).astimezone(tz)
    expected_months = [date(2026, month, 1) for month in range(first.month, last.month + 1)]
    assert [datetime.fromisoformat(m["start"]).astimezone(tz).date() for m in months] == (
        expected_months
    )
    empty = 0
    for month, month_start in zip(months, expected_months, strict=True):
        answer = [
            (datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]))
            for d in month["usage"]["timeseries"]
        ]
        assert answer == month_days(month_start, tz), month["start"]
        counts = [d["metrics"]["messages"] for d in month["usage"]["timeseries"]]
        assert counts == [per_day.get(start, 0) for start, _ in answer], month["start"]
        empty += counts.count(0)
    # Before the first event, and the two quiet spells (the spells hold a whole local day).
    assert empty >= (first.day - 1) + 2, empty


CHATS = """query($from: DateTime!, $to: DateTime!) {
  usage(filter: {from: $from, to: $to}) {
    most: chats(first: 500, orderBy: {field: MESSAGES, direction: DESC}) {
      totalCount edges { node { app id messages } } }
    fewest: chats(first: 500, orderBy: {field: MESSAGES, direction: ASC}) {
      totalCount edges { node { app id messages } } } } }"""


@pytest.mark.usefixtures("loaded")
async def test_chats_by_message_count_with_ties_by_app_and_id(
    client: httpx.AsyncClient, engine: AsyncEngine, way: str
) -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC)
    variables = {"from": start.isoformat(), "to": end.isoformat()}
    with count_statements(engine) as sql:
        usage = (await graphql(client, CHATS, variables))["usage"]
    assert sql.count == 2, sql
    # The chats in scope and their counts come from the chat rollup; descriptions from `chats`.
    assert read_rollups(sql) == (way == "rollups"), sql
    counts = Counter(
        (e["app"], e["chat_id"]) for e in EVENTS if "chat_id" in e and start <= when(e) < end
    )
    tied: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for chat, count in counts.items():
        tied[count].append(chat)
    assert any(len({app for app, _ in chats}) > 1 for chats in tied.values())  # apps break ties
    assert any(len(chats) > len({app for app, _ in chats}) for chats in tied.values())  # and ids
    # Byte order: "B2" before "a1", "C1" before "_1" before "c1".
    most = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    fewest = sorted(counts.items(), key=lambda item: (item[1], item[0]))
    for name, expected in (("most", most), ("fewest", fewest)):
        page = usage[name]
        assert page["totalCount"] == len(counts)
        answer = [((n["app"], n["id"]), n["messages"]) for n in (e["node"] for e in page["edges"])]
        assert answer == expected, name
