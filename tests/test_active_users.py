"""Rolling active users against a plain-Python computation, from raw events and from rollups.

Each day of a period gets the window of one HOUR, DAY, WEEK, MONTH, QUARTER or YEAR that ends at
the day's local end; a window that starts on a day its month lacks (30 March less one month)
starts on the month's last day instead, so several windows can share a start. The periods cross
month ends (February in 2024, a leap year, and in 2025), both 2024 and 2025 daylight-saving
changes in Europe and America, and a zone half an hour off UTC. The reference uses zoneinfo,
calendar and bisect only, not usageql's time or query code.
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import read_rollups, settings, way

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
PERIODS = ["HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"]
MONTHS_BACK = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
# [from, to): February and March to May ends with spring DST (US 10 March 2024 and 9 March 2025,
# EU 31 March 2024 and 30 March 2025), and October's end with autumn DST (EU 27 October, US
# 3 November 2024).
RANGES = {
    "leap": (datetime(2024, 2, 20, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC)),
    "common": (datetime(2025, 2, 20, tzinfo=UTC), datetime(2025, 6, 3, tzinfo=UTC)),
    "autumn": (datetime(2024, 10, 20, tzinfo=UTC), datetime(2024, 11, 6, tzinfo=UTC)),
}
FIRST, LAST = datetime(2023, 2, 1, tzinfo=UTC), datetime(2025, 6, 10, tzinfo=UTC)

Event = dict[str, Any]


def months_back(day: date, months: int) -> date:
    """The same day `months` earlier, or that month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def make_events(seed: int = 13) -> list[Event]:
    """Events spread over [FIRST, LAST), and more around local midnights of the days the ranges
    report and of the days their windows start on (some exactly on a midnight)."""
    rng = random.Random(seed)
    seconds = int((LAST - FIRST).total_seconds())
    moments = [FIRST + timedelta(seconds=rng.randrange(seconds)) for _ in range(4000)]
    range_days = [
        start.date() + timedelta(days=n)
        for start, end in RANGES.values()
        for n in range((end - start).days + 1)
    ]
    for _ in range(2000):
        zone = ZoneInfo(rng.choice(ZONES))
        day = rng.choice(range_days)
        if rng.random() < 0.5:
            day = months_back(day, rng.choice([1, 3, 12]))
        offset = 0 if rng.random() < 0.2 else rng.randrange(-7200, 7200)
        moments.append(midnight(day, zone) + timedelta(seconds=offset))
    events = []
    for n, moment in enumerate(sorted(m for m in moments if FIRST <= m < LAST)):
        event: Event = {"id": f"e{n}", "timestamp": moment.isoformat(), "role": "user"}
        if rng.random() < 0.9:
            event["user"] = f"u{int(4000 * rng.random() ** 2)}"  # some users are busier
        if rng.random() < 0.5:
            event |= {"role": "assistant", "model": rng.choice(["m-a", "m-b"])}
        events.append(event)
    return events


EVENTS = make_events()
TIMES = [datetime.fromisoformat(e["timestamp"]) for e in EVENTS]  # sorted


