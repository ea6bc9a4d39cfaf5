"""A question's period cut into pieces that tile it exactly: whole UTC months, whole UTC days,
whole UTC hours and the partial hours at its ends.

Distinct counts are not additive, but sets are (principle 7): each piece is read from the
coarsest structure that holds it whole (a daily rollup for the days, an hourly one for the other
whole hours, raw events for the partial hours), and the rows of all pieces are unioned before any
aggregate runs. Every event is in exactly one piece, so sums stay exact, and a distinct count is
the size of the union of the pieces' sets of ids.

A UTC day can be one piece only when no boundary of the question falls strictly inside it: its
`from` and `to`, the start and end of each time bucket in the question's time zone, of each
rolling window, of each narrowed bucket. A day row then lies wholly inside every bucket and
window the compiler sorts it into by its start, as an hour row does. Local days that are not UTC
days (Europe/Berlin's start at 23:00 or 22:00 UTC) take their hours as pieces; a Berlin week
keeps its whole UTC days and takes the hours of the two it straddles. For distinct users alone,
hours that begin or end a UTC day are one piece too (day_ends), read from the day's set of users
by the hours of day of each member's first and last message: a Berlin week's first 22 or 23
hours of the UTC day it ends in, a Berlin day's 22 or 23 hours of its UTC day.

A UTC month is one piece only where no boundary of the question can fall inside it: for a
question without windows whose only time buckets are months, quarters or years (a period, all
time, monthly active users in UTC; a Berlin month starts inside a UTC day, which is then no day
piece, so its months are never whole). Lists over all time (users by requests, each user's tags)
read a row per key and month instead of one per key and day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from usageql.query.model import Granularity, GroupKey, TimeBucket, Windows
from usageql.query.time import bucket_end, bucket_start

_UTC = ZoneInfo("UTC")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIRST_DAY = datetime(2000, 1, 1, tzinfo=UTC)
"""No event is older (ingestion refuses earlier timestamps): where days are listed from when a
question's period has no start. Anything before it would come from the hourly tables."""
MAX_BOUNDARIES = 1000
"""Bucket boundaries looked at before giving up on days (a daily series over years in a zone
whose days are not UTC days has no whole UTC day anyway)."""
LOOKBACK = timedelta(days=400)
"""How far back days are listed for a period without a start when bucket starts must be listed
(weeks in Berlin): older hours come from the hourly tables."""
MAX_RUNS = 128
"""Runs of days and hours a statement may list (a year of Berlin weeks is 105); beyond, the
hourly tables answer alone."""
MAX_LISTED = 4096
"""Row starts a statement may list as `= ANY(...)` in place of its runs' ranges (moved hours of
shifted days, rollups.listed_starts)."""

Span = tuple[datetime | None, datetime | None]
"""[start, end); None: unbounded on that side."""
KeyValue = str | datetime | None


@dataclass(frozen=True, slots=True)
class Pieces:
    """Where each part of a period is read from; together they tile it."""

    months: tuple[Span, ...] = ()  # runs of whole UTC months: a monthly table
    days: tuple[Span, ...] = ()  # runs of whole UTC days: a daily table
    hours: tuple[Span, ...] = ()  # runs of whole UTC hours: an hourly table
    raw: tuple[tuple[datetime, datetime], ...] = ()  # partial hours: raw events
    # Days of `months` outside the period, taken away from sums (complemented); then the months
    # and these days lie partly outside the period, so their rows are dated `inside` it (read
    # only without a time key: has_time_key).
    less: tuple[Span, ...] = ()
    inside: datetime | None = None
    # Parts of UTC days from their start or to their end (bounded, within one day each): read
    # from the day's set of users by the hours of day of each member's first and last message
    # (distinct users only: day_ends).
    ends: tuple[tuple[datetime, datetime], ...] = ()
    # UTC days read whole although a boundary falls inside them (sums only: shifted).
    shifts: tuple[Shift, ...] = ()
    # The daily and monthly tables hold the days before it only (None: every day): later days
    # are not compacted yet (usageql.db.compacted), so their hours are read.
    compacted: datetime | None = None


