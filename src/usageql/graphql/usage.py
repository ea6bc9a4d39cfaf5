"""`Query.usage` and the `Usage` scope: every field is a question asked in the scope, and every
row carries `usage`, the scope narrowed to the row, so breakdowns nest to any depth."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.nodes import Selection

from usageql.graphql.context import Info
from usageql.graphql.cursors import decode, encode
from usageql.graphql.inputs import (
    Dimension,
    Granularity,
    MetricOrder,
    SortDirection,
    UsageFilter,
    checked_limit,
    to_filter,
    to_order,
)
from usageql.graphql.loaders import Ask
from usageql.graphql.metrics import Metrics, child, selected, wanted
from usageql.graphql.permissions import CanRead
from usageql.query import model
from usageql.query.execute import Row
from usageql.query.time import bucket_end, buckets, span, window_start, zone


def _selections(info: Info) -> list[Selection]:
    return list(info.selected_fields[0].selections)


@strawberry.type(description="A time bucket of a series.")
class TimeBucket:
    start: datetime = strawberry.field(description="Inclusive start, at local midnight etc.")
    end: datetime = strawberry.field(description="Exclusive end (23 or 25 h later on DST days).")
    metrics: Metrics = strawberry.field(description="Metrics over the bucket.")
    # Narrowed when asked for: a series is often hundreds of buckets nobody drills into.
    series: strawberry.Private[tuple[model.Scope, model.TimeBucket]]

    @strawberry.field(description="The scope narrowed to this bucket.")
    def usage(self) -> Usage:
        scope, key = self.series
        return Usage(scope=scope.narrowed(key, self.start))


@strawberry.type(description="A model's usage.")
class ModelUsage:
    model: str = strawberry.field(description="The model, as applications name it.")
    provider: str | None = strawberry.field(description="Its provider, when reported.")
    metrics: Metrics = strawberry.field(description="Metrics over the model's events.")
    usage: Usage = strawberry.field(description="The scope narrowed to this model.")


@strawberry.type(description="A request tag's usage (an event counts for each of its tags).")
class TagUsage:
    tag: str = strawberry.field(description="The tag.")
    metrics: Metrics = strawberry.field(description="Metrics over events carrying the tag.")
    usage: Usage = strawberry.field(description="The scope narrowed to this tag.")


@strawberry.type(description="An app's usage.")
class AppUsage:
    app: str = strawberry.field(description="The app id.")
    metrics: Metrics = strawberry.field(description="Metrics over the app's events.")
    usage: Usage = strawberry.field(description="The scope narrowed to this app.")


@strawberry.type(description="One key of a breakdown row.")
class DimensionKey:
    dimension: str = strawberry.field(description="A Dimension name, or metadata.KEY.")
    value: str | None = strawberry.field(description="The value; null when events lack it.")


@strawberry.type(description="A row of a breakdown by several dimensions.")
class BreakdownRow:
    keys: list[DimensionKey] = strawberry.field(description="The row's key, one per dimension.")
    metrics: Metrics = strawberry.field(description="Metrics over the row's events.")
    usage: Usage = strawberry.field(description="The scope narrowed to this row.")


@strawberry.type(description="A person, or an end user of an app.")
class User:
    id: strawberry.ID = strawberry.field(description="The user's id in the app.")
    name: str | None = strawberry.field(description="The latest name reported.")
    email: str | None = strawberry.field(description="The latest email reported.")
    first_seen: datetime | None = strawberry.field(description="The earliest event of the user.")
    last_seen: datetime | None = strawberry.field(description="The latest event of the user.")


@strawberry.type(description="A user's usage.")
class UserUsage:
    user_id: strawberry.Private[str]
    apps: strawberry.Private[tuple[str, ...] | None]
    metrics: Metrics = strawberry.field(description="Metrics over the user's events.")
    usage: Usage = strawberry.field(description="The scope narrowed to this user.")

    @strawberry.field(description="Who the user is.")
    async def user(self, info: Info) -> User:
        return await _user(info, self.user_id, self.apps)


async def _user(info: Info, user_id: str, apps: tuple[str, ...] | None) -> User:
    profile = await info.context.reads.profiles.load((user_id, apps))
    if profile is None:  # events named the user, but no profile row exists (yet)
        return User(
            id=strawberry.ID(user_id), name=None, email=None, first_seen=None, last_seen=None
        )
    return User(
        id=strawberry.ID(profile.id),
        name=profile.name,
        email=profile.email,
        first_seen=profile.first_seen,
        last_seen=profile.last_seen,
    )


PREVIEW_CHARS = 200


@strawberry.type(
    description="A conversation with events in the scope. Its title and tags belong to the "
    "chat; when the scope names users (a users filter, or a key bound to users), its user, "
    "first message, times, models and counts come only from those users' messages."
)
class Chat:
    app: str = strawberry.field(description="The chat's app.")
    id: strawberry.ID = strawberry.field(description="The chat id.")
    title: str | None = strawberry.field(description="The latest title reported.")
    created_at: datetime = strawberry.field(description="The chat's first message.")
    updated_at: datetime = strawberry.field(description="The chat's latest message.")
    messages: int = strawberry.field(description="The chat's messages in the scope.")
    models: list[str] = strawberry.field(description="Models that answered in the scope.")
    tags: list[str] = strawberry.field(description="The chat's tags.")
    metrics: Metrics = strawberry.field(description="Metrics over the chat's events in scope.")
    usage: Usage = strawberry.field(description="The scope narrowed to this chat.")
    user_id: strawberry.Private[str | None]
    people: strawberry.Private[tuple[str, ...] | None]  # whose messages describe it; None: all

    @strawberry.field(description="The chat's user: the first one seen in it (among the users "
                      "the scope names, if it names any).")  # fmt: skip
    async def user(self, info: Info) -> User | None:
        return None if self.user_id is None else await _user(info, self.user_id, (self.app,))

    @strawberry.field(
        description="The first user message (of the users the scope names, if it names any), "
        "cut to 200 characters (as much as was kept)."
    )
    async def first_message(self, info: Info) -> str | None:
        chat = (self.app, str(self.id), self.people)
        preview = await info.context.reads.first_messages.load(chat)
        return None if preview is None else preview[:PREVIEW_CHARS]


@strawberry.type(description="A chat and its cursor.")
class ChatEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it.")
    node: Chat = strawberry.field(description="The chat.")


@strawberry.type(description="A page of chats.")
class ChatConnection:
    edges: list[ChatEdge] = strawberry.field(description="The page's chats.")
    page_info: PageInfo = strawberry.field(description="Where the page ends.")
    total_count: int = strawberry.field(description="Chats in the scope, on every page.")


@strawberry.enum(description="What chats can be sorted by.")
class ChatOrderField(enum.Enum):
    UPDATED_AT = "updated_at"
    TITLE = "title"
    USER_NAME = "user_name"
    MESSAGES = "message_count"


@strawberry.input(description="A chat list's order; ties are broken by app and id.")
class ChatOrder:
    field: ChatOrderField = strawberry.field(description="What to sort by.")
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="DESC (default): latest, largest or Z first."
    )


@strawberry.type(description="Where a page ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more rows follow.")
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on an empty page."
    )


@strawberry.type(description="A user row and its cursor.")
class UserUsageEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it.")
    node: UserUsage = strawberry.field(description="The row.")


@strawberry.type(description="A page of users.")
class UserUsageConnection:
    edges: list[UserUsageEdge] = strawberry.field(description="The page's rows.")
    page_info: PageInfo = strawberry.field(description="Where the page ends.")
    total_count: int = strawberry.field(description="Users in the scope, on every page.")


@strawberry.enum(description="How active-user periods are cut.")
class ActivityWindow(enum.Enum):
    CALENDAR = "calendar"
    ROLLING = "rolling"


@strawberry.type(description="Distinct users active in a period.")
class ActiveUsers:
    start: datetime = strawberry.field(description="Inclusive start.")
    end: datetime = strawberry.field(description="Exclusive end.")
    users: int = strawberry.field(description="Distinct users with an event in [start, end).")


@strawberry.type(description="A chat tag and how many chats carry it.")
class TagCount:
    tag: str = strawberry.field(description="The tag.")
    count: int = strawberry.field(description="Chats in the scope with this tag.")


@strawberry.type(description="Ratings in a time bucket.")
class FeedbackBucket:
    start: datetime = strawberry.field(description="Inclusive start.")
    end: datetime = strawberry.field(description="Exclusive end.")
    positive: int = strawberry.field(description="Thumbs up (won).")
    negative: int = strawberry.field(description="Thumbs down (lost).")


Series = list[tuple[datetime, datetime, Mapping[model.Metric, Any]]]


async def _series(
    info: Info,
    scope: model.Scope,
    key: model.TimeBucket,
    metrics: frozenset[model.Metric],
    *,
    fill_gaps: bool,
    source: model.Source = model.Source.EVENTS,
) -> Series:
    """Metrics per bucket; with fill_gaps, every bucket of the scope's period (or of the span
    of the data when the period is open), empty ones included."""
    tz = zone(scope.timezone)
    question = model.Question(metrics=metrics, group_by=(key,), source=source)
    rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
    found = {row.keys[0]: row.values for row in rows}
    starts: list[datetime] = [start for start in found if isinstance(start, datetime)]
    if fill_gaps:
        first, last = span(scope)
        if starts or (first is not None and last is not None):
            first = first if first is not None else min(starts)
            last = last if last is not None else bucket_end(max(starts), key.granularity, tz)
            starts = list(buckets(first, last, key.granularity, tz))
    return [
        (start, bucket_end(start, key.granularity, tz), found.get(start, {}))
        for start in sorted(starts)
    ]


async def _rolling(info: Info, scope: model.Scope, period: model.Granularity) -> Series:
    """Distinct users in the period ending at the end of each day with data (or of the scope)."""
    tz = zone(scope.timezone)
    days = await _series(
        info, scope, model.TimeBucket(model.Granularity.DAY), frozenset(), fill_gaps=True
    )
    windows = [(window_start(end, period, tz), end) for _, end, _ in days]
    question = model.Question(
        metrics=frozenset({model.Metric.USERS}), group_by=(model.Windows(tuple(windows)),)
    )
    # from/to choose the days reported; each day's window looks back a whole period.
    looking_back = replace(scope, filter=replace(scope.filter, start=None, end=None))
    rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, looking_back))
    # By both bounds: near month ends, several windows start on the same day (see Windows).
    found = {
        (row.keys[0], (row.fields or {}).get(model.Windows.END_FIELD)): row.values for row in rows
    }
    return [(start, end, found.get((start, end), {})) for start, end in windows]


def _chat(row: Row, scope: model.Scope) -> Chat:
    fields = row.fields or {}
    app, chat_id = row.keys
    return Chat(
        app=str(row.keys[0]),
        id=strawberry.ID(str(row.keys[1])),
        title=fields["title"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
        messages=int(fields["message_count"]),
        models=list(fields["model_list"] or []),
        tags=list(fields["tags"] or []),
        metrics=Metrics(values=row.values),
        usage=Usage(
            scope=scope.narrowed(model.Dimension.APP, app).narrowed(model.Dimension.CHAT, chat_id)
        ),
        user_id=fields["user_id"],
        people=scope.filter.allowed(model.Dimension.USER),
    )


async def _count(info: Info, scope: model.Scope, metric: model.Metric, offset: int) -> int:
    """A page's total when it came back empty past the end (0 when nothing is there)."""
    if offset == 0:
        return 0
    question = model.Question(metrics=frozenset({metric}))
    rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
    return int(rows[0].values.get(metric) or 0) if rows else 0


