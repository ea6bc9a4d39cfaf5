"""A period cut into whole UTC days, whole hours and partial hours (usageql.query.pieces, and the
planner's use of it in usageql.query.rollups.days): the pieces tile the period exactly, and no
boundary of the question falls strictly inside a day piece. Checked against plain Python over
seeded random periods, zones and keys, and on the cases a reader can follow by hand."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from usageql.query import pieces, rollups
from usageql.query.model import Granularity, GroupKey, TimeBucket, Windows

H, D = timedelta(hours=1), timedelta(days=1)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_a_period_inside_hours_keeps_its_whole_days_and_reads_only_its_partial_hours() -> None:
    cut = pieces.cut(at(2, 7, 23), at(9, 12, 41), frozenset())
    assert cut.raw == ((at(2, 7, 23), at(2, 8)), (at(9, 12), at(9, 12, 41)))
    assert cut.days == ((at(3), at(9)),)
    assert cut.hours == ((at(2, 8), at(3)), (at(9), at(9, 12)))


def blocked(
    keys: list[TimeBucket] | list[Windows], zone: str, within: pieces.Span
) -> frozenset[datetime] | None:
    return pieces.blocked_days(pieces.boundaries(keys, zone, within))


def test_blocked_days_become_hours_and_the_rest_stay_days() -> None:
    cut = pieces.cut(at(1), at(10), frozenset({at(3), at(4), at(8)}))
    assert cut.days == ((at(1), at(3)), (at(5), at(8)), (at(9), at(10)))
    assert cut.hours == ((at(3), at(5)), (at(8), at(9)))
    assert cut.raw == ()


def test_no_day_at_all_leaves_the_hourly_plan() -> None:
    assert pieces.cut(at(1), at(10), None) == pieces.Pieces(hours=((at(1), at(10)),))
    # Less than a whole day inside: hours and partial hours only.
    cut = pieces.cut(at(1, 10, 30), at(2, 9), frozenset())
    assert cut.days == ()
    assert cut.hours == ((at(1, 11), at(2, 9)),)
    # Inside one hour: raw events only.
    assert pieces.cut(at(1, 10, 5), at(1, 10, 50), frozenset()).raw == (
        (at(1, 10, 5), at(1, 10, 50)),
    )


def test_open_periods() -> None:
    assert pieces.cut(None, None, frozenset()) == pieces.Pieces(days=((None, None),))
    cut = pieces.cut(at(1, 10, 30), None, frozenset({at(5)}))
    assert cut.days == ((at(2), at(5)), (at(6), None))
    assert cut.hours == ((at(1, 11), at(2)), (at(5), at(6)))
    # Days kept inside bounds (when bucket starts had to be listed): the rest from hours.
    cut = pieces.cut(None, None, frozenset(), (pieces.FIRST_DAY, at(3)))
    assert cut.days == ((pieces.FIRST_DAY, at(3)),)
    assert cut.hours == ((None, pieces.FIRST_DAY), (at(3), None))


def test_too_many_runs_fall_back_to_hours() -> None:
    every_other = frozenset(at(1) + 2 * n * D for n in range(pieces.MAX_RUNS))
    cut = pieces.cut(at(1), at(1) + 2 * pieces.MAX_RUNS * D, every_other)
    assert cut.days == ()


def test_local_days_weeks_and_months_block_the_utc_days_they_start_inside() -> None:
    berlin_days = blocked([TimeBucket(Granularity.DAY)], "Europe/Berlin", (at(1), at(5)))
    # Berlin's midnights are 23:00 UTC of the day before (22:00 from 29 March).
    assert berlin_days == frozenset({at(1) - D, at(1), at(2), at(3), at(4)})
    weeks = blocked([TimeBucket(Granularity.WEEK)], "America/New_York", (at(1), at(31)))
    # New York's Mondays start at 05:00 UTC (04:00 from 8 March): inside those UTC Mondays.
    assert weeks == frozenset({at(2) - 7 * D, at(2), at(9), at(16), at(23), at(30)})
    assert blocked([TimeBucket(Granularity.MONTH)], "UTC", (None, None)) == frozenset()
    assert blocked([TimeBucket(Granularity.HOUR)], "UTC", (None, None)) is None
    kolkata = blocked([TimeBucket(Granularity.DAY)], "Asia/Kolkata", (at(1), at(3)))
    assert kolkata == frozenset({at(1) - D, at(1), at(2)})  # 18:30 UTC


def test_windows_block_the_days_their_bounds_fall_inside() -> None:
    windows = Windows(((at(1, 23), at(8, 23)), (at(2), at(9))))
    assert blocked([windows], "UTC", (None, None)) == frozenset({at(1), at(8)})


# The property, over seeded random questions.

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]
GRANULARITIES = [Granularity.DAY, Granularity.WEEK, Granularity.MONTH, Granularity.QUARTER]


def _boundaries(keys: list[GroupKey], zone: str, start: datetime, end: datetime) -> set[datetime]:
    """Every boundary of the keys in [start, end), by plain zoneinfo arithmetic."""
    tz, found = ZoneInfo(zone), set[datetime]()
    for key in keys:
        if isinstance(key, Windows):
            found.update(moment for pair in key.bounds for moment in pair)
        elif isinstance(key, TimeBucket):
            day = (start - 40 * D).astimezone(tz).date()
            while datetime(day.year, day.month, day.day, tzinfo=tz) < end + 40 * D:
                starts = {
                    Granularity.DAY: True,
                    Granularity.WEEK: day.weekday() == 0,
                    Granularity.MONTH: day.day == 1,
                    Granularity.QUARTER: day.day == 1 and day.month % 3 == 1,
                }[key.granularity]
                if starts:
                    found.add(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
                day += D
    return found


def _moment(rng: random.Random) -> datetime:
    moment = at(1, month=1) + timedelta(minutes=rng.randrange(200 * 24 * 60))
    return moment if rng.random() < 0.7 else pieces.floor(moment, rng.choice([H, D]))


@pytest.mark.parametrize("seed", range(300))
def test_pieces_tile_the_period_and_no_boundary_cuts_a_day(seed: int) -> None:
    rng = random.Random(seed)
    start, end = sorted([_moment(rng), _moment(rng)])
    zone = rng.choice(ZONES)
    keys: list[GroupKey] = []
    if rng.random() < 0.7:
        keys.append(TimeBucket(rng.choice(GRANULARITIES)))
    if rng.random() < 0.3:
        ends = [_moment(rng) for _ in range(rng.randrange(1, 6))]
        keys.append(Windows(tuple((moment - rng.choice([D, 7 * D]), moment) for moment in ends)))
    cut = rollups.days(keys, zone, start, end, NOW)
    # They tile [start, end): sorted, each ends where the next starts.
    ordered = sorted([*cut.days, *cut.hours, *cut.raw], key=lambda span: span[0] or start)
    assert (ordered[0][0], ordered[-1][1]) == (start, end), cut
    for (_, first_end), (second_start, _) in itertools.pairwise(ordered):
        assert first_end == second_start, cut
    days = [_bounded(span) for span in cut.days]
    assert all(pieces.floor(moment, D) == moment for span in days for moment in span), cut
    hours = [_bounded(span) for span in cut.hours]
    assert all(pieces.floor(moment) == moment for span in hours for moment in span), cut
    assert all(high - low < H for low, high in cut.raw), cut
    # No boundary strictly inside a day piece (a run of days may hold UTC midnights).
    for boundary in _boundaries(keys, zone, start, end):
        inside = [(low, high) for low, high in days if low < boundary < high]
        assert not inside or boundary == pieces.floor(boundary, D), (boundary, inside)


def _bounded(span: pieces.Span) -> tuple[datetime, datetime]:
    low, high = span
    assert low is not None, span
    assert high is not None, span
    return low, high


def test_an_open_end_stops_where_no_event_can_be_when_bucket_starts_are_listed() -> None:
    weeks = [TimeBucket(Granularity.WEEK)]
    cut = rollups.days(weeks, "Europe/Berlin", at(1, 23, 42), None, NOW)
    # Ingestion refuses events more than a day ahead: the last run ends two days after `now`,
    # so every run is bounded and the straddled days' hours can be listed by their starts.
    assert max(high for _, high in (*cut.days, *cut.hours) if high is not None) == NOW + 2 * D
    assert all(None not in span for span in (*cut.days, *cut.hours)), cut
    # In UTC nothing is listed: the days run on to the end, unbounded, read as one range.
    assert rollups.days(weeks, "UTC", at(2), None, NOW).days == ((at(2), None),)


def test_runs_that_keep_little_of_their_span_are_listed_by_their_starts() -> None:
    straddled = ((at(1), at(2)), (at(8), at(9)), (at(15), at(16)))  # 72 of 360 hours
    listed = rollups.listed_starts(straddled, H)
    assert listed is not None
    assert listed.value == [at(1) + n * H for n in range(24)] + [
        day + n * H for day in (at(8), at(15)) for n in range(24)
    ]
    # One run, an unbounded one, or runs keeping most of their span: a range reads them faster.
    assert rollups.listed_starts(((at(1), at(9)),), H) is None
    assert rollups.listed_starts(((at(1), at(2)), (at(8), None)), H) is None
    assert rollups.listed_starts(((at(1), at(8)), (at(9), at(15))), D) is None
    # More starts than a statement lists: ranges again.
    far = at(1) + (pieces.MAX_LISTED + 10) * 3 * H
    assert (
        rollups.listed_starts(((at(1), at(1) + (pieces.MAX_LISTED + 1) * H), (far, far + H)), H)
        is None
    )


def _may(day: int, month: int = 5) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


def test_a_month_covered_mostly_is_read_less_its_other_days() -> None:
    c = pieces.complemented
    assert c([(_may(3), _may(27))]) == pieces.Pieces(
        months=((_may(1), _may(1, 6)),), less=((_may(1), _may(3)), (_may(27), _may(1, 6)))
    )
    assert c([(_may(3), _may(16))]) == pieces.Pieces(days=((_may(3), _may(16)),))
    # April: 25 of 30 days; May whole; June: 4 days. The months meet: one run.
    assert c([(_may(6, 4), _may(5, 6))]) == pieces.Pieces(
        months=((_may(1, 4), _may(1, 6)),),
        days=((_may(1, 6), _may(5, 6)),),
        less=((_may(1, 4), _may(6, 4)),),
    )
    # Two months covered a little each: days, across the month start.
    assert c([(_may(20, 4), _may(5))]) == pieces.Pieces(days=((_may(20, 4), _may(5)),))
    assert c([(None, _may(20))]) == pieces.Pieces(
        months=((None, _may(1, 6)),), less=((_may(20), _may(1, 6)),)
    )
    assert c([(_may(3), None)]) == pieces.Pieces(
        months=((_may(1), None),), less=((_may(1), _may(3)),)
    )
    assert c([(None, None)]) == pieces.Pieces(months=((None, None),))


@pytest.mark.parametrize("seed", range(5))
def test_months_less_days_plus_days_count_each_day_of_the_runs_once(seed: int) -> None:
    """Counted with signs, the pieces hold every day of the runs once and no other day."""
    rng = random.Random(seed)
    first = datetime(2025, 11, 1, tzinfo=UTC)
    for _ in range(200):
        cuts = sorted(rng.sample(range(200), rng.choice([2, 4, 6])))
        runs = [
            (first + timedelta(days=a), first + timedelta(days=b))
            for a, b in itertools.pairwise(cuts)
        ][::2]
        counted: dict[datetime, int] = {}
        split = pieces.complemented(runs)
        for sign, spans in ((1, split.months), (1, split.days), (-1, split.less)):
            for low, high in spans:
                assert low is not None
                assert high is not None
                day = low
                while day < high:
                    counted[day] = counted.get(day, 0) + sign
                    day += pieces.DAY
        expected = {
            low + timedelta(days=n): 1 for low, high in runs for n in range((high - low).days)
        }
        assert {day: n for day, n in counted.items() if n} == expected, runs
        assert all(n in (0, 1) for n in counted.values()), runs


def test_a_local_day_is_its_utc_day_less_its_last_hours_plus_those_of_the_day_before() -> None:
    days = [TimeBucket(Granularity.DAY)]
    # Berlin in March 2026: midnight at 23:00 UTC, at 22:00 from the 29th (summer time).
    cut = rollups.days(days, "Europe/Berlin", at(26, 7, 30), at(31, 5), NOW, shift=True)
    assert cut.days == ((at(27), at(31)),)
    assert cut.hours == ((at(26, 8), at(27)), (at(31), at(31, 5)))
    assert cut.raw == ((at(26, 7, 30), at(26, 8)),)
    (shift,) = cut.shifts
    assert shift.offset == timedelta(0)
    assert not shift.days
    # Each read once, counted at its own time and taken away from its UTC day's date.
    assert shift.moved == (
        (at(27, 23), at(28)),
        (at(28, 23), at(29)),
        (at(29, 22), at(30)),
        (at(30, 22), at(31)),
    )
    # New York (UTC-4 from 8 March): its day is the UTC day from 04:00, dated there.
    cut = rollups.days(days, "America/New_York", at(26), at(29), NOW, shift=True)
    (shift,) = cut.shifts
    assert (shift.offset, shift.days, cut.days) == (4 * H, ((at(26), at(29)),), ())
    assert shift.moved == tuple((at(d), at(d, 4)) for d in (26, 27, 28))
    assert cut.hours == ()
    # Without `shift` (distinct counts), those days stay hours; in Kolkata (midnight at 18:30
    # UTC) an hour row cannot move whole, so nothing is shifted.
    assert not rollups.days(days, "Europe/Berlin", at(26), at(31), NOW).days
    assert rollups.days(days, "Asia/Kolkata", at(26), at(31), NOW, shift=True).shifts == ()


def _whole_hours(rng: random.Random) -> datetime:
    return pieces.floor(_moment(rng))


@pytest.mark.parametrize("seed", range(300))
def test_shifted_days_count_every_hour_once_in_its_own_bucket(seed: int) -> None:
    """Each whole hour of the period, through every piece that reads it (a day dated at its
    start or shifted, an hour at its own time, a moved hour at its own time and taken away at
    its day's date), adds up
    to +1 in the buckets and windows of its own time and 0 in any other."""
    rng = random.Random(seed)
    start, end = sorted([_moment(rng), _moment(rng)])
    zone = rng.choice(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"])
    keys: list[GroupKey] = []
    if rng.random() < 0.8:
        keys.append(TimeBucket(rng.choice(GRANULARITIES)))
    if rng.random() < 0.3 or not keys:
        ends = [_whole_hours(rng) for _ in range(rng.randrange(1, 6))]
        keys.append(Windows(tuple((moment - rng.choice([D, 7 * D]), moment) for moment in ends)))
    cut = rollups.days(keys, zone, start, end, NOW, shift=True)
    boundaries = sorted(_boundaries(keys, zone, start, end))

    def place(moment: datetime) -> tuple[object, ...]:
        bucket = sum(boundary <= moment for boundary in boundaries)
        windows = [
            tuple(low <= moment < high for low, high in key.bounds)
            for key in keys
            if isinstance(key, Windows)
        ]
        return (bucket, *windows)

    def covers(runs: tuple[pieces.Span, ...], hour: datetime) -> bool:
        return any(
            (low is None or low <= hour) and (high is None or hour < high) for low, high in runs
        )

    hour = pieces.ceil(start)
    while hour + H <= end:
        day = pieces.floor(hour, D)
        net: dict[tuple[object, ...], int] = {}
        for runs, sign, dated in [
            (cut.days, 1, day),
            (cut.hours, 1, hour),
            *((shift.days, 1, day + shift.offset) for shift in cut.shifts),
            *((shift.moved, 1, hour) for shift in cut.shifts),
            *((shift.moved, -1, day + shift.offset) for shift in cut.shifts),
        ]:
            if covers(runs, hour):
                net[place(dated)] = net.get(place(dated), 0) + sign
        assert {k: v for k, v in net.items() if v} == {place(hour): 1}, (hour, cut)
        hour += H
    # Shifted days are whole UTC days.
    for low, high in (_bounded(run) for shift in cut.shifts for run in shift.days):
        assert pieces.floor(low, D) == low
        assert pieces.floor(high, D) == high
