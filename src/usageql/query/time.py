"""Calendar buckets in a time zone: where they start and end, and every bucket of a span.

Buckets start at local midnight (or the local hour); days across a DST change last 23 or 25
hours; weeks are ISO weeks starting on Monday; months, quarters and years are calendar ones.

Bucket bounds are computed both here (Python's zoneinfo) and in SQL (PostgreSQL's zones), so a
zone is accepted only when both know it: the server installs the database's zone names at start
(`load_zones`); until then, Python's own list stands in. Instants are bounded too, so every
zone's local calendar can hold the buckets around them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from usageql.query.model import Granularity, Scope, TimeBucket

MAX_BUCKETS = 10_000
MAX_ZONE_NAME = 64  # the longest IANA name has 32 characters
# Python's datetime ends at years 1 and 9999; a local bucket or rolling window can reach a year
# before or after its instant. These bounds leave room for any zone, with years to spare
# around the stored events (2000 to now).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

# Files in the zone directory that are no IANA zone, or that mean the zone of whichever
# machine reads them (the database server's may differ from ours).
_NOT_ZONES = frozenset({"localtime", "posixrules"})
_PG_TIMEZONE_NAMES = table("pg_timezone_names", column("name"))
_database_zones: frozenset[str] | None = None


class TimeZoneError(ValueError):
    """A time zone name that is not in the IANA database."""


class TimeRangeError(ValueError):
    """An instant outside EARLIEST..LATEST."""


@functools.cache
def _python_zones() -> frozenset[str]:
    # available_timezones() leaves out directories, right/, posix/ and posixrules.
    return frozenset(available_timezones()) - _NOT_ZONES


def install_zones(names: Iterable[str]) -> None:
    """Accept, from now on, the zones among `names` (the database's) that Python knows too."""
    global _database_zones  # noqa: PLW0603 (one process-wide list, read by every request)
    _database_zones = frozenset(names) & _python_zones()


async def load_zones(engine: AsyncEngine) -> None:
    """Install the zones the database knows (one statement, at start)."""
    async with engine.connect() as connection:
        names = (await connection.scalars(select(_PG_TIMEZONE_NAMES.c.name))).all()
    install_zones(names)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a TimeZoneError that says how to spell one."""
    if len(name) > MAX_ZONE_NAME:
        raise TimeZoneError(
            f"timezone: a name of {len(name):,} characters is not a time zone name (IANA names,"
            f" e.g. Europe/Berlin, have at most {MAX_ZONE_NAME})"
        )
    known = _python_zones() if _database_zones is None else _database_zones
    if name in known:
        return ZoneInfo(name)
    inside = sorted(z for z in known if z.startswith(f"{name}/"))
    if inside:
        raise TimeZoneError(
            f"timezone: {name!r} is a group of zones, not one: name a zone in it, e.g."
            f" {inside[0]!r}"
        )
    spelt = next((z for z in sorted(known) if z.lower() == name.lower()), None)
    hint = f"; did you mean {spelt!r}?" if spelt else " (e.g. UTC, Europe/Berlin, America/New_York)"
    raise TimeZoneError(
        f"timezone: {name!r} is not an IANA time zone name known to both usageql and"
        f" PostgreSQL{hint}"
    )


def check_instant(argument: str, moment: datetime) -> None:
    """Refuse an instant outside EARLIEST..LATEST with an error naming `argument`."""
    try:
        inside = EARLIEST <= moment <= LATEST
    except OverflowError:  # an offset that moves the instant past Python's years
        inside = False
    if not inside:
        raise TimeRangeError(
            f"{argument}: {moment.isoformat()} is outside the instants usageql handles,"
            f" {_iso(EARLIEST)} to {_iso(LATEST)}"
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


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
    return _calendar_end(start, granularity, tz)


@functools.lru_cache(maxsize=8192)
def _calendar_end(start: datetime, granularity: Granularity, tz: ZoneInfo) -> datetime:
    """The end (UTC) of the local day, week, month, quarter or year starting at `start`,
    remembered: a dashboard's series ask the same few hundred, each a conversion to and from
    the zone (and equal instants have the same end, whatever zone `start` is written in)."""
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
