"""The compiler: a Question asked in many sibling scopes becomes ONE SQLAlchemy Select. Pure.

Sibling scopes differ only in their narrowing values (the 20 models of a list, the 90 days of a
series). The statement filters each narrowing key with `= ANY(:values)` (a time range for time
buckets), groups by the narrowing keys and the question's own keys, and, when the question has a
limit, ranks rows within each narrowed scope with row_number(). Values are always bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Double,
    Integer,
    Select,
    Subquery,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, array
from sqlalchemy.sql.elements import Label

from usageql.db.tables import chats, feedback, messages, users
from usageql.query import chat_scope, chats_count, rollups, sketch, user_sets
from usageql.query.catalog import DIMENSIONS, FEEDBACK_DIMENSIONS, METRICS
from usageql.query.model import (
    ChatField,
    ChatSort,
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
from usageql.query.time import bucket_end

m = messages.c
TimeRange = tuple[datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement and how to read its rows, whose columns are labelled (see `labels`)."""

    statement: Select[Any]
    narrow_keys: tuple[GroupKey, ...]
    group_keys: tuple[GroupKey, ...]
    metrics: tuple[Metric, ...]
    with_total: bool = False  # a last column: the scope's row count before offset and limit
    fields: tuple[str, ...] = ()  # other columns, after the metrics: chats, a window's end
    raw_ranges: tuple[TimeRange, ...] = ()  # the spans of raw event times read (None: unbounded)
    # The spans read from latency buckets (usage_daily_latency), for approximate percentiles.
    sketched: tuple[TimeRange, ...] = ()

    @property
    def labels(self) -> tuple[list[str], list[str]]:
        """The labels of the columns of its narrowing keys (n0, n1...) and group keys (g0...);
        a metric's column is labelled with its value, the scope's row count ROWS_IN_SCOPE."""
        return _labels("n", self.narrow_keys), _labels("g", self.group_keys)

    def reads_raw_before(self, moment: datetime) -> bool:
        """Whether the statement reads raw events from before `moment`."""
        return any(start is None or start < moment for start, _ in self.raw_ranges)

    def reads_buckets_before(self, moment: datetime) -> bool:
        """Whether the statement reads latency buckets from before `moment`."""
        return any(start is None or start < moment for start, _ in self.sketched)


ROWS_IN_SCOPE = "rows_in_scope"


def _labels(prefix: str, keys: Sequence[GroupKey]) -> list[str]:
    return [f"{prefix}{i}" for i in range(len(keys))]


