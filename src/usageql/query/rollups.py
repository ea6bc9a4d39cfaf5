"""When the hourly rollups answer a question exactly, and the relation they answer it from.

A question can be answered from a rollup table when every dimension it groups, narrows or filters
by is a key of that table (tags only when grouped or narrowed by: the tag table holds a message
once per tag), every metric is a sum, a maximum or a distinct count of those keys, and
every time boundary it uses falls on a whole UTC hour: calendar buckets in zones whose offset is a
whole number of hours (local days in Europe/Berlin yes, in Asia/Kolkata no), hourly windows. A
`from` or `to` inside an hour is fine: the whole hours between them come from the rollup and the
partial hours at the edges from raw events, each event shaped like a rollup row of its own. Where a
daily rollup answers too, the UTC days that no boundary of the question falls inside come from it
and only the other whole hours from its hourly partner (usageql.query.pieces); where a monthly
one answers and no time bucket or window can cut a month, whole UTC months come from it. Distinct
users alone read their days from sets of user numbers where no whole month is read
(usageql.query.user_sets). The compiler then reads this relation instead of `messages`, each
metric's aggregate over its rows (usageql.query.catalog).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    Subquery,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from usageql.db.measures import MEASURES, Merge
from usageql.db.tables import (
    apps,
    messages,
    usage_daily,
    usage_daily_apps,
    usage_daily_tag_user_sets,
    usage_daily_tag_users,
    usage_daily_tags,
    usage_daily_user_sets,
    usage_daily_users,
    usage_hourly,
    usage_hourly_apps,
    usage_hourly_chats,
    usage_hourly_models,
    usage_hourly_tags,
    usage_monthly_tag_users,
    usage_monthly_users,
)
from usageql.query import pieces
from usageql.query.catalog import DIMENSIONS, METRICS, answered_by
from usageql.query.model import (
    Dimension,
    Filter,
    GroupKey,
    MetadataKey,
    Metric,
    Question,
    Source,
    TimeBucket,
    Windows,
)

m = messages.c


@dataclass(frozen=True, slots=True)
class RollupTable:
    """A rollup table, the dimensions it is keyed by and the metrics it answers."""

    table: Table
    dimensions: frozenset[Dimension]
    time: str = "hour"  # its time column: the start of each row's UTC hour (or day, or month)

    @property
    def metrics(self) -> frozenset[Metric]:
        """The metrics whose aggregate reads only this table's columns (keys and measures)."""
        return _ANSWERED[self.table.name]

    @property
    def keys(self) -> list[str]:
        """Its key columns but the app and the time."""
        return [
            c.name for c in self.table.primary_key.columns if c.name not in ("app_id", self.time)
        ]

    def answers(self, dimensions: set[Dimension], metrics: frozenset[Metric]) -> bool:
        """Whether its rows hold every dimension and metric asked for. A table keyed by tag
        holds a message once per tag: exact only for questions keyed by tag (each event counted
        once per tag, as grouping by tag counts raw events), never for one without."""
        per_tag = Dimension.TAG in self.dimensions
        if per_tag and Dimension.TAG not in dimensions:
            return False
        return dimensions <= self.dimensions and metrics <= self.metrics


TABLES = (
    RollupTable(usage_hourly_apps, frozenset({Dimension.APP})),
    RollupTable(usage_hourly_models, frozenset({Dimension.APP, Dimension.MODEL})),
    RollupTable(
        usage_hourly,
        frozenset(
            {
                Dimension.APP,
                Dimension.MODEL,
                Dimension.PROVIDER,
                Dimension.SOURCE,
                Dimension.ROLE,
                Dimension.STATUS,
            }
        ),
    ),
    RollupTable(
        usage_hourly_chats,
        frozenset({Dimension.APP, Dimension.CHAT, Dimension.USER, Dimension.MODEL}),
    ),
    # A message is in one row per tag (see RollupTable.answers).
    RollupTable(
        usage_hourly_tags,
        frozenset({Dimension.APP, Dimension.TAG, Dimension.USER, Dimension.MODEL}),
    ),
)
HOURLY_APPS, _, HOURLY, HOURLY_CHATS, HOURLY_TAGS = TABLES