@dataclass(frozen=True, slots=True)
class Shift:
    """UTC days a boundary of the question cuts (at whole hours), read whole for sums: each
    dated `offset` after its start, in its longest part; the hours of its other parts (`moved`)
    are read once from an hourly table and counted twice: at their own time, and taken away
    where their day is dated (`offset` after the start of their UTC day). Days of offset 0 are
    dated at their start, as Pieces.days are, and are listed there."""

    offset: timedelta
    days: tuple[Span, ...] = ()
    moved: tuple[tuple[datetime, datetime], ...] = ()


def floor(moment: datetime, unit: timedelta = HOUR) -> datetime:
    """The start of the UTC hour (or day) holding `moment`."""
    moment = moment.astimezone(UTC)
    if unit == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil(moment: datetime, unit: timedelta = HOUR) -> datetime:
    """The first UTC hour (or day) start at or after `moment`."""
    start = floor(moment, unit)
    return start if start == moment else start + unit


def period(
    bounds: Span,
    timezone: str,
    keys: Sequence[GroupKey],
    narrow_keys: Sequence[GroupKey],
    narrow_values: Sequence[tuple[KeyValue, ...]],
) -> Span:
    """The part of `bounds` (its filter's from and to) a question can count anything in: also
    inside its rolling windows and its narrowed buckets, when it has them."""
    spans: list[Span] = [bounds]
    for key in keys:
        if isinstance(key, Windows) and key.bounds:
            spans.append((min(s for s, _ in key.bounds), max(e for _, e in key.bounds)))
    for position, key in enumerate(narrow_keys):
        if isinstance(key, TimeBucket):
            starts = [v for values in narrow_values if isinstance(v := values[position], datetime)]
            if starts:
                tz = ZoneInfo(timezone)
                last = max(bucket_end(moment, key.granularity, tz) for moment in starts)
                spans.append((min(starts), last))
    return _latest([s for s, _ in spans]), _earliest([e for _, e in spans])


def _latest(moments: Iterable[datetime | None]) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _earliest(moments: Iterable[datetime | None]) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def boundaries(keys: Sequence[GroupKey], timezone: str, within: Span) -> frozenset[datetime] | None:
    """The boundaries of the question's time buckets and windows that fall strictly inside a
    UTC day, over `within` (bounded); None when every day holds one, or too many to list."""
    found: set[datetime] = set()
    for key in keys:
        if isinstance(key, Windows):
            moments: Iterable[datetime] = [moment for pair in key.bounds for moment in pair]
        elif isinstance(key, TimeBucket):
            listed = _bucket_boundaries(key.granularity, timezone, within)
            if listed is None:
                return None
            moments = listed
        else:
            continue
        found.update(moment for moment in moments if floor(moment, DAY) != moment)
    return frozenset(found)


def blocked_days(moments: frozenset[datetime] | None) -> frozenset[datetime] | None:
    """The UTC days (by their start) that one of `moments` (boundaries) falls inside."""
    return None if moments is None else frozenset(floor(moment, DAY) for moment in moments)


def _bucket_boundaries(
    granularity: Granularity, timezone: str, within: Span
) -> list[datetime] | None:
    """Where buckets of `granularity` start in `timezone`, over `within`; None: too many."""
    if granularity is Granularity.HOUR:
        return None  # a boundary inside every day
    if utc_days(timezone):
        return []  # local days are UTC days: every bucket starts at a UTC midnight
    start, end = within
    if start is None or end is None:
        raise ValueError("buckets are listed over a bounded span")
    tz = ZoneInfo(timezone)
    found = []
    moment = bucket_start(start, granularity, tz)
    while moment < end:
        found.append(moment)
        if len(found) > MAX_BOUNDARIES:
            return None
        moment = bucket_end(moment, granularity, tz)
    return found


@cache
def utc_days(name: str) -> bool:
    """Whether `name` kept offset 0 every day from 2000 to 2100, so its local days, weeks and
    months start at UTC midnights."""
    tz = ZoneInfo(name)
    day = FIRST_DAY
    while day.year < 2100:
        offset = day.astimezone(tz).utcoffset()
        if offset is None or offset.total_seconds():
            return False
        day += timedelta(days=7)
    return True