class _From:
    """What a statement counts: raw events (or ratings, reaching the rated messages), or the
    relation of a rollup plan, whose columns carry the dimensions' names."""

    def __init__(self, source: Source, rows: Subquery | None = None) -> None:
        self.feedback = source is Source.FEEDBACK
        self.joins_messages = False
        self.rows = rows

    @property
    def ts(self) -> ColumnElement[datetime]:
        if self.rows is not None:
            return self.rows.c.ts
        return feedback.c.ts if self.feedback else m.ts

    def dimension(self, dimension: Dimension) -> ColumnElement[Any]:
        if self.rows is not None:
            return self.rows.c[str(DIMENSIONS[dimension].key)]  # named as in `messages`
        if self.feedback and dimension in FEEDBACK_DIMENSIONS:
            return FEEDBACK_DIMENSIONS[dimension]
        return self.of_messages(DIMENSIONS[dimension])

    def of_messages(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        self.joins_messages = self.joins_messages or self.feedback
        return column

    def metric(self, metric: Metric) -> ColumnElement[Any]:
        if self.rows is not None:
            return METRICS[metric].over_rollup(self.rows)
        return METRICS[metric].over_events()

    def table(self, windows: Any = None) -> Any:
        table: Any = messages if self.rows is None else self.rows
        if self.feedback:
            table = feedback
            if self.joins_messages:
                rated = and_(m.app_id == feedback.c.app_id, m.message_id == feedback.c.message_id)
                table = feedback.join(messages, rated)
        if windows is not None:
            inside = and_(self.ts >= windows.c.window_start, self.ts < windows.c.window_end)
            table = table.join(windows, inside)
        return table


def _windows(key: Windows) -> Any:
    """unnest(:starts, :ends) AS w(window_start, window_end)."""
    starts = [start for start, _ in key.bounds]
    ends = [end for _, end in key.bounds]
    time_array = ARRAY(DateTime(timezone=True))
    return (
        func.unnest(
            bindparam(None, starts, type_=time_array), bindparam(None, ends, type_=time_array)
        )
        .table_valued("window_start", "window_end")
        .render_derived(name="w")
    )


def key_sql(key: GroupKey, timezone: str, source: _From | None = None) -> ColumnElement[Any]:
    """The SQL value of a group key for one row (the unnested tag for TAG)."""
    source = source or _From(Source.EVENTS)
    if isinstance(key, Dimension):
        return source.dimension(key)
    if isinstance(key, Windows):
        raise TypeError("windows are joined by compile_question, not computed per row")
    if isinstance(key, MetadataKey):
        value: ColumnElement[Any] = m.metadata[key.key].astext
        return source.of_messages(value)
    ts = source.ts
    if key.granularity.value == "hour":
        # The instant less its local minutes (see time.bucket_start): exact in every zone.
        local_minutes = cast(func.extract("minute", func.timezone(timezone, ts)), Integer)
        return func.date_trunc("minute", ts) - func.make_interval(0, 0, 0, 0, 0, local_minutes)
    return func.date_trunc(key.granularity.value, ts, timezone)


def compile_question(
    question: Question,
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...] = (),
    narrow_values: Sequence[tuple[str | datetime | None, ...]] = (),
    *,
    use_rollups: bool = False,
    now: datetime | None = None,
    compacted: datetime | None = None,
) -> Compiled:
    """One statement answering `question` for every tuple of `narrow_values`; from the hourly
    rollups when `use_rollups` and they answer it exactly. `now` (the clock's, by default):
    the UTC day it falls in bounds the days listed for periods without an end. The daily
    tables are read for the days before `compacted` only (None: every day; usageql.db.compacted)."""
    now = now or datetime.now(UTC)
    raw = _raw_range(filter, timezone, narrow_keys, narrow_values)
    scoped: Scoped = (filter, timezone, narrow_keys, narrow_values)
    if question.source in (Source.CHAT_TAGS, Source.CHATS):
        scope = chat_scope.plan(question, filter, narrow_keys) if use_rollups else None
        if scope is not None and question.source is Source.CHAT_TAGS:
            return _scoped_chat_tags(question, scope)
        chat_source, read = _chat_rows(question, scoped, raw, use_rollups, now)
        if scope is not None:
            compiled = _scoped_chats(question, scoped, chat_source, scope)
            return replace(compiled, raw_ranges=(*read, *scope.raw_ranges))
        compile_chats = (
            _compile_chat_tags if question.source is Source.CHAT_TAGS else _compile_chats
        )
        return replace(compile_chats(question, scoped, chat_source(None)), raw_ranges=read)
    # Chats by first appearance where they answer exactly; the other metrics as before.
    chats = (
        chats_count.plan(question, filter, timezone, narrow_keys, narrow_values)
        if use_rollups
        else None
    )
    asked = question if chats is None else chats.rest
    # Approximate percentiles from log-spaced buckets where they answer; exact ones elsewhere.
    estimates = sketch.plan(asked, *scoped, now=now, compacted=compacted) if use_rollups else None
    asked = asked if estimates is None else estimates.rest
    # Parts of the metrics from different rollups, joined by key, where that reads fewer rows.
    parts = (
        rollups.plans(asked, *scoped, now=now, compacted=compacted)
        if use_rollups
        else ((asked.metrics, None),)
    )
    raw_ranges: tuple[TimeRange, ...] = ()
    statements = []
    for part_metrics, part_plan in parts:
        if part_plan is not None:
            narrowing = (narrow_keys, narrow_values)
            relation = (
                user_sets.set_relation(part_plan, filter, narrowing)
                if part_plan.reads_sets
                else rollups.relation(part_plan, part_metrics, filter, narrowing)
            )
            source = _From(question.source, relation)
            raw_ranges += tuple(part_plan.raw_ranges)
        else:
            source = _From(question.source)
            raw_ranges += (raw,)
        metrics = tuple(sorted(part_metrics, key=lambda metric: metric.value))
        statement = _aggregated(question, scoped, source, metrics)
        taken = part_plan is not None and (part_plan.pieces.less or part_plan.pieces.shifts)
        if taken and (narrow_keys or question.group_by):
            # Days or hours taken away: a group of no event in the period sums to 0 there.
            statement = statement.having(func.sum(relation.c[rollups.LIVE]) > 0)
        statements.append(statement)
    if chats is not None:
        raw_ranges += tuple(chats.raw_ranges)
    if estimates is not None:
        raw_ranges += tuple(estimates.raw_ranges)
    narrow_labels, group_labels = _labels("n", narrow_keys), _labels("g", question.group_by)
    windowed = any(isinstance(k, Windows) for k in question.group_by)
    fields = (Windows.END_FIELD,) if windowed else ()
    statement = _joined(statements, [*narrow_labels, *group_labels, *fields])
    if chats is not None:
        statement = chats.attach(statement, narrow_labels, group_labels)
    if estimates is not None:
        statement = _estimated(
            statement, question, scoped, estimates, narrow_labels=narrow_labels, fields=fields
        )
    statement = _order_and_limit(statement, question, narrow_labels, group_labels)
    answered = tuple(sorted(question.metrics, key=lambda metric: metric.value))
    return Compiled(
        statement,
        narrow_keys,
        question.group_by,
        answered,
        question.with_total,
        fields,
        raw_ranges,
        () if estimates is None else tuple(estimates.day_ranges),
    )