@dataclass(frozen=True, slots=True)
class DailyTable:
    """A daily rollup, the hourly one its period's other whole hours come from (which has every
    key it has), and the monthly one its whole months come from, when there is one (with the
    same keys)."""

    daily: RollupTable
    hourly: RollupTable
    monthly: RollupTable | None = None


# Distinct users alone, from the daily sets of user numbers (usageql.query.user_sets): a row per
# day (and tag) instead of one per user; they answer nothing else.
USER_SETS = (
    DailyTable(RollupTable(usage_daily_user_sets, frozenset({Dimension.APP}), "day"), HOURLY_CHATS),
    DailyTable(
        RollupTable(usage_daily_tag_user_sets, frozenset({Dimension.APP, Dimension.TAG}), "day"),
        HOURLY_TAGS,
    ),
)
_SET_NAMES = frozenset(pair.daily.table.name for pair in USER_SETS)
# Then smallest first (rows per day at 1M events: ~5, ~30, ~160, ~770, ~1,850). Users and tags are
# kept per day without model: the dashboards ask distinct users over a period, per tag too, never
# per model and day (a third of the rows); tags alone serve the tag lists ordered by requests.
DAILY = (
    *USER_SETS,
    DailyTable(RollupTable(usage_daily_apps, HOURLY_APPS.dimensions, "day"), HOURLY_APPS),
    DailyTable(
        RollupTable(usage_daily_tags, frozenset({Dimension.APP, Dimension.TAG}), "day"),
        HOURLY_TAGS,
    ),
    DailyTable(RollupTable(usage_daily, HOURLY.dimensions, "day"), HOURLY),
    DailyTable(
        RollupTable(usage_daily_users, frozenset({Dimension.APP, Dimension.USER}), "day"),
        HOURLY_CHATS,
        RollupTable(usage_monthly_users, frozenset({Dimension.APP, Dimension.USER}), "month"),
    ),
    DailyTable(
        RollupTable(
            usage_daily_tag_users,
            frozenset({Dimension.APP, Dimension.TAG, Dimension.USER}),
            "day",
        ),
        HOURLY_TAGS,
        RollupTable(
            usage_monthly_tag_users,
            frozenset({Dimension.APP, Dimension.TAG, Dimension.USER}),
            "month",
        ),
    ),
)
_ANSWERED = {
    rollup.table.name: (
        frozenset({Metric.USERS})
        if rollup.table.name in _SET_NAMES
        else answered_by(rollup.table.c.keys())
    )
    for rollup in (
        *TABLES,
        *(pair.daily for pair in DAILY),
        *(pair.monthly for pair in DAILY if pair.monthly is not None),
    )
}
_UNITS = {"hour": pieces.HOUR, "day": pieces.DAY}
LIVE = "messages"
"""The measure every event adds to (each is a message): where days are taken away from months,
a group whose sum of it is 0 had no event in the period, and is left out (compile)."""
# A rollup key column's value in a row of `messages` (the unnested tag for `tag`).
_RAW_KEYS = {str(column.key): column for column in DIMENSIONS.values()}


@dataclass(frozen=True, slots=True)
class Plan:
    """Answer from `rollup` (hourly) over `pieces`: its days from `daily` and its months from
    `monthly`, when there are."""

    rollup: RollupTable
    pieces: pieces.Pieces
    daily: RollupTable | None = None
    monthly: RollupTable | None = None

    @property
    def raw_ranges(self) -> list[tuple[datetime, datetime]]:
        """The partial hours at the edges, read from raw events."""
        return list(self.pieces.raw)

    @property
    def reads_sets(self) -> bool:
        """Whether its days come from a table of user sets (usageql.query.user_sets)."""
        return self.daily is not None and self.daily.table.name in _SET_NAMES