def needs_listing(keys: Sequence[GroupKey], timezone: str) -> bool:
    """Whether finding the blocked days means listing bucket starts over the period (which then
    needs bounds: days are kept between FIRST_DAY and just after `now`)."""
    return any(
        isinstance(key, TimeBucket)
        and key.granularity is not Granularity.HOUR
        and not utc_days(timezone)
        for key in keys
    )


def cut(
    start: datetime | None,
    end: datetime | None,
    blocked: frozenset[datetime] | None,
    days_within: Span = (None, None),
) -> Pieces:
    """[start, end) as runs of whole UTC days not in `blocked` (None: no day at all), kept
    inside `days_within`, then runs of the remaining whole hours, then the partial hours."""
    if start is not None and end is not None and floor(end) <= ceil(start):
        return Pieces(raw=((start, end),) if start < end else ())  # no whole hour inside
    first = None if start is None else ceil(start)
    last = None if end is None else floor(end)
    raw = []
    if start is not None and first is not None and start != first:
        raw.append((start, first))
    if end is not None and last is not None and end != last:
        raw.append((last, end))
    hours_only = Pieces(hours=((first, last),), raw=tuple(raw))
    if blocked is None:
        return hours_only
    low = _latest([None if first is None else ceil(first, DAY), days_within[0]])
    high = _earliest([None if last is None else floor(last, DAY), days_within[1]])
    days = _runs(low, high, blocked)
    hours = _gaps(first, last, days)
    if not days or len(days) + len(hours) > MAX_RUNS:
        return hours_only
    return Pieces(days=tuple(days), hours=tuple(hours), raw=tuple(raw))


def day_ends(cut: Pieces, moments: frozenset[datetime]) -> Pieces:
    """`cut` with the parts of its runs of hours that are the first or the last hours of a UTC
    day (cut at UTC midnights and at `moments`, the question's boundaries) as `ends`: for
    distinct users only, read from the day's set with each member's first and last hour of the
    day (a Berlin week takes the first 23 hours of the UTC day it ends in so, and the last hour
    of the day it starts in). Even one hour is cheaper so than from an hourly table's rows, a
    row per user and hour joined to the users' numbers: the Berlin weeks' last hours of each
    Sunday (9 Sundays, ~6,600 hourly rows of user-agent tags at 10M events) took the overview's
    weekly users per tag 45 ms, from the Sundays' set rows 36 ms (same rows; medians of 15,
    alternately). Runs unbounded stay hours, and all of them where more than MAX_BOUNDARIES
    boundaries would cut days into ends."""
    hours: list[Span] = []
    ends: list[tuple[datetime, datetime]] = []
    for low, high in cut.hours:
        if low is None or high is None:
            hours.append((low, high))
            continue
        for start, end in _segments(low, high, moments):
            day = floor(start, DAY)
            at_start, at_end = start == day, end == day + DAY
            kept = cut.compacted is None or day + DAY <= cut.compacted
            if kept and at_start != at_end:
                ends.append((start, end))
            else:
                hours.append((start, end))
    if not ends or len(ends) > 2 * MAX_BOUNDARIES:  # a boundary cuts its day into two ends
        return cut  # none, or a period reaching years before the days kept (FIRST_DAY)
    return replace(cut, hours=tuple(_joined(hours)), ends=tuple(ends))


def _segments(
    low: datetime, high: datetime, moments: frozenset[datetime]
) -> list[tuple[datetime, datetime]]:
    """[low, high) cut at UTC midnights and at `moments`."""
    cuts = {moment for moment in moments if low < moment < high}
    midnight = floor(low, DAY) + DAY
    while midnight < high:
        cuts.add(midnight)
        midnight += DAY
    segments = []
    cursor = low
    for moment in sorted(cuts):
        segments.append((cursor, moment))
        cursor = moment
    segments.append((cursor, high))
    return segments


