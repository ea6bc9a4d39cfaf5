from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from usageql.query.model import Granularity, Scope
from usageql.query.time import MAX_BUCKETS, TimeZoneError, bucket_end, bucket_start, buckets, zone

BERLIN = zone("Europe/Berlin")
KOLKATA = zone("Asia/Kolkata")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_days_start_at_local_midnight_and_last_23_or_25_hours_across_dst() -> None:
    spring = bucket_start(utc(2026, 3, 29, 12), Granularity.DAY, BERLIN)
    assert spring == utc(2026, 3, 28, 23)  # midnight CET
    assert bucket_end(spring, Granularity.DAY, BERLIN) - spring == timedelta(hours=23)
    autumn = bucket_start(utc(2026, 10, 25, 12), Granularity.DAY, BERLIN)
    assert autumn == utc(2026, 10, 24, 22)  # midnight CEST
    assert bucket_end(autumn, Granularity.DAY, BERLIN) - autumn == timedelta(hours=25)


def test_weeks_are_iso_weeks_from_monday() -> None:
    thursday = utc(2026, 10, 1, 9)
    start = bucket_start(thursday, Granularity.WEEK, BERLIN)
    assert start == utc(2026, 9, 27, 22)  # Monday 28 September, 00:00 in Berlin
    assert start.astimezone(BERLIN).weekday() == 0
    assert bucket_end(start, Granularity.WEEK, BERLIN) == utc(2026, 10, 4, 22)


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        (Granularity.MONTH, utc(2026, 1, 31, 23), utc(2026, 2, 28, 23)),
        (Granularity.QUARTER, utc(2025, 12, 31, 23), utc(2026, 3, 31, 22)),
        (Granularity.YEAR, utc(2025, 12, 31, 23), utc(2026, 12, 31, 23)),
    ],
)
def test_calendar_months_quarters_and_years(
    granularity: Granularity, start: datetime, end: datetime
) -> None:
    moment = utc(2026, 2, 14, 12)
    assert bucket_start(moment, granularity, BERLIN) == start
    assert bucket_end(start, granularity, BERLIN) == end


def test_hours_follow_local_hours_in_half_hour_zones() -> None:
    start = bucket_start(utc(2026, 5, 1, 10, 45), Granularity.HOUR, KOLKATA)
    assert start == utc(2026, 5, 1, 10, 30)  # 16:00 in Kolkata
    assert bucket_end(start, Granularity.HOUR, KOLKATA) == utc(2026, 5, 1, 11, 30)


def test_the_repeated_hour_of_a_dst_change_is_two_buckets() -> None:
    first = bucket_start(utc(2026, 10, 25, 0, 30), Granularity.HOUR, BERLIN)
    second = bucket_start(utc(2026, 10, 25, 1, 30), Granularity.HOUR, BERLIN)
    assert (first, second) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))


def test_buckets_cover_a_span_and_refuse_too_many() -> None:
    days = list(buckets(utc(2026, 3, 27, 12), utc(2026, 3, 31), Granularity.DAY, BERLIN))
    assert [d.astimezone(BERLIN).day for d in days] == [27, 28, 29, 30, 31]
    with pytest.raises(ValueError, match=f"more than {MAX_BUCKETS:,} hour buckets"):
        list(buckets(utc(2000, 1, 1), utc(2026, 1, 1), Granularity.HOUR, BERLIN))


def test_unknown_zones_are_named_in_the_error() -> None:
    with pytest.raises(TimeZoneError, match="timezone: 'Mars/Olympus' is not an IANA time zone"):
        zone("Mars/Olympus")


def test_scopes_default_to_utc() -> None:
    assert Scope().timezone == "UTC"