Scoped = tuple[Filter, str, tuple[GroupKey, ...], Sequence[tuple[str | datetime | None, ...]]]
"""A question's filter, time zone, narrowing keys and their values."""


def _measures(metrics: Sequence[Metric]) -> Callable[[_From], list[Any]]:
    """Each metric's aggregate over a source's rows, labelled with its name."""
    return lambda rows: [rows.metric(metric).label(metric.value) for metric in metrics]


def _aggregated(
    question: Question, scoped: Scoped, source: _From, metrics: tuple[Metric, ...]
) -> Select[Any]:
    """`_grouped` with the metrics' aggregates; a lone distinct count over rollup rows in two
    steps, so that PostgreSQL hashes instead of sorting each group's values: the distinct
    (keys, value) pairs, then their count per keys (weekly users per user-agent tag over a
    month of daily rows at 1M events: 39 against 49 ms, the one-step sort spilling to disk).
    Over sets of user numbers, one step: each group sorts the members of a few sets. Over raw
    events it stays one step: the reference the rollups' answers are tested against."""
    counted = METRICS[metrics[0]].distinct_of if len(metrics) == 1 else None
    if counted is None or source.rows is None:
        return _grouped(question, scoped, source, _measures(metrics))
    if user_sets.SETS_COLUMN in source.rows.c:
        members = _members(question, scoped, source, source.rows.c[user_sets.SETS_COLUMN])
        keys = [c for c in members.c if c.name not in ("counted", _SIZE, Windows.END_FIELD)]
        ends = [c for c in members.c if c.name == Windows.END_FIELD]
        # Sorted per group, not hashed: a group's members are a few sets' (weekly users per
        # user-agent tag over a month at 10M events: 61 against 78 ms).
        count = func.count(members.c.counted.distinct()) + func.coalesce(
            func.max(members.c[_SIZE]), 0
        )
        return select(*keys, count.label(metrics[0].value), *ends).group_by(*keys, *ends)
    value = source.rows.c[counted]
    pairs = _grouped(
        question, scoped, source, lambda _: [value.label("counted")], by=[value]
    ).subquery("pairs")
    keys = [column for column in pairs.c if column.name not in ("counted", Windows.END_FIELD)]
    ends = [column for column in pairs.c if column.name == Windows.END_FIELD]
    total = func.count(pairs.c.counted).label(metrics[0].value)
    return select(*keys, total, *ends).group_by(*keys, *ends)


_SIZE = "set_size"
"""A column of `_members`' rows: the size of a group's lone set, counted whole."""


def _members(
    question: Question, scoped: Scoped, source: _From, sets: ColumnElement[Any]
) -> Subquery:
    """The (keys, member) rows of a relation of sets (usageql.query.user_sets): each row's keys
    computed once (a bucket in a zone costs more than a number), then its set unnested. A group
    of one row is not unnested: its set holds distinct numbers and one NULL, so its size less
    one is its count, in the `_SIZE` column (a day's users per tag at 10M events: 77k numbers
    for 450 sets, a set's size each now)."""
    keyed = _grouped(
        question, scoped, source, lambda _: [sets.label("members")], grouped=False
    ).subquery("keyed")
    keyed_keys = [column for column in keyed.c if column.name != "members"]
    alone = func.count().over(partition_by=keyed_keys or None) == 1
    sized = select(*keyed_keys, keyed.c.members, alone.label("alone")).subquery("sized")
    keys = [column for column in sized.c if column.name not in ("members", "alone")]
    # A lone set is unnested as one NULL member, beside its size; the others as they are.
    lone = cast(array([null()]), ARRAY(BigInteger))
    unnested = case((sized.c.alone, lone), else_=sized.c.members)
    member = func.unnest(unnested).table_valued("counted").render_derived().lateral("m")
    size = case((sized.c.alone, func.cardinality(sized.c.members) - 1)).label(_SIZE)
    return (
        select(*keys, member.c.counted, size)
        .select_from(sized.join(member, true()))
        .subquery("members")
    )