MAX_MOVED = 8
"""The most hours of a UTC day cut by a boundary moved where the day is read whole (shifted):
its day row and twice 8 hours' rows are still fewer than its 24 hours' rows."""


def shifted(cut: Pieces, moments: frozenset[datetime], days_within: Span = (None, None)) -> Pieces:
    """`cut` with the UTC days its runs of hours hold whole (inside `days_within`, where the
    boundaries `moments` are known) read as days where the boundaries inside each leave all but
    MAX_MOVED of its hours in one part: for sums only, which take away exactly (Shift). A Berlin
    day is then its UTC day dated at its start, less its last hour or two, plus the last hour or
    two of the UTC day before; a New York day its UTC day dated at 05:00 (04:00 in summer), less
    its first five hours, plus the first five of the next."""
    days = list(cut.days)
    hours: list[Span] = []
    shifts: dict[timedelta, tuple[list[Span], list[tuple[datetime, datetime]]]] = {}
    low_clip, high_clip = days_within
    for low, high in cut.hours:
        if low is None or high is None:
            hours.append((low, high))
            continue
        cursor = low
        day = ceil(low, DAY) if low_clip is None else max(ceil(low, DAY), low_clip)
        while day + DAY <= high and (high_clip is None or day + DAY <= high_clip):
            parts = _segments(day, day + DAY, moments)
            longest = max(parts, key=lambda part: part[1] - part[0])
            on_hours = all(floor(start) == start for start, _ in parts)  # rows move whole
            if on_hours and DAY - (longest[1] - longest[0]) <= MAX_MOVED * HOUR:
                moved = [part for part in parts if part != longest]
                if cursor < day:
                    hours.append((cursor, day))
                runs, others = shifts.setdefault(longest[0] - day, ([], []))
                (days if longest[0] == day else runs).append((day, day + DAY))
                others.extend(moved)
                cursor = day + DAY
            day += DAY
        if cursor < high:
            hours.append((cursor, high))
    if not shifts:
        return cut
    found = tuple(
        Shift(offset, tuple(_joined(runs)), tuple(others))
        for offset, (runs, others) in sorted(shifts.items())
    )
    result = replace(cut, days=tuple(_joined(days)), hours=tuple(_joined(hours)), shifts=found)
    # The moved hours are read by their starts (a bound array), not as ranges.
    ranges = len(result.days) + len(result.hours) + sum(len(shift.days) for shift in found)
    listed = sum((high - low for shift in found for low, high in shift.moved), timedelta())
    return cut if ranges > MAX_RUNS or listed > MAX_LISTED * HOUR else result


MONTHLY_BUCKETS = frozenset({Granularity.MONTH, Granularity.QUARTER, Granularity.YEAR})
"""Buckets that start on the first of a local month."""


def months_allowed(keys: Sequence[GroupKey]) -> bool:
    """Whether a question grouped or narrowed by `keys` can read whole UTC months from its runs
    of days. A boundary strictly inside a UTC day already took that day out of them
    (blocked_days); a boundary at a UTC midnight inside a month can only be a window's or a
    day's or week's bucket. A month, quarter or year starts on the first of a local month: at a
    UTC midnight only where that is the first of the UTC month too (in UTC every time; in Berlin
    never, at 22:00 or 23:00 UTC)."""
    return not any(
        isinstance(key, Windows)
        or (isinstance(key, TimeBucket) and key.granularity not in MONTHLY_BUCKETS)
        for key in keys
    )


def with_months(pieces: Pieces) -> Pieces:
    """`pieces` with the whole UTC months inside its runs of days taken out of them as runs of
    months (the days before and after each stay days, in order)."""
    months: list[Span] = []
    days: list[Span] = []
    for low, high in pieces.days:
        first = None if low is None else _month_at_or_after(low)
        last = None if high is None else bucket_start(high, Granularity.MONTH, _UTC)
        if first is not None and last is not None and last <= first:
            days.append((low, high))
            continue
        months.append((first, last))
        if low is not None and first is not None and low < first:
            days.append((low, first))
        if high is not None and last is not None and last < high:
            days.append((last, high))
    return replace(pieces, months=tuple(months), days=tuple(days))