def plan(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
    *,
    now: datetime | None = None,
    compacted: datetime | None = None,
) -> Plan | None:
    """The rollups that answer this exactly, if some do; `now` bounds the days listed for a
    period without an end; the daily tables hold the days before `compacted` (None: all)."""
    keys = (*narrow_keys, *question.group_by)
    filtered = {dimension for dimension, _ in filter.values}
    if not _rows_answer(question, filter, keys, filtered):
        return None
    if not _on_whole_hours(keys, timezone, narrow_values):
        return None
    start, end = pieces.period(
        (filter.start, filter.end), timezone, keys, narrow_keys, narrow_values
    )
    hours = pieces.cut(start, end, None)
    if not hours.hours:
        return None  # no whole hour inside: raw events are as quick
    dimensions = filtered | {key for key in keys if isinstance(key, Dimension)}
    span = (start, end)
    over_days = _daily_plan(question, dimensions, keys, timezone, span, clock=(now, compacted))
    if over_days is not None:
        return over_days
    for rollup in TABLES:
        if rollup.answers(dimensions, question.metrics):
            return Plan(rollup, hours)
    return None


def _daily_plan(
    question: Question,
    dimensions: set[Dimension],
    keys: Sequence[GroupKey],
    timezone: str,
    span: pieces.Span,
    *,
    clock: tuple[datetime | None, datetime | None],
) -> Plan | None:
    """The plan reading the days of `span` from the first daily table that answers, if one
    does and some day is whole (or, for distinct users alone, some first or last hours of a
    day are long enough to be read from the days' rows of users)."""
    now, compacted = clock
    moment = now or datetime.now(UTC)
    cuts: dict[bool, pieces.Pieces] = {}  # with day ends (distinct users alone) or without
    sums = all(METRICS[metric].additive for metric in question.metrics)

    def cut_of(ends: bool) -> pieces.Pieces:
        if ends not in cuts:
            shift = sums and not ends
            cuts[ends] = days(
                keys, timezone, *span, moment, ends=ends, shift=shift, compacted=compacted
            )
        return cuts[ends]

    for pair in DAILY:
        if not pair.daily.answers(dimensions, question.metrics):
            continue
        if pair.daily.table.name in _SET_NAMES:
            # The first and last hours of days from the days' rows of users, even where no
            # day is whole (a Berlin day is the last hour of one UTC day and the first 23 of
            # the next); the days are the same with or without them.
            ends = cut_of(True)
            if _months_over_sets(ends, keys, moment):
                continue  # a user's row per month is fewer than their days in sets
            if ends.days or ends.ends:
                return Plan(pair.hourly, ends, pair.daily)
        cut = cut_of(False)
        if not cut.days and not cut.shifts:
            return None  # the same boundaries leave no day to any daily table
        hourly = _hours_of(pair, dimensions, question.metrics)
        return _from_days(pair, cut, keys, question.metrics, hourly)
    return None


def _hours_of(
    pair: DailyTable, dimensions: set[Dimension], metrics: frozenset[Metric]
) -> RollupTable:
    """The hourly table a plan over `pair`'s days reads its other hours from: the narrowest
    that answers, among those keyed by no more than `pair`'s (a per-model series in Berlin reads
    the hours its days leave from the models' hours, not from every provider's, source's,
    role's and status's). Its missing keys are NULL in the rows (rows_of): the question asks none
    of them."""
    if pair.daily.table.name in _SET_NAMES:
        return pair.hourly
    for rollup in TABLES:
        if rollup.dimensions <= pair.hourly.dimensions and rollup.answers(dimensions, metrics):
            return rollup
    return pair.hourly


