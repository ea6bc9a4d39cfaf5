"""Bucket counts for the query cost, against the buckets a series really has: the ones
`time.buckets` lists (gaps filled) and the ones PostgreSQL groups events into (sampled every
10 minutes, finer than any clock step), in zones whose clocks do odd things."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.db.engine import create_engine
from usageql.query.model import Granularity
from usageql.query.spans import count_buckets, most_buckets
from usageql.query.time import bucket_end, bucket_start, buckets

# A year around something odd in each zone (besides plain DST in Berlin and none in UTC), and the
# instant of its odd step, which spans that start or end just before or after it probe.
ZONES: dict[str, tuple[int, datetime | None]] = {
    "UTC": (2020, None),
    "Europe/Berlin": (2020, datetime(2020, 10, 25, 1, tzinfo=UTC)),
    # 4 March 2010: +11 to +08, from 02:00 back to 23:00 of the day before.
    "Antarctica/Casey": (2010, datetime(2010, 3, 4, 15, tzinfo=UTC)),
    # DST of half an hour: 02:00 back to 01:30.
    "Australia/Lord_Howe": (2020, datetime(2020, 4, 4, 15, tzinfo=UTC)),
    # 30 December 2011 skipped: -10 to +14.
    "Pacific/Apia": (2011, datetime(2011, 12, 30, 10, tzinfo=UTC)),
    # DST ends at 24:00, back to 23:00.
    "America/Santiago": (2020, datetime(2020, 4, 5, 3, tzinfo=UTC)),
    "Asia/Kolkata": (2020, None),  # +05:30
}
# PostgreSQL's group keys, as src/usageql/query/compile.py writes them.
SAMPLES = text(
    "SELECT count(DISTINCT date_trunc('minute', t) - make_interval(mins =>"
    " extract(minute FROM t AT TIME ZONE :tz)::int)),"
    " count(DISTINCT date_trunc('day', t, :tz)), count(DISTINCT date_trunc('week', t, :tz)),"
    " count(DISTINCT date_trunc('month', t, :tz)), count(DISTINCT date_trunc('quarter', t, :tz)),"
    " count(DISTINCT date_trunc('year', t, :tz))"
    " FROM generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz)"
    " - interval '1 microsecond', interval '10 minutes') AS t"
)
PER_BUCKET = text(
    "SELECT max(h), max(d), max(w), max(m), max(q), max(y) FROM ("
    " SELECT count(DISTINCT date_trunc('minute', t) - make_interval(mins =>"
    " extract(minute FROM t AT TIME ZONE :tz)::int)) AS h,"
    " count(DISTINCT date_trunc('day', t, :tz)) AS d, count(DISTINCT date_trunc('week', t, :tz))"
    " AS w, count(DISTINCT date_trunc('month', t, :tz)) AS m,"
    " count(DISTINCT date_trunc('quarter', t, :tz)) AS q,"
    " count(DISTINCT date_trunc('year', t, :tz)) AS y"
    " FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) AS b(s, e),"
    " generate_series(b.s, b.e - interval '1 microsecond', interval '10 minutes') AS t"
    " GROUP BY b.s) AS per_bucket"
)


@pytest.fixture
async def sql(server_url: str) -> AsyncIterator[AsyncEngine]:
    """The test server itself: these statements read no table."""
    engine = create_engine(server_url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


def _spans(year: int, seed: int) -> list[tuple[datetime, datetime]]:
    """Spans of 1 hour to 40 days anywhere in the year, starting on odd minutes too."""
    rng = random.Random(seed)
    first = datetime(year, 1, 1, tzinfo=UTC)
    spans = []
    for _ in range(12):
        start = first + timedelta(minutes=rng.randrange(365 * 24 * 60))
        spans.append((start, start + timedelta(minutes=rng.randrange(60, 40 * 24 * 60))))
    return spans


@pytest.mark.parametrize("name", list(ZONES))
async def test_a_span_has_at_most_the_buckets_counted(sql: AsyncEngine, name: str) -> None:
    tz = ZoneInfo(name)
    year, step = ZONES[name]
    # Whole local months and years, as dashboards ask; spans ending or starting at the step.
    spans = [
        (datetime(year, 3, 1, tzinfo=tz), datetime(year, 4, 1, tzinfo=tz)),
        (datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)),
    ]
    if step is not None:
        minutes = [(-30, 120), (-300, 30), (-10, 10), (-1500, 30), (-30, 1500)]
        spans += [(step + timedelta(minutes=a), step + timedelta(minutes=b)) for a, b in minutes]
    async with sql.connect() as connection:
        for start, end in spans + _spans(year, seed=len(name)):
            found = (
                await connection.execute(SAMPLES, {"tz": name, "start": start, "end": end})
            ).one()
            for granularity, in_sql in zip(Granularity, found, strict=True):
                listed = len(list(buckets(start, end, granularity, tz)))
                counted = count_buckets(start, end, granularity, tz)
                assert counted >= max(listed, in_sql), (name, start, end, granularity)
                if name in ("UTC", "Europe/Berlin"):  # no odd steps: exact
                    assert counted == listed, (name, start, end, granularity)


@pytest.mark.parametrize("name", list(ZONES))
@pytest.mark.parametrize("parent", list(Granularity))
async def test_a_bucket_holds_at_most_most_buckets(
    sql: AsyncEngine, name: str, parent: Granularity
) -> None:
    tz = ZoneInfo(name)
    year, _ = ZONES[name]
    start = bucket_start(datetime(year, 1, 1, tzinfo=UTC), parent, tz)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    if parent is Granularity.HOUR:  # the weeks around the zone's odd step
        start, end = datetime(year, 3, 1, tzinfo=UTC), datetime(year, 5, 1, tzinfo=UTC)
        if name == "Pacific/Apia":
            start, end = datetime(year, 12, 20, tzinfo=UTC), datetime(year + 1, 1, 5, tzinfo=UTC)
    starts = list(buckets(start, end, parent, tz))
    ends = [bucket_end(s, parent, tz) for s in starts]
    async with sql.connect() as connection:
        found = (
            await connection.execute(PER_BUCKET, {"tz": name, "starts": starts, "ends": ends})
        ).one()
    for child, in_sql in zip(Granularity, found, strict=True):
        listed = max(len(list(buckets(s, e, child, tz))) for s, e in zip(starts, ends, strict=True))
        assert most_buckets(parent, child) >= max(listed, in_sql), (name, parent, child)


def test_a_bucket_of_a_day_holds_the_hours_of_its_longest_day() -> None:
    # 24 hours, 3 more when a clock steps back 3 hours, and a slot a half-hour step adds.
    assert most_buckets(Granularity.DAY, Granularity.HOUR) == 28
    assert most_buckets(Granularity.MONTH, Granularity.DAY) == 32
    assert most_buckets(Granularity.YEAR, Granularity.WEEK) == 55
    assert most_buckets(Granularity.DAY, Granularity.MONTH) == 2


def test_an_empty_or_reversed_span_has_no_buckets() -> None:
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    assert count_buckets(moment, moment, Granularity.DAY, ZoneInfo("UTC")) == 0
    assert count_buckets(moment, moment - timedelta(days=3), Granularity.HOUR, ZoneInfo("UTC")) == 0