def complemented(runs: Sequence[Span], compacted: datetime | None = None) -> Pieces:
    """`runs` (of whole UTC days) with each UTC month they cover more than half of read as the
    month less its other days, so a period of the last 30 days reads a month and a day or two
    instead of 30 days. Whole months are read whole (with_months). For counts that add up (a
    month's rows are its days' rows added up), the months' counts, less those of `less`, plus
    those of `days`, are the runs' counts. A month that ends after `compacted` has no rows yet:
    its days stay days."""
    split = with_months(Pieces(days=tuple(runs)))
    months = list(split.months)
    days: list[Span] = []
    less: list[Span] = []
    by_month: dict[datetime, list[tuple[datetime, datetime]]] = {}
    for low, high in split.days:  # bounded (with_months), within two months
        if low is None or high is None:
            days.append((low, high))
            continue
        cursor = low
        while cursor < high:  # cut at month starts
            month = bucket_start(cursor, Granularity.MONTH, _UTC)
            cut = min(high, bucket_end(month, Granularity.MONTH, _UTC))
            by_month.setdefault(month, []).append((cursor, cut))
            cursor = cut
    for month, inside in sorted(by_month.items()):
        end = bucket_end(month, Granularity.MONTH, _UTC)
        covered = sum((high - low for low, high in inside), timedelta())
        if covered * 2 <= end - month or (compacted is not None and end > compacted):
            days.extend(inside)
            continue
        months.append((month, end))
        less.extend(_gaps(month, end, sorted(inside)))
    return Pieces(tuple(_joined(months)), tuple(_joined(days)), less=tuple(less))


def has_time_key(keys: Sequence[GroupKey]) -> bool:
    """Whether a row's time decides its group: a time bucket or a window among `keys`."""
    return any(isinstance(key, TimeBucket | Windows) for key in keys)


def less_days(cut: Pieces) -> Pieces:
    """`cut` with its days read as months less their other days where that reads fewer rows
    (complemented): for sums only, which take away exactly."""
    split = complemented(cut.days, cut.compacted)
    if not split.less:
        return with_months(cut)
    low, high = cut.days[0]
    inside = low if low is not None else FIRST_DAY if high is None else high - DAY
    return replace(
        cut,
        months=split.months,
        days=split.days,
        less=split.less,
        inside=inside,
        ends=(),
        shifts=(),
    )


def _joined(runs: list[Span]) -> list[Span]:
    """`runs` sorted, with runs that meet made one."""
    ordered = sorted(runs, key=lambda run: (run[0] is not None, run[0] or FIRST_DAY))
    joined: list[Span] = []
    for low, high in ordered:
        if joined and joined[-1][1] is not None and joined[-1][1] == low:
            joined[-1] = (joined[-1][0], high)
        else:
            joined.append((low, high))
    return joined


def _month_at_or_after(moment: datetime) -> datetime:
    """The first UTC month start at or after `moment`."""
    start = bucket_start(moment, Granularity.MONTH, _UTC)
    return start if start == moment else bucket_end(start, Granularity.MONTH, _UTC)


def _runs(low: datetime | None, high: datetime | None, blocked: frozenset[datetime]) -> list[Span]:
    """Runs of days in [low, high) without the blocked ones."""
    if low is not None and high is not None and high <= low:
        return []
    runs: list[Span] = []
    cursor = low
    for day in sorted(blocked):
        if (low is not None and day < low) or (high is not None and day >= high):
            continue
        if cursor is None or cursor < day:
            runs.append((cursor, day))
        cursor = day + DAY
    if cursor is None or high is None or cursor < high:
        runs.append((cursor, high))
    return runs


def _gaps(first: datetime | None, last: datetime | None, runs: list[Span]) -> list[Span]:
    """The parts of [first, last) outside `runs` (sorted, inside it)."""
    gaps: list[Span] = []
    cursor = first
    for low, high in runs:
        if low is not None and (cursor is None or cursor < low):
            gaps.append((cursor, low))
        cursor = high
    if cursor is not None and (last is None or cursor < last):
        gaps.append((cursor, last))
    return gaps