MONTHS_OVER_SETS = 2
"""How many times the period's other days its whole UTC months must hold (counted up to now) for
distinct users to be read from a monthly table's row per user and month rather than from day
sets: the month's rows replace its days' sets, but the other days are then read as a row per
user and day, which costs more than a day's set (the overview's users over the 30 days before a
whole, empty, month: 76,105 rows against 30 sets)."""


def _months_over_sets(cut: pieces.Pieces, keys: Sequence[GroupKey], now: datetime) -> bool:
    """Whether a monthly table reads whole UTC months for most of `cut`'s days, so that a
    user's row per month is fewer than their days in sets (a period without a start: always)."""
    if not pieces.months_allowed(keys):
        return False
    split = pieces.with_months(cut)
    if not split.months:
        return False
    horizon = pieces.floor(now, pieces.DAY) + pieces.DAY

    def days_in(runs: Sequence[pieces.Span]) -> float:
        total = 0
        for low, high in runs:
            if low is None:
                return math.inf
            end = horizon if high is None else min(high, horizon)
            total += max(0, (end - low) // pieces.DAY)
        return total

    return days_in(split.months) >= MONTHS_OVER_SETS * days_in(split.days)


def _from_days(
    pair: DailyTable,
    cut: pieces.Pieces,
    keys: Sequence[GroupKey],
    metrics: Iterable[Metric],
    hourly: RollupTable,
) -> Plan:
    """The plan reading `cut`'s days from `pair`, and the whole months among them from its
    monthly table where no bucket or window of `keys` can cut a month. Sums with no time key
    read a month that is mostly the period's days as the month less its other days (a month
    of a user list: a row per user, less the rows of a day or two, instead of 30 days of rows)."""
    if pair.monthly is not None and pieces.months_allowed(keys) and not cut.shifts:
        additive = all(METRICS[metric].additive for metric in metrics)
        subtract = additive and not pieces.has_time_key(keys)
        cut = pieces.less_days(cut) if subtract else pieces.with_months(cut)
        if cut.months:
            return Plan(hourly, cut, pair.daily, pair.monthly)
    return Plan(hourly, cut, pair.daily)


def plans(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
    *,
    now: datetime | None = None,
    compacted: datetime | None = None,
) -> tuple[tuple[frozenset[Metric], Plan | None], ...]:
    """The question's metrics in parts, each with the plan that answers it (None: raw events):
    one part, unless no daily table answers them all while each of several does for some
    (distinct users and distinct models together: a month of the hourly users table against a
    month of two daily ones). Each part is exact, so their rows, joined by key, are the
    answer."""
    now = now or datetime.now(UTC)
    clock = {"now": now, "compacted": compacted}
    whole = plan(question, filter, timezone, narrow_keys, narrow_values, **clock)
    if whole is None or len(question.metrics) < 2:
        return ((question.metrics, whole),)
    if whole.daily is not None:
        scoped = (filter, timezone, narrow_keys, narrow_values)
        return _users_apart(question, whole, scoped, (now, compacted))
    parts: dict[str, set[Metric]] = {}
    for metric in sorted(question.metrics, key=lambda metric: metric.value):
        one = replace(question, metrics=frozenset({metric}))
        alone = plan(one, filter, timezone, narrow_keys, narrow_values, **clock)
        if alone is None or alone.daily is None:
            return ((question.metrics, whole),)
        parts.setdefault(alone.daily.table.name, set()).add(metric)
    keys = (*narrow_keys, *question.group_by)
    dimensions = {dimension for dimension, _ in filter.values} | {
        key for key in keys if isinstance(key, Dimension)
    }
    # A part moves into a larger table's part when that table answers both (sums ride along).
    tables = [pair.daily for pair in DAILY if pair.daily.table.name in parts]
    for position, small in enumerate(tables):
        for large in tables[position + 1 :]:
            merged = frozenset(parts[small.table.name] | parts[large.table.name])
            if large.answers(dimensions, merged):
                parts[large.table.name] = set(merged)
                del parts[small.table.name]
                break
    found: list[tuple[frozenset[Metric], Plan | None]] = []
    for metrics in parts.values():
        part = replace(question, metrics=frozenset(metrics))
        chosen = plan(part, filter, timezone, narrow_keys, narrow_values, **clock)
        if chosen is None or len(parts) < 2:
            return ((question.metrics, whole),)
        found.append((part.metrics, chosen))
    return tuple(found)


def _users_apart(
    question: Question,
    whole: Plan,
    scoped: tuple[Filter, str, tuple[GroupKey, ...], Sequence[tuple[str | datetime | None, ...]]],
    clock: tuple[datetime, datetime | None],
) -> tuple[tuple[frozenset[Metric], Plan | None], ...]:
    """Distinct users from a table of user sets and the other metrics from the smallest daily
    table that answers them, where both do: a day's set of users and a sum per day (and tag)
    are fewer rows than a row per user and day. Otherwise `whole`."""
    if Metric.USERS not in question.metrics:
        return ((question.metrics, whole),)
    users = replace(question, metrics=frozenset({Metric.USERS}))
    rest = replace(question, metrics=question.metrics - users.metrics)
    now, compacted = clock
    apart = plan(users, *scoped, now=now, compacted=compacted)
    others = plan(rest, *scoped, now=now, compacted=compacted)
    if apart is None or not apart.reads_sets or others is None or others.daily is None:
        return ((question.metrics, whole),)
    return ((users.metrics, apart), (rest.metrics, others))


def days(
    keys: Sequence[GroupKey],
    timezone: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    ends: bool = False,
    shift: bool = False,
    compacted: datetime | None = None,
) -> pieces.Pieces:
    """[start, end) cut into the whole UTC days no boundary of `keys` falls inside, the other
    whole hours and the partial ones; with `ends`, the first and last hours of days as day ends
    where they are long enough (pieces.day_ends: distinct users only); with `shift`, the days a
    boundary cuts into one long part and short ones read whole (pieces.shifted: sums only).
    Where bucket starts must be listed, days are kept from pieces.FIRST_DAY (or, for a period
    without a start, pieces.LOOKBACK before `now`) to two days after `now` (ingestion refuses
    events more than a day ahead); whatever lies outside comes from the hourly tables, exactly,
    only slower. Days from `compacted` on are not in the daily tables yet: their hours are read
    (None: every day is)."""
    span: pieces.Span = (start, end)
    clip: pieces.Span = (None, None)
    if pieces.needs_listing(keys, timezone):
        today = pieces.floor(now, pieces.DAY)
        since = pieces.FIRST_DAY if start is not None else today - pieces.LOOKBACK
        clip = (max(pieces.FIRST_DAY, since), today + 2 * pieces.DAY)
        # Nothing lies beyond the clip (ingestion refuses events more than a day ahead): an end
        # there keeps every run bounded, so the hours can be listed (within).
        end = clip[1] if end is None else end
        low = clip[0] if start is None else max(start, clip[0])
        high = min(end, clip[1])
        span = (low, max(low, high))
    moments = pieces.boundaries(keys, timezone, span)
    if compacted is not None:  # later days are not in the daily tables yet
        clip = (clip[0], compacted if clip[1] is None else min(clip[1], compacted))
    blocked = pieces.blocked_days(moments)
    cut = replace(pieces.cut(start, end, blocked, clip), compacted=compacted)
    if moments is None:
        return cut
    if ends:
        return pieces.day_ends(cut, moments)
    return pieces.shifted(cut, moments, clip) if shift else cut


def _rows_answer(
    question: Question, filter: Filter, keys: tuple[GroupKey, ...], filtered: set[Dimension]
) -> bool:
    """Whether rollup rows can tell which events count: not for ratings, metadata, or a filter
    on an event's tags that does not group or narrow by tag (it keeps an event once, however
    many of its tags match)."""
    if question.source is not Source.EVENTS or filter.metadata:
        return False
    if any(isinstance(key, MetadataKey) for key in keys):
        return False
    return Dimension.TAG in keys or not (filter.tag_contains or Dimension.TAG in filtered)


def _on_whole_hours(
    keys: tuple[GroupKey, ...],
    timezone: str,
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> bool:
    """Whether every time bucket, window and narrowed bucket starts and ends on a UTC hour."""
    for key in keys:
        if isinstance(key, TimeBucket) and not whole_hour_zone(timezone):
            return False
        if isinstance(key, Windows) and not all(map(_whole, _flat(key.bounds))):
            return False
    moments = [v for values in narrow_values for v in values if isinstance(v, datetime)]
    return all(map(_whole, moments))


def _flat(bounds: tuple[tuple[datetime, datetime], ...]) -> list[datetime]:
    return [moment for pair in bounds for moment in pair]


def _floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _whole(moment: datetime) -> bool:
    return _floor(moment) == moment


@cache
def whole_hour_zone(name: str) -> bool:
    """Whether `name` kept a whole-hour UTC offset every day from 2000 (the earliest event
    timestamp ingestion accepts) to 2100, so its local days and hours start on UTC hours."""
    tz = ZoneInfo(name)
    day = datetime(2000, 1, 1, tzinfo=UTC)
    while day.year < 2100:
        offset = day.astimezone(tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        day += timedelta(days=1)
    return True


def relation(
    chosen: Plan,
    metrics: Iterable[Metric],
    filter: Filter | None = None,
    narrowing: tuple[tuple[GroupKey, ...], Sequence[tuple[str | datetime | None, ...]]] = ((), ()),
    chats: Select[Any] | None = None,
) -> Subquery:
    """Rows shaped like the rollup's (`ts` for the hour, day or month): the monthly table's
    months, the daily table's other days, the hourly table's other whole hours, then each raw
    event of the partial hours at the edges; with `chats` (a SELECT of app_id, chat_id), only
    those chats' rows, asked of the tables' own columns (through their (app, chat, hour) index).
    Only the measures `metrics` read are carried: a wide row costs even where PostgreSQL drops
    the column later (a month of hourly rows, 30% of a daily series' time). The values of the
    filter and of the narrowing keys are also asked of each table's own key columns: the
    compiler's condition on a key read as NULL where it is '' cannot use an index, nor tell the
    planner how few rows it keeps."""
    keys = (chosen.daily or chosen.rollup).keys
    asked = asked_of_keys(filter, *narrowing)
    read = frozenset().union(*(METRICS[metric].reads() for metric in metrics))
    cut = chosen.pieces
    if cut.less or cut.shifts:
        read |= {LIVE}  # the compiler keeps the groups whose events were not all taken away
        if any(measure.merge is not Merge.SUM for measure in MEASURES if measure.name in read):
            raise ValueError("only sums can be taken away")
    measures = [measure for measure in MEASURES if measure.name in read]
    names = [measure.name for measure in measures]
    parts = []
    if chosen.monthly is not None:
        parts.append(
            rows_of(chosen.monthly, keys, names, cut.months, asked, dated=cut.inside, chats=chats)
        )
    if chosen.daily is not None and cut.less:
        negated = [(-chosen.daily.table.c[name]).label(name) for name in names]
        parts.append(
            rows_of(chosen.daily, keys, negated, cut.less, asked, dated=cut.inside, chats=chats)
        )
    if chosen.daily is not None and chosen.pieces.days:
        parts.append(rows_of(chosen.daily, keys, names, chosen.pieces.days, asked, chats=chats))
    for shift in cut.shifts:  # only ever with days (_from_days)
        offset = shift.offset
        if chosen.daily is not None and shift.days:
            parts.append(
                rows_of(chosen.daily, keys, names, shift.days, asked, shift=offset, chats=chats)
            )
        if shift.moved:
            parts.append(
                rows_of(chosen.rollup, keys, names, shift.moved, asked, moved=offset, chats=chats)
            )
    if chosen.pieces.hours:
        parts.append(rows_of(chosen.rollup, keys, names, chosen.pieces.hours, asked, chats=chats))
    ranges = chosen.raw_ranges
    if ranges:
        raw = select(
            m.ts,
            m.app_id,
            *(_RAW_KEYS[key].label(key) for key in keys),
            *(measure.per_event(m).label(measure.name) for measure in measures),
        ).where(
            # The edges are partial hours: each app's of them an index range of (app_id, ts)
            # (without the apps, PostgreSQL read them through the BRIN on ts: 861 lossy pages,
            # 13,556 rows checked for 47, 3.8 against 0.3 ms at 1M events).
            every_app(m.app_id),
            or_(*(and_(m.ts >= start, m.ts < end) for start, end in ranges)),
        )
        if chats is not None:
            raw = raw.where(tuple_(m.app_id, m.chat_id).in_(chats))
        parts.append(raw)
    if len(parts) == 1:
        return parts[0].subquery("rollup")
    return union_all(*parts).subquery("rollup")


def rows_of(
    rollup: RollupTable,
    keys: Sequence[str],
    carried: Sequence[str | ColumnElement[Any]],
    runs: Sequence[pieces.Span],
    asked: dict[str, list[str]],
    *,
    dated: datetime | None = None,
    shift: timedelta | None = None,
    moved: timedelta | None = None,
    chats: Select[Any] | None = None,
) -> Select[Any]:
    """The rows of `rollup` inside `runs` and with the values `asked` of its key columns (and of
    the (app_id, chat_id) pairs `chats` selects, where it is keyed by chat), with the columns
    `keys` ('' read as NULL) and `carried` (columns of its table by name, or expressions over
    them); `ts` is their hour, day or month, or `dated`, or `shift` after it (pieces.Shift's
    days). With `moved` (hours of pieces.Shift), each row twice: at its hour, and with its
    `carried` columns (names) negated `moved` after the start of its UTC day."""
    table = rollup.table
    time = table.c[rollup.time]
    stamp: ColumnElement[datetime] = time
    values = [table.c[value] if isinstance(value, str) else value for value in carried]
    source: Any = table
    if dated is not None:
        stamp = literal(dated, DateTime(timezone=True))
    elif shift:
        stamp = time + shift
    elif moved is not None:
        if not all(isinstance(value, str) for value in carried):
            raise ValueError("moved hours carry their table's own columns, by name")
        signs = func.unnest(literal([1, -1], ARRAY(Integer))).table_valued("sign")
        signs = signs.render_derived("signs")
        day = func.date_trunc("day", time, "UTC", type_=time.type)
        stamp = case((signs.c.sign > 0, time), else_=day + moved if moved else day)
        values = [(table.c[str(value)] * signs.c.sign).label(str(value)) for value in carried]
        source = table.join(signs, true())
    rows = select(
        stamp.label("ts"),
        table.c.app_id,
        *(
            (func.nullif(table.c[key], "") if key in table.c else cast(null(), Text)).label(key)
            for key in keys
        ),
        *values,
    ).select_from(source)
    rows = rows.where(every_app(table.c.app_id))
    if chats is not None and "chat_id" in keys:
        rows = rows.where(tuple_(table.c.app_id, table.c.chat_id).in_(chats))
    unit = _UNITS.get(rollup.time)  # months differ in length: never listed
    listed = None if unit is None else listed_starts(runs, unit)
    if listed is not None:
        # Not with the values asked too: PostgreSQL 15 prices an index descent per app, start
        # and value above a range scan of every row after the first start (a month of Berlin
        # weeks per user-agent tag: 29 against 7 ms for the five straddled days' hours).
        return rows.where(time == any_(listed))
    rows = rows.where(*asked_conditions(table, keys, asked))
    condition = any_of(time, runs)
    return rows if condition is None else rows.where(condition)


def asked_conditions(
    table: Table, keys: Sequence[str], asked: dict[str, list[str]]
) -> list[ColumnElement[bool]]:
    """`table`'s key columns among `keys` holding one of the values `asked` of them."""
    return [
        table.c[key] == any_(bindparam(None, values, ARRAY(Text)))
        for key, values in asked.items()
        if key in keys
    ]


def asked_of_keys(
    filter: Filter | None,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> dict[str, list[str]]:
    """Per rollup key column, values one of which every row in scope has there ('' where the
    compiler asks for a null key): the filter's and the narrowing keys'."""
    asked: dict[str, list[str]] = {}
    for dimension, values in () if filter is None else filter.values:
        asked[str(DIMENSIONS[dimension].key)] = list(values)
    for position, key in enumerate(narrow_keys):
        if isinstance(key, Dimension):
            found = {values[position] for values in narrow_values}
            column = str(DIMENSIONS[key].key)
            narrowed = sorted("" if v is None else str(v) for v in found)
            kept = asked.get(column)
            asked[column] = narrowed if kept is None else sorted(set(kept) & set(narrowed))
    return asked


def every_app(column: ColumnElement[str]) -> ColumnElement[bool]:
    """`column` is one of the apps: true of every row, but it makes each app an index range of
    its own, so that a time range is read through a primary key that starts with the app (an
    array made once per statement; a filter on apps narrows it further)."""
    return column == any_(func.array(select(apps.c.app_id).scalar_subquery()))


def within(
    column: ColumnElement[datetime], runs: Sequence[pieces.Span], unit: timedelta
) -> ColumnElement[bool] | None:
    """`column` (the start of a row's `unit`) in one of `runs` (None: unbounded)."""
    listed = listed_starts(runs, unit)
    return any_of(column, runs) if listed is None else column == any_(listed)


def any_of(
    column: ColumnElement[datetime], runs: Sequence[pieces.Span]
) -> ColumnElement[bool] | None:
    """`column` in one of `runs`, as an OR of ranges (None: one of them is unbounded on both
    sides)."""
    conditions = [inside(column, run) for run in runs]
    if any(condition is None for condition in conditions):
        return None
    return or_(*(c for c in conditions if c is not None))


def listed_starts(runs: Sequence[pieces.Span], unit: timedelta) -> BindParameter[Any] | None:
    """Several bounded runs of whole `unit`s that keep less than half of the span they lie in,
    as the starts of their rows, a bound array (None: better read as ranges). PostgreSQL reads an
    OR of ranges through an index only by the range all of them share: a month of Berlin weeks,
    whose five straddled days come from an hourly table, read every hour of the month there to
    keep a sixth of them. Runs that keep most of their span (that month's other days) read
    faster as that range than by a lookup per start (20 against 28 ms)."""
    bounded = [(start, end) for start, end in runs if start is not None and end is not None]
    if len(runs) < 2 or len(bounded) < len(runs):
        return None
    span = max(end for _, end in bounded) - min(start for start, _ in bounded)
    kept = sum((end - start for start, end in bounded), timedelta())
    if kept * 2 > span or kept / unit > pieces.MAX_LISTED:
        return None
    starts = [start + unit * n for start, end in bounded for n in range((end - start) // unit)]
    return bindparam(None, starts, type_=ARRAY(DateTime(timezone=True)))


def inside(column: ColumnElement[datetime], run: pieces.Span) -> ColumnElement[bool] | None:
    """`column` in [start, end) of `run` (None: unbounded on both sides)."""
    start, end = run
    conditions = [
        *([] if start is None else [column >= start]),
        *([] if end is None else [column < end]),
    ]
    return and_(*conditions) if conditions else None