def _row_metrics(selections: list[Selection]) -> frozenset[model.Metric]:
    return wanted(child(selections, "metrics"))


async def _ranked(
    info: Info,
    parent: model.Scope,
    key: model.Dimension,
    *,
    order_by: MetricOrder | None,
    default: model.Metric,
    limit: int,
    filter: UsageFilter | None,
    extra: frozenset[model.Metric] = frozenset(),
) -> tuple[model.Scope, list[Row]]:
    """Rows keyed by one dimension, ordered and limited: what models, tags and apps share."""
    scope = parent.filtered(to_filter(filter))
    metrics = _row_metrics(_selections(info)) | extra
    order = to_order(order_by, default)
    rows = await _rows(
        info, scope, group_by=(key,), metrics=metrics, order=order, limit=checked_limit(limit)
    )
    return scope, rows


async def _rows(
    info: Info,
    scope: model.Scope,
    *,
    group_by: tuple[model.GroupKey, ...],
    metrics: frozenset[model.Metric],
    order: model.Order | None,
    limit: int | None,
    exclude_null_keys: bool = True,
) -> list[Row]:
    extra = {order.metric} if order is not None else set()
    question = model.Question(
        metrics=frozenset(metrics | extra),
        group_by=group_by,
        order=order,
        limit=limit,
        exclude_null_keys=exclude_null_keys,
    )
    rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
    return rows