def _estimated(
    statement: Select[Any],
    question: Question,
    scoped: Scoped,
    estimates: sketch.SketchPlan,
    *,
    narrow_labels: list[str],
    fields: tuple[str, ...],
) -> Select[Any]:
    """`statement` with the estimates' columns. A list cut by a limit on another metric (the
    top 10 models by requests) is cut first, and only its rows' buckets are added up and
    ranked: most of an estimate's time is spent per bucket of every group."""
    group_labels = _labels("g", question.group_by)
    top = None
    ordered_by = None if question.order is None else question.order.metric
    if (
        question.limit is not None
        and not (question.offset or question.with_total or narrow_labels or fields)
        and len(question.group_by) == 1
        and ordered_by not in estimates.estimated
    ):
        top = _order_and_limit(statement, question, [], group_labels).cte("top")
        statement = select(*top.c)

    def per_value(relation: Subquery) -> Select[Any]:
        source = _From(Source.EVENTS, relation)
        grouped = _grouped(
            question,
            scoped,
            source,
            lambda _: [relation.c.bucket, func.sum(cast(relation.c.n, Double())).label("n")],
            by=[relation.c.bucket],
        )
        if top is None:
            return grouped
        # The rows of the cut list: its keys (one of them NULL, perhaps: events without one).
        key = key_sql(question.group_by[0], scoped[1], source)
        listed = top.c[group_labels[0]]
        null_listed = select(func.bool_or(listed.is_(None))).scalar_subquery()
        return grouped.where(
            (key == any_(func.array(select(listed).scalar_subquery())))
            | (key.is_(None) & null_listed)
        )

    labels = [*narrow_labels, *group_labels, *fields]
    return estimates.attach(statement, labels, per_value)


def _joined(statements: Sequence[Select[Any]], labels: Sequence[str]) -> Select[Any]:
    """The rows of the first statement with the other statements' metrics, joined by the
    `labels` columns (None keys included). Each answers the same scope from rows holding every
    event in it, so each has the same keys."""
    first, *others = statements
    if not others:
        return first
    base = first.subquery("part0")
    joined: Any = base
    columns: list[ColumnElement[Any]] = list(base.c)
    for number, other in enumerate(others, start=1):
        part = other.subquery(f"part{number}")
        on = [base.c[label].is_not_distinct_from(part.c[label]) for label in labels]
        joined = joined.join(part, and_(*on) if on else true())
        columns += [column for column in part.c if column.name not in labels]
    return select(*columns).select_from(joined)


def _grouped(
    question: Question,
    scoped: Scoped,
    source: _From,
    measures: Callable[[_From], list[Any]],
    *,
    by: Sequence[ColumnElement[Any]] = (),
    grouped: bool = True,
) -> Select[Any]:
    """The rows of `source` in scope, grouped by the narrowing keys, the question's keys (and
    `by`), with their `measures`: columns labelled n0.., g0.., then the measures' own labels and
    a window's end. Not `grouped`: a row per row in scope, with its keys."""
    filter, timezone, narrow_keys, narrow_values = scoped
    windowed = [k for k in question.group_by if isinstance(k, Windows)]
    windows = _windows(windowed[0]) if windowed else None
    # A window's row is keyed by its start and grouped by both bounds: windows sharing a start
    # but not an end must not merge into their union. The end comes back as a field.
    window_ends = [] if windows is None else [windows.c.window_end]

    def value_of(key: GroupKey) -> ColumnElement[Any]:
        if isinstance(key, Windows) and windows is not None:
            start: ColumnElement[Any] = windows.c.window_start
            return start
        return key_sql(key, timezone, source)

    keys = (*narrow_keys, *question.group_by)
    unnests_tags = Dimension.TAG in keys
    narrow_labels, narrow_columns = _narrow_columns(narrow_keys, timezone, source)
    group_labels = _labels("g", question.group_by)
    columns = [
        *narrow_columns,
        *(
            value_of(k).label(label)
            for k, label in zip(question.group_by, group_labels, strict=True)
        ),
        *measures(source),
        *(end.label(Windows.END_FIELD) for end in window_ends),
    ]
    conditions = _scope_conditions(
        filter, timezone, narrow_keys, narrow_values, source, unnests_tags=unnests_tags
    )
    if question.exclude_null_keys:
        conditions += [
            key_sql(k, timezone, source).is_not(None)
            for k in question.group_by
            if not isinstance(k, TimeBucket | Windows)
        ]
    statement = select(*columns).select_from(source.table(windows))
    if conditions:
        statement = statement.where(*conditions)
    labels = [*narrow_labels, *group_labels]
    if grouped and (labels or by):
        statement = statement.group_by(
            *(literal_column(label) for label in labels), *window_ends, *by
        )
    return statement


