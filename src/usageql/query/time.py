"""Calendar buckets in a time zone: where they start and end, and every bucket of a span.

Buckets start at local midnight (or the local hour); days across a DST change last 23 or 25
hours; weeks are ISO weeks starting on Monday; months, quarters and years are calendar ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usageql.query.model import Granularity, Scope, TimeBucket

MAX_BUCKETS = 10_000


class TimeZoneError(ValueError):
    """A time zone name that is not in the IANA database."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a TimeZoneError that says how to spell one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeZoneError(
            f"timezone: {name!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin,"
            " America/New_York)"
        ) from None


def bucket_start(moment: datetime, granularity: Granularity, tz: ZoneInfo) -> datetime:
    """The start (as a UTC datetime) of the bucket that holds `moment`."""
    local = moment.astimezone(tz)
    if granularity is Granularity.HOUR:
        # The instant less its local minutes and seconds: a local hour in zones with half-hour
        # offsets too, and unambiguous in the hour a DST change repeats.
        past = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
        return (moment - past).astimezone(UTC)
    day = local.date()
    if granularity is Granularity.WEEK:
        day = day - timedelta(days=day.weekday())
    elif granularity is Granularity.MONTH:
        day = day.replace(day=1)
    elif granularity is Granularity.QUARTER:
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif granularity is Granularity.YEAR:
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def bucket_end(start: datetime, granularity: Granularity, tz: ZoneInfo) -> datetime:
    """The end (exclusive, UTC) of the bucket starting at `start`."""
    if granularity is Granularity.HOUR:
        return start + timedelta(hours=1)
    local = start.astimezone(tz)
    if granularity is Granularity.DAY:
        following = local.date() + timedelta(days=1)
    elif granularity is Granularity.WEEK:
        following = local.date() + timedelta(days=7)
    else:
        months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[granularity]
        index = local.year * 12 + local.month - 1 + months
        following = local.date().replace(year=index // 12, month=index % 12 + 1, day=1)
    return datetime(following.year, following.month, following.day, tzinfo=tz).astimezone(UTC)


def buckets(
    start: datetime, end: datetime, granularity: Granularity, tz: ZoneInfo
) -> Iterator[datetime]:
    """Starts of every bucket that overlaps [start, end)."""
    current = bucket_start(start, granularity, tz)
    for _ in range(MAX_BUCKETS):
        if current >= end:
            return
        yield current
        current = bucket_end(current, granularity, tz)
    raise ValueError(
        f"more than {MAX_BUCKETS:,} {granularity.value} buckets: choose a coarser granularity"
        " or a shorter period"
    )


def span(scope: Scope) -> tuple[datetime | None, datetime | None]:
    """The period a scope covers: its filter's from/to, narrowed by any time-bucket rows."""
    start, end = scope.filter.start, scope.filter.end
    for narrowing in scope.narrowing:
        if isinstance(narrowing.key, TimeBucket) and isinstance(narrowing.value, datetime):
            bucket_stop = bucket_end(
                narrowing.value, narrowing.key.granularity, zone(scope.timezone)
            )
            start = narrowing.value if start is None else max(start, narrowing.value)
            end = bucket_stop if end is None else min(end, bucket_stop)
    return start, end


def window_start(end: datetime, period: Granularity, tz: ZoneInfo) -> datetime:
    """The start of the rolling window of one `period` that ends at `end` (local calendar)."""
    if period is Granularity.HOUR:
        return end - timedelta(hours=1)
    local = end.astimezone(tz)
    if period is Granularity.DAY:
        day = local.date() - timedelta(days=1)
    elif period is Granularity.WEEK:
        day = local.date() - timedelta(days=7)
    else:
        months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[period]
        index = local.year * 12 + local.month - 1 - months
        year, month = index // 12, index % 12 + 1
        last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        day = date(year, month, min(local.day, last_day))
    start = datetime.combine(day, local.time(), tzinfo=tz)
    return start.astimezone(UTC)