def reference_windows(
    start: datetime, end: datetime, period: str, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """For each local day overlapping [start, end), the window of `period` ending at its end."""
    windows = []
    day = start.astimezone(zone).date()
    while midnight(day, zone) < end:
        following = day + timedelta(days=1)
        stop = midnight(following, zone)
        if period == "HOUR":
            begin = stop - timedelta(hours=1)
        elif period in MONTHS_BACK:
            begin = midnight(months_back(following, MONTHS_BACK[period]), zone)
        else:
            begin = midnight(following - timedelta(days=7 if period == "WEEK" else 1), zone)
        windows.append((begin, stop))
        day = following
    return windows


def active_users(start: datetime, end: datetime) -> int:
    """Distinct users with an event in [start, end)."""
    inside = EVENTS[bisect_left(TIMES, start) : bisect_left(TIMES, end)]
    return len({e["user"] for e in inside if "user" in e})


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> None:
    for start in range(0, len(EVENTS), 2000):
        response = await client.post("/v1/events", json=EVENTS[start : start + 2000])
        assert response.json()["rejected"] == []


def test_the_data_tells_overlapping_windows_apart() -> None:
    """Windows sharing a start must differ in their counts, or merging them would go unseen."""
    zone = ZoneInfo("Europe/Berlin")
    for period in MONTHS_BACK:
        counts: dict[datetime, set[int]] = {}
        for start, end in RANGES.values():
            for begin, stop in reference_windows(start, end, period, zone):
                counts.setdefault(begin, set()).add(active_users(begin, stop))
        assert any(len(seen) > 1 for seen in counts.values()), period
    hours = [active_users(*w) for w in reference_windows(*RANGES["leap"], "HOUR", zone)]
    assert len(set(hours)) > 2, hours


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize("zone", ZONES)
async def test_rolling_windows_count_the_users_of_their_own_bounds(
    client: httpx.AsyncClient, engine: AsyncEngine, zone: str, way: str
) -> None:
    fields = [
        f"{name}_{period}: activeUsers(period: {period}, window: ROLLING, filter: "
        f'{{from: "{start.isoformat()}", to: "{end.isoformat()}"}}) {{ start end users }}'
        for name, (start, end) in RANGES.items()
        for period in PERIODS
    ]
    query = '{ usage(timezone: "%s") { %s } }' % (zone, " ".join(fields))
    with count_statements(engine) as sql:
        usage = (await graphql(client, query))["usage"]
    # Per range: its days (shared by the periods); then every window of every field at once.
    assert sql.count == len(RANGES) + 1, sql
    # Windows in Kolkata start and end at half past a UTC hour: only raw events answer them.
    from_rollups = way == "rollups" and zone != "Asia/Kolkata"
    assert read_rollups(sql) == from_rollups, sql
    tz = ZoneInfo(zone)
    for name, (start, end) in RANGES.items():
        for period in PERIODS:
            answer = [
                (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]), w["users"])
                for w in usage[f"{name}_{period}"]
            ]
            expected = [
                (begin, stop, active_users(begin, stop))
                for begin, stop in reference_windows(start, end, period, tz)
            ]
            assert answer == expected, (name, period, _first_difference(answer, expected))


def _first_difference(answer: list[Any], expected: list[Any]) -> Any:
    return next(
        ((a, e) for a, e in zip(answer, expected, strict=False) if a != e),
        (len(answer), len(expected)),
    )


@pytest.mark.usefixtures("loaded")
async def test_rolling_windows_of_rows_cost_the_same_statements_for_any_number_of_rows(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Each row of a list has its own days, so its own windows; the rows still share one
    statement for their days and one for their windows, and each gets only its own."""
    query = """{ usage { models(limit: 2) { model usage {
        activeUsers(period: WEEK, window: ROLLING) { start end users } } } } }"""
    with count_statements(engine) as sql:
        models = (await graphql(client, query))["usage"]["models"]
    assert sql.count == 3, sql  # the models, their days, their windows
    assert sorted(m["model"] for m in models) == ["m-a", "m-b"]
    firsts = set()
    for row in models:
        model_events = [e for e in EVENTS if e.get("model") == row["model"]]
        times = [datetime.fromisoformat(e["timestamp"]) for e in model_events]
        first = datetime.combine(min(times).date(), datetime.min.time(), UTC)
        firsts.add(first)
        answer = [(w["start"], w["end"], w["users"]) for w in row["usage"]["activeUsers"]]
        expected = []
        for begin, stop in reference_windows(first, max(times), "WEEK", ZoneInfo("UTC")):
            users = {
                e["user"]
                for e, moment in zip(model_events, times, strict=True)
                if "user" in e and begin <= moment < stop
            }
            expected.append((begin.isoformat(), stop.isoformat(), len(users)))
        assert answer == expected, row["model"]
    assert len(firsts) == 2  # the rows' days differ, so do their windows