def _raw_range(
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
) -> TimeRange:
    """The span of event times a statement over raw events reads."""
    start, end = filter.start, filter.end
    for position, key in enumerate(narrow_keys):
        if isinstance(key, TimeBucket):
            starts = [v for values in narrow_values if isinstance(v := values[position], datetime)]
            if starts:
                tz = ZoneInfo(timezone)
                first = min(starts)
                last = max(bucket_end(moment, key.granularity, tz) for moment in starts)
                start = first if start is None else max(start, first)
                end = last if end is None else min(end, last)
    return (start, end)


def _narrow_columns(
    narrow_keys: tuple[GroupKey, ...], timezone: str, source: _From
) -> tuple[list[str], list[Label[Any]]]:
    """Labels n0, n1... and the labelled value of each narrowing key."""
    labels = _labels("n", narrow_keys)
    columns = [
        key_sql(key, timezone, source).label(label)
        for key, label in zip(narrow_keys, labels, strict=True)
    ]
    return labels, columns


def _scope_conditions(
    filter: Filter,
    timezone: str,
    narrow_keys: tuple[GroupKey, ...],
    narrow_values: Sequence[tuple[str | datetime | None, ...]],
    source: _From,
    *,
    unnests_tags: bool,
) -> list[ColumnElement[bool]]:
    """The filter's conditions and each narrowing key's `= ANY(values)` (or time range)."""
    conditions = filter_sql(filter, unnests_tags=unnests_tags, source=source)
    for position, key in enumerate(narrow_keys):
        values = [values[position] for values in narrow_values]
        conditions.append(_narrowing_sql(key, values, timezone, source))
    return conditions


ChatSource = Callable[[Select[Any] | None], _From]  # the source of all chats, or of some


def _chat_rows(
    question: Question, scoped: Scoped, raw: TimeRange, use_rollups: bool, now: datetime
) -> tuple[ChatSource, tuple[TimeRange, ...]]:
    """Where the chats with an event in scope are found, and the spans of raw events read: the
    chat rollup's rows (whole hours; raw events for the partial ones) when they answer the
    scope and the metrics exactly, else raw events. The source is given for some chats (a
    SELECT of app_id, chat_id: the rollup's rows of those only) or for all (None)."""
    filter, timezone, narrow_keys, narrow_values = scoped
    if use_rollups:
        # Keyed by chat and model: a chat's message count and models come from its rows.
        wanted = Question(
            frozenset({Metric.MESSAGES, *question.metrics}), (Dimension.CHAT, Dimension.MODEL)
        )
        chosen = rollups.plan(wanted, filter, timezone, narrow_keys, narrow_values, now=now)
        if chosen is not None:

            def rollup_rows(chats: Select[Any] | None) -> _From:
                narrowing = (narrow_keys, narrow_values)
                relation = rollups.relation(chosen, wanted.metrics, filter, narrowing, chats)
                return _From(Source.EVENTS, relation)

            # Chats described for some users read those users' raw messages (_chat_people).
            people = () if filter.allowed(Dimension.USER) is None else (raw,)
            return rollup_rows, (*chosen.raw_ranges, *people)
    return (lambda _: _From(Source.EVENTS)), (raw,)


# The chats in scope are grouped (made distinct) by their ids in the "C" collation: byte order,
# which PostgreSQL sorts with memcmp and abbreviated keys, several times faster than the
# database's collation (C.UTF-8 or a language's) for the ~10k ids of a model's month at 1M events.
# Equality is the same in both (deterministic collations), so the groups are; the ids are joined
# to `chats` in the default collation, which its index is in.
_BYTES = "C"


