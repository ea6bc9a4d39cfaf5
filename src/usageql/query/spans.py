"""How many buckets a series can return, counted without listing them, so the query cost
(src/usageql/graphql/cost.py) is known before any SQL runs.

A series has one row per bucket: with gaps filled, the buckets `time.buckets` lists; without,
the buckets SQL groups events into, by the same local calendar units (HOUR: the instant less its
local minutes). Either way a row is a local unit the span touches, so counting those units
bounds both. Zone history bends the count twice (scanned over every IANA zone, 2000 to 2035):

- Clocks step back by up to 3 hours (Antarctica/Casey went from +11 to +08 in 2010, from 02:00
  back to 23:00 of the day before), so an instant just inside either end of a span can sit in
  the unit before the end's own one, or after it. The instants an end's 3 hours can reach are
  looked at; further in, a clock never falls behind where it was 3 hours earlier.
- Six zones stepped by half an hour (Australia/Lord_Howe does twice a year); each such step moves
  the HOUR slots SQL groups by half an hour, which can add one slot.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from usageql.query.model import Granularity
from usageql.query.time import bucket_start

_STEP_BACK = timedelta(hours=3)  # the longest step back of any clock since 2000
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)

# Hours and days in the longest calendar bucket of each granularity.
_HOURS = {Granularity.HOUR: 1, Granularity.DAY: 24, Granularity.WEEK: 168,
          Granularity.MONTH: 744, Granularity.QUARTER: 2208, Granularity.YEAR: 8784}  # fmt: skip
# Units of a finer granularity one calendar bucket can touch: every day of the longest, weeks
# wherever they fall (31 days can touch 6 ISO weeks, 366 days 54), months and quarters aligned.
_UNITS = {
    (Granularity.WEEK, Granularity.DAY): 7, (Granularity.MONTH, Granularity.DAY): 31,
    (Granularity.QUARTER, Granularity.DAY): 92, (Granularity.YEAR, Granularity.DAY): 366,
    (Granularity.MONTH, Granularity.WEEK): 6, (Granularity.QUARTER, Granularity.WEEK): 14,
    (Granularity.YEAR, Granularity.WEEK): 54, (Granularity.QUARTER, Granularity.MONTH): 3,
    (Granularity.YEAR, Granularity.MONTH): 12, (Granularity.YEAR, Granularity.QUARTER): 4,
}  # fmt: skip


def count_buckets(start: datetime, end: datetime, granularity: Granularity, tz: ZoneInfo) -> int:
    """The most rows a series of `granularity` over [start, end) in `tz` can have: exact in
    zones whose clocks do not step back or by half an hour near the span's ends."""
    if start >= end:
        return 0
    last = end - _TICK
    if granularity is Granularity.HOUR:
        slots = math.ceil((end - bucket_start(start, granularity, tz)) / _HOUR)
        if _half_hour_steps(tz):
            slots += 2 * ((end - start).days // 365 + 1)
        return slots
    lowest = min(_local(start, tz), _local_before_step(start, min(start + _STEP_BACK, last), tz))
    highest = max(_local(last, tz), _local_at_step(max(last - _STEP_BACK, start), last, tz))
    return _unit(highest, granularity) - _unit(lowest, granularity) + 1


def most_buckets(parent: Granularity, child: Granularity) -> int:
    """The most rows a `child` series can have inside one bucket of `parent`, wherever that
    bucket falls: the units its longest calendar length touches, plus one for a clock's step
    back over a boundary (HOUR: plus its 3 hours, and one slot for a half-hour step)."""
    if child is Granularity.HOUR:
        return _HOURS[parent] + 3 + 1
    return _UNITS.get((parent, child), 1) + 1


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _step(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The last instant before, and the first after, the change of `tz`'s offset in
    (start, end], to the second; None if it does not change (at most once in 3 hours)."""
    before = start.astimezone(tz).utcoffset()
    if end.astimezone(tz).utcoffset() == before:
        return None
    low, high = start, end
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return low, high


def _local_before_step(start: datetime, end: datetime, tz: ZoneInfo) -> datetime:
    """The lowest local time in [start, end]: at `start`, or just after a step back."""
    step = _step(start, end, tz)
    return _local(start, tz) if step is None else _local(step[1], tz)


def _local_at_step(start: datetime, end: datetime, tz: ZoneInfo) -> datetime:
    """The highest local time in [start, end] up to `end` itself: just before a step back."""
    step = _step(start, end, tz)
    return _local(end, tz) if step is None else _local(step[0], tz)


def _unit(local: datetime, granularity: Granularity) -> int:
    """The index of the calendar unit holding a local time (consecutive units, consecutive
    indexes); ISO weeks count from the Monday that is day 1 of the proleptic calendar."""
    if granularity is Granularity.DAY:
        return local.toordinal()
    if granularity is Granularity.WEEK:
        return (local.toordinal() - 1) // 7
    if granularity is Granularity.MONTH:
        return local.year * 12 + local.month - 1
    if granularity is Granularity.QUARTER:
        return local.year * 4 + (local.month - 1) // 3
    return local.year


@functools.cache
def _half_hour_steps(tz: ZoneInfo) -> bool:
    """Whether `tz`'s offsets since 2000 differ by other than whole hours (one sample a week:
    such offsets last months or years)."""
    moment, remainders = datetime(2000, 1, 1, tzinfo=UTC), set()
    while moment.year < 2040:
        offset = moment.astimezone(tz).utcoffset() or timedelta(0)
        remainders.add(offset % _HOUR)
        moment += timedelta(days=7)
    return len(remainders) > 1