@strawberry.type(
    description="Usage in a scope: the caller's visible events, narrowed by filters "
    "and by the rows above. Every field may narrow it further with its own filter."
)
class Usage:
    scope: strawberry.Private[model.Scope]

    @strawberry.field(description="Totals over the scope.")
    async def summary(self, info: Info, filter: UsageFilter | None = None) -> Metrics:
        metrics = wanted(_selections(info))
        if not metrics:
            return Metrics(values={})
        scope = self.scope.filtered(to_filter(filter))
        rows = await info.context.reads.usage.load(Ask.of(model.Question(metrics=metrics), scope))
        return Metrics(values=rows[0].values if rows else {})

    @strawberry.field(
        description="Metrics per calendar bucket in the scope's time zone. With "
        "fillGaps, empty buckets across [from, to) (or the data's span) are included."
    )
    async def timeseries(
        self,
        info: Info,
        granularity: Granularity,
        fill_gaps: bool = True,
        filter: UsageFilter | None = None,
    ) -> list[TimeBucket]:
        scope = self.scope.filtered(to_filter(filter))
        metrics = _row_metrics(_selections(info)) or frozenset({model.Metric.MESSAGES})
        key = model.TimeBucket(granularity)
        series = await _series(info, scope, key, metrics, fill_gaps=fill_gaps)
        return [
            TimeBucket(start=start, end=end, metrics=Metrics(values=values), series=(scope, key))
            for start, end, values in series
        ]

    @strawberry.field(
        description="Distinct active users per period: calendar periods (DAY, WEEK, MONTH...) in "
        "the scope's time zone; or, with window ROLLING, for each day of the scope the period "
        "ending at that day's end (e.g. MONTH: the last calendar month), looking back before "
        "`from` when needed."
    )
    async def active_users(
        self,
        info: Info,
        period: Granularity,
        window: ActivityWindow = ActivityWindow.CALENDAR,
        filter: UsageFilter | None = None,
    ) -> list[ActiveUsers]:
        scope = self.scope.filtered(to_filter(filter))
        granularity = period
        users = frozenset({model.Metric.USERS})
        if window is ActivityWindow.CALENDAR:
            key = model.TimeBucket(granularity)
            series = await _series(info, scope, key, users, fill_gaps=True)
        else:
            series = await _rolling(info, scope, granularity)
        return [
            ActiveUsers(start=start, end=end, users=int(values.get(model.Metric.USERS) or 0))
            for start, end, values in series
        ]

    @strawberry.field(description="Thumbs up and down per bucket; empty buckets included.")
    async def feedback(
        self,
        info: Info,
        granularity: Granularity = Granularity.DAY,
        fill_gaps: bool = True,
        filter: UsageFilter | None = None,
    ) -> list[FeedbackBucket]:
        scope = self.scope.filtered(to_filter(filter))
        key = model.TimeBucket(granularity)
        ratings = frozenset({model.Metric.POSITIVE_FEEDBACK, model.Metric.NEGATIVE_FEEDBACK})
        series = await _series(
            info, scope, key, ratings, fill_gaps=fill_gaps, source=model.Source.FEEDBACK
        )
        return [
            FeedbackBucket(
                start=start,
                end=end,
                positive=int(values.get(model.Metric.POSITIVE_FEEDBACK) or 0),
                negative=int(values.get(model.Metric.NEGATIVE_FEEDBACK) or 0),
            )
            for start, end, values in series
        ]

    @strawberry.field(
        description="The most common chat tags among the chats with an event in the scope, "
        "with how many of those chats carry each."
    )
    async def chat_tags(
        self, info: Info, limit: int = 10, filter: UsageFilter | None = None
    ) -> list[TagCount]:
        scope = self.scope.filtered(to_filter(filter))
        question = model.Question(
            metrics=frozenset({model.Metric.CHATS}),
            group_by=(model.Dimension.TAG,),
            order=model.Order(model.Metric.CHATS),
            limit=checked_limit(limit),
            source=model.Source.CHAT_TAGS,
        )
        rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
        return [
            TagCount(tag=str(row.keys[0]), count=int(row.values[model.Metric.CHATS]))
            for row in rows
        ]

    @strawberry.field(description="Usage per model, most messages first by default.")
    async def models(
        self,
        info: Info,
        order_by: MetricOrder | None = None,
        limit: int = 50,
        filter: UsageFilter | None = None,
    ) -> list[ModelUsage]:
        key = model.Dimension.MODEL
        provider = {model.Metric.PROVIDER} if selected(_selections(info), "provider") else set()
        scope, rows = await _ranked(
            info, self.scope, key, order_by=order_by, default=model.Metric.MESSAGES,
            limit=limit, filter=filter, extra=frozenset(provider),
        )  # fmt: skip
        return [
            ModelUsage(
                model=str(row.keys[0]),
                provider=row.values.get(model.Metric.PROVIDER),
                metrics=Metrics(values=row.values),
                usage=Usage(scope=scope.narrowed(key, row.keys[0])),
            )
            for row in rows
        ]

    @strawberry.field(
        description="Usage per user (events without a user are left out), most messages first "
        "by default; paginated with cursors."
    )
    async def users(
        self,
        info: Info,
        order_by: MetricOrder | None = None,
        first: int = 50,
        after: str | None = None,
        filter: UsageFilter | None = None,
    ) -> UserUsageConnection:
        key = await info.context.cursor_key()
        offset = 0 if after is None else decode(key, "users", after) + 1
        scope = self.scope.filtered(to_filter(filter))
        selections = _selections(info)
        node = child(child(selections, "edges"), "node")
        question = model.Question(
            metrics=_row_metrics(node) | {to_order(order_by, model.Metric.MESSAGES).metric},
            group_by=(model.Dimension.USER,),
            order=to_order(order_by, model.Metric.MESSAGES),
            limit=checked_limit(first, "first"),
            offset=offset,
            with_total=True,
        )
        rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
        total = rows[0].total if rows else await _count(info, scope, model.Metric.USERS, offset)
        apps = scope.filter.allowed(model.Dimension.APP)
        edges = [
            UserUsageEdge(
                cursor=encode(key, "users", offset + position),
                node=UserUsage(
                    user_id=str(row.keys[0]),
                    apps=apps,
                    metrics=Metrics(values=row.values),
                    usage=Usage(scope=scope.narrowed(model.Dimension.USER, row.keys[0])),
                ),
            )
            for position, row in enumerate(rows)
        ]
        return UserUsageConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=offset + len(rows) < (total or 0),
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total or 0,
        )

    @strawberry.field(
        description="The chat browser: chats with events in the scope, latest update first by "
        "default, with their title, user, first message, models, tags and metrics."
    )
    async def chats(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        order_by: ChatOrder | None = None,
        filter: UsageFilter | None = None,
    ) -> ChatConnection:
        key = await info.context.cursor_key()
        offset = 0 if after is None else decode(key, "chats", after) + 1
        scope = self.scope.filtered(to_filter(filter))
        node = child(child(_selections(info), "edges"), "node")
        sort = model.ChatSort()
        if order_by is not None:
            sort = model.ChatSort(
                model.ChatField(order_by.field.value), order_by.direction is SortDirection.DESC
            )
        question = model.Question(
            metrics=_row_metrics(node),
            limit=checked_limit(first, "first"),
            offset=offset,
            with_total=True,
            source=model.Source.CHATS,
            chat_sort=sort,
        )
        rows: list[Row] = await info.context.reads.usage.load(Ask.of(question, scope))
        total = rows[0].total if rows else await _count(info, scope, model.Metric.CHATS, offset)
        edges = [
            ChatEdge(cursor=encode(key, "chats", offset + position), node=_chat(row, scope))
            for position, row in enumerate(rows)
        ]
        return ChatConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=offset + len(rows) < (total or 0),
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total or 0,
        )

    @strawberry.field(description="Usage per request tag, most requests first by default.")
    async def tags(
        self,
        info: Info,
        order_by: MetricOrder | None = None,
        limit: int = 250,
        filter: UsageFilter | None = None,
    ) -> list[TagUsage]:
        key = model.Dimension.TAG
        scope, rows = await _ranked(
            info, self.scope, key, order_by=order_by, default=model.Metric.REQUESTS,
            limit=limit, filter=filter,
        )  # fmt: skip
        return [
            TagUsage(
                tag=str(row.keys[0]),
                metrics=Metrics(values=row.values),
                usage=Usage(scope=scope.narrowed(key, row.keys[0])),
            )
            for row in rows
        ]

    @strawberry.field(description="Usage per app, most messages first by default.")
    async def apps(
        self,
        info: Info,
        order_by: MetricOrder | None = None,
        limit: int = 50,
        filter: UsageFilter | None = None,
    ) -> list[AppUsage]:
        key = model.Dimension.APP
        scope, rows = await _ranked(
            info, self.scope, key, order_by=order_by, default=model.Metric.MESSAGES,
            limit=limit, filter=filter,
        )  # fmt: skip
        return [
            AppUsage(
                app=str(row.keys[0]),
                metrics=Metrics(values=row.values),
                usage=Usage(scope=scope.narrowed(key, row.keys[0])),
            )
            for row in rows
        ]

    @strawberry.field(
        description="Usage per combination of dimensions and metadata keys; "
        "events lacking a key form a row with a null value."
    )
    async def breakdown(
        self,
        info: Info,
        *,
        by: list[Dimension],
        metadata_keys: list[str] | None = None,
        order_by: MetricOrder | None = None,
        limit: int = 100,
        filter: UsageFilter | None = None,
    ) -> list[BreakdownRow]:
        keys: list[model.GroupKey] = list(by)
        for name in metadata_keys or []:
            if not name or len(name) > 64 or "\x00" in name:
                raise ValueError(
                    "metadataKeys: each key must be 1 to 64 characters, without NUL characters"
                )
            keys.append(model.MetadataKey(name))
        if not keys or len(keys) > 5:
            raise ValueError("by: give 1 to 5 dimensions and metadata keys in all")
        scope = self.scope.filtered(to_filter(filter))
        order = to_order(order_by, model.Metric.MESSAGES)
        metrics = _row_metrics(_selections(info))
        rows = await _rows(
            info,
            scope,
            group_by=tuple(keys),
            metrics=metrics,
            order=order,
            limit=checked_limit(limit),
            exclude_null_keys=False,
        )
        result = []
        for row in rows:
            narrowed = scope
            for key, value in zip(keys, row.keys, strict=True):
                narrowed = narrowed.narrowed(key, value)
            result.append(
                BreakdownRow(
                    keys=[
                        DimensionKey(dimension=_key_name(k), value=None if v is None else str(v))
                        for k, v in zip(keys, row.keys, strict=True)
                    ],
                    metrics=Metrics(values=row.values),
                    usage=Usage(scope=narrowed),
                )
            )
        return result


def _key_name(key: model.GroupKey) -> str:
    if isinstance(key, model.Dimension):
        return key.name
    if isinstance(key, model.MetadataKey):
        return f"metadata.{key.key}"
    raise TypeError(f"breakdowns are by dimensions and metadata keys, not {key!r}")


@strawberry.type
class UsageQuery:
    @strawberry.field(
        description="The usage visible to the caller's key, narrowed by filter. timezone (IANA) "
        "decides where days, weeks and months begin for everything below.",
        permission_classes=[CanRead],
    )
    def usage(self, info: Info, filter: UsageFilter | None = None, timezone: str = "UTC") -> Usage:
        zone(timezone)  # reject unknown names here, with the argument named
        # The key's apps and users bound every scope: it starts here and is only ever narrowed
        # (AND); the loaders narrow every statement to the bound again, whatever the scope.
        return Usage(scope=info.context.reads.scope(to_filter(filter), timezone))