def _compile_chat_tags(question: Question, scoped: Scoped, source: _From) -> Compiled:
    """Chats per chat tag, among the chats with an event in each scope (in `source`)."""
    filter, timezone, narrow_keys, narrow_values = scoped
    narrow_labels, narrow_columns = _narrow_columns(narrow_keys, timezone, source)
    conditions = _scope_conditions(
        filter,
        timezone,
        narrow_keys,
        narrow_values,
        source,
        unnests_tags=Dimension.TAG in narrow_keys,
    )
    chat = source.dimension(Dimension.CHAT)
    in_scope = (
        select(
            *narrow_columns,
            source.dimension(Dimension.APP).collate(_BYTES).label("app_id"),
            chat.collate(_BYTES).label("chat_id"),
        )
        .select_from(source.table())  # first: a narrowing tag is unnested from each message
        .where(chat.is_not(None), *conditions)
        .distinct()
        .subquery("chats_in_scope")
    )
    chat_tag = func.unnest(chats.c.tags).column_valued("chat_tag")
    joined = in_scope.join(
        chats,
        and_(
            chats.c.app_id == in_scope.c.app_id.collate("default"),
            chats.c.chat_id == in_scope.c.chat_id.collate("default"),
        ),
    )
    statement: Select[Any] = (
        select(
            *(in_scope.c[label] for label in narrow_labels),
            chat_tag.label("g0"),
            func.count().label(Metric.CHATS.value),
        )
        .select_from(joined)
        .group_by(*(literal_column(label) for label in [*narrow_labels, "g0"]))
    )
    statement = _order_and_limit(statement, question, narrow_labels, ["g0"])
    return Compiled(statement, narrow_keys, (Dimension.TAG,), (Metric.CHATS,), False)


# Named apart from every metric (a chat row may also carry the MODELS metric, a count).
CHAT_FIELDS = (
    "title",
    "tags",
    "user_id",
    "created_at",
    "updated_at",
    "message_count",
    "model_list",
)


def _per_chat(
    question: Question,
    scoped: Scoped,
    source: _From,
    metrics: tuple[Metric, ...],
    among: Select[Any] | None = None,
) -> Subquery:
    """The events in each scope (in `source`) summed per chat: g0 (app), g1 (chat), messages,
    models and `metrics`; only the chats `among` selects (app_id, chat_id), if given (a rollup
    relation is made of those chats' rows already: _chat_rows)."""
    filter, timezone, narrow_keys, narrow_values = scoped
    narrow_labels, narrow_columns = _narrow_columns(narrow_keys, timezone, source)
    conditions = _scope_conditions(
        filter,
        timezone,
        narrow_keys,
        narrow_values,
        source,
        unnests_tags=Dimension.TAG in narrow_keys,
    )
    app = source.dimension(Dimension.APP)
    chat, model = source.dimension(Dimension.CHAT), source.dimension(Dimension.MODEL)
    if among is not None and source.rows is None:
        conditions.append(tuple_(app, chat).in_(among))
    return (
        select(
            *narrow_columns,
            app.collate(_BYTES).label("g0"),
            chat.collate(_BYTES).label("g1"),
            source.metric(Metric.MESSAGES).label("message_count"),
            func.array_remove(func.array_agg(model.distinct()), None).label("model_list"),
            *(source.metric(metric).label(metric.value) for metric in metrics),
        )
        .select_from(source.table())  # first: a narrowing tag is unnested from each message
        .where(chat.is_not(None), *conditions)
        .group_by(*(literal_column(label) for label in [*narrow_labels, "g0", "g1"]))
        .subquery("per_chat")
    )


def _scoped_chat_tags(question: Question, scope: chat_scope.ChatScope) -> Compiled:
    """Chats per chat tag, the chats in scope read from `chat_models` (usageql.query.chat_scope)."""
    statement = _order_and_limit(chat_scope.chat_tags(scope), question, [], ["g0"])
    return Compiled(
        statement, (), (Dimension.TAG,), (Metric.CHATS,), False, raw_ranges=tuple(scope.raw_ranges)
    )


def _scoped_chats(
    question: Question, scoped: Scoped, source: ChatSource, scope: chat_scope.ChatScope
) -> Compiled:
    """The chat browser's page in its default order, the chats in scope read from `chat_models`
    (usageql.query.chat_scope); metrics over the page's chats' events (in `source(page)`, the
    chat rollup read through its chat index)."""
    metrics = tuple(sorted(question.metrics, key=lambda metric: metric.value))
    statement = chat_scope.chat_page(
        question,
        scope,
        lambda among: _per_chat(question, scoped, source(among), metrics, among),
        CHAT_FIELDS,
        ROWS_IN_SCOPE,
    )
    return Compiled(statement, (), (Dimension.APP, Dimension.CHAT), metrics, True, CHAT_FIELDS)


def _compile_chats(question: Question, scoped: Scoped, source: _From) -> Compiled:
    """The chats with an event in each scope (in `source`), described, with metrics over those
    events."""
    filter, _, narrow_keys, _ = scoped
    narrow_labels = _labels("n", narrow_keys)
    metrics = tuple(sorted(question.metrics, key=lambda metric: metric.value))
    per_chat = _per_chat(question, scoped, source, metrics)
    app_id, chat_id = per_chat.c.g0.collate("default"), per_chat.c.g1.collate("default")
    described = per_chat.join(chats, and_(chats.c.app_id == app_id, chats.c.chat_id == chat_id))
    people = _chat_people(filter)
    if people is not None:
        described = described.join(
            people, and_(people.c.app_id == app_id, people.c.chat_id == chat_id)
        )
    who = chats if people is None else people  # user_id, created_at, updated_at
    sort = question.chat_sort or ChatSort()
    sort_column: ColumnElement[Any]
    if sort.field is ChatField.USER_NAME:
        named = and_(users.c.app_id == app_id, users.c.user_id == who.c.user_id)
        described = described.outerjoin(users, named)
        sort_column = users.c.name
    elif sort.field is ChatField.MESSAGES:
        sort_column = per_chat.c.message_count
    elif sort.field is ChatField.TITLE:
        sort_column = chats.c.title
    else:
        sort_column = who.c[sort.field.value]
    partition = [per_chat.c[label] for label in narrow_labels]
    ordering = [
        sort_column.desc().nulls_last() if sort.descending else sort_column.asc().nulls_last(),
        per_chat.c.g0.asc(),
        per_chat.c.g1.asc(),
    ]
    numbered = (
        select(
            *(per_chat.c[label] for label in narrow_labels),
            per_chat.c.g0,
            per_chat.c.g1,
            *(per_chat.c[metric.value] for metric in metrics),
            chats.c.title,
            chats.c.tags,
            who.c.user_id,
            who.c.created_at,
            who.c.updated_at,
            per_chat.c.message_count,
            per_chat.c.model_list,
            func.row_number()
            .over(partition_by=partition or None, order_by=ordering)
            .label("rank_in_scope"),
            func.count().over(partition_by=partition or None).label(ROWS_IN_SCOPE),
        )
        .select_from(described)
        .subquery("numbered")
    )
    final = select(*(c for c in numbered.c if c.name != "rank_in_scope")).where(
        numbered.c.rank_in_scope > question.offset
    )
    if question.limit is not None:
        final = final.where(numbered.c.rank_in_scope <= question.offset + question.limit)
    final = final.order_by(
        *(numbered.c[label] for label in narrow_labels), numbered.c.rank_in_scope
    )
    keys = (Dimension.APP, Dimension.CHAT)
    return Compiled(final, narrow_keys, keys, metrics, True, CHAT_FIELDS)


def _chat_people(filter: Filter) -> Subquery | None:
    """When the scope names users, what their own messages say of each chat they wrote in:
    its first and last message and its first user among them (None: the chat's own row)."""
    people = filter.allowed(Dimension.USER)
    if people is None:
        return None
    first_user = func.array_agg(aggregate_order_by(m.user_id, m.ts, m.message_id))[1]
    statement = select(
        m.app_id,
        m.chat_id,
        first_user.label("user_id"),
        func.min(m.ts).label("created_at"),
        func.max(m.ts).label("updated_at"),
    ).where(m.chat_id.is_not(None), m.user_id == any_(texts(people)))
    apps = filter.allowed(Dimension.APP)
    if apps is not None:
        statement = statement.where(m.app_id == any_(texts(apps)))
    return statement.group_by(m.app_id, m.chat_id).subquery("chat_people")


def filter_sql(
    filter: Filter, *, unnests_tags: bool, source: _From | None = None
) -> list[ColumnElement[bool]]:
    """Conditions on rows (or, when tags are unnested, on each event's tag) for `filter`."""
    source = source or _From(Source.EVENTS)
    conditions: list[ColumnElement[bool]] = []
    if filter.start is not None:
        conditions.append(source.ts >= filter.start)
    if filter.end is not None:
        conditions.append(source.ts < filter.end)
    for dimension, values in filter.values:
        if dimension is Dimension.TAG and not unnests_tags:
            conditions.append(source.of_messages(m.tags).overlap(texts(values)))
        else:
            conditions.append(source.dimension(dimension) == any_(texts(values)))
    for pattern in filter.tag_contains:
        contains = _contains(pattern)
        if unnests_tags:
            conditions.append(source.dimension(Dimension.TAG).ilike(contains, escape="\\"))
        else:
            tag = func.unnest(source.of_messages(m.tags)).column_valued("event_tag")
            conditions.append(exists(select(literal(1)).where(tag.ilike(contains, escape="\\"))))
    for key, values in filter.metadata:
        conditions.append(key_sql(MetadataKey(key), "UTC", source) == any_(texts(values)))
    return conditions


def texts(values: Sequence[str]) -> ColumnElement[Any]:
    """A text[] bound parameter, for `= ANY(...)`."""
    return bindparam(None, list(values), type_=ARRAY(Text))


def _contains(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _narrowing_sql(
    key: GroupKey, values: Sequence[str | datetime | None], timezone: str, source: _From
) -> ColumnElement[bool]:
    if isinstance(key, TimeBucket):
        starts = [v for v in values if isinstance(v, datetime)]
        tz = ZoneInfo(timezone)
        ends = [bucket_end(start, key.granularity, tz) for start in starts]
        return and_(source.ts >= min(starts), source.ts < max(ends))
    present = [v for v in values if isinstance(v, str)]
    column = key_sql(key, timezone, source)
    condition = column == any_(texts(present))
    if len(present) < len(values):  # a row of events without this key (a null model, say)
        condition = condition | column.is_(None)
    return condition


def _order_and_limit(
    statement: Select[Any],
    question: Question,
    narrow_labels: list[str],
    group_labels: list[str],
) -> Select[Any]:
    paged = bool(question.offset) or question.with_total
    if not paged and (not narrow_labels or question.limit is None):
        if not group_labels and question.order is None:
            return statement.order_by(*(literal_column(n) for n in narrow_labels))
        # Ordered outside, where the labels are columns (ORDER BY takes aliases bare only).
        rows = statement.subquery("per_scope")
        order = _ordering(question, group_labels, lambda label: rows.c[label])
        ordered = select(*rows.c).order_by(*(rows.c[n] for n in narrow_labels), *order)
        return ordered if question.limit is None else ordered.limit(question.limit)
    # Rank rows within each narrowed scope (or overall), to page and count per scope.
    ranked = statement.subquery("per_scope")
    partition = [ranked.c[label] for label in narrow_labels]
    rank = func.row_number().over(
        partition_by=partition or None,
        order_by=_ordering(question, group_labels, lambda label: ranked.c[label]) or None,
    )
    extra = [rank.label("rank_in_scope")]
    if question.with_total:
        extra.append(func.count().over(partition_by=partition or None).label(ROWS_IN_SCOPE))
    numbered = select(*ranked.c, *extra).subquery("numbered")
    final = select(*(c for c in numbered.c if c.name != "rank_in_scope"))
    if question.offset:
        final = final.where(numbered.c.rank_in_scope > question.offset)
    if question.limit is not None:
        final = final.where(numbered.c.rank_in_scope <= question.offset + question.limit)
    return final.order_by(*(numbered.c[label] for label in narrow_labels), numbered.c.rank_in_scope)


def _ordering(
    question: Question, group_labels: list[str], column: Callable[[str], ColumnElement[Any]]
) -> list[ColumnElement[Any]]:
    """By the ordering metric (if any), then by the group keys ascending: a total order."""
    order: list[ColumnElement[Any]] = []
    if question.order is not None:
        metric = column(question.order.metric.value)
        order.append(metric.desc().nulls_last() if question.order.descending else metric.asc())
    for key, label in zip(question.group_by, group_labels, strict=True):
        value = column(label)
        if isinstance(key, Dimension | MetadataKey):  # text: byte order, whatever the collation
            value = value.collate("C")
        order.append(value.asc().nulls_last())
    return order
