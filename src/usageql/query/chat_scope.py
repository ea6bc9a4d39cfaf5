"""The chats of some models in a period, from `chat_models`: Open WebUI's model overview.

The chat panels of a model's overview (`usage(filter: {models: [...], from, to}) { chatTags chats
}`) ask for every chat with a message of those models in the period. From the (chat, hour) rollup
that is a row per chat and hour, made distinct, then each chat looked up in `chats` for its tags
and times: ~92k chats, about a second, at 10M events. `chat_models` holds each chat's first and
last message time per model, and the chat's tags, so the chats in scope are an index range of it
(app, model, last_at), already distinct per model:

    a chat is in scope  <=>  first_at < end  and  last_at >= start
                             and, if first_at < start and last_at >= end, it has a message of
                             the model inside (its rows of the (chat, hour) rollup in the whole
                             hours, raw messages in the partial ones)

The chat tags count the tags of those rows, per set of tags. The chat browser, in its default
order (latest first), walks `chats` by `updated_at` (an index, ties by app and chat id in byte
order, as the browser breaks them) until it has a page of chats in scope, and counts the scope
apart; only the page's chats are described and summed. A chat's `updated_at` is its last
message's time (usageql.ingest.describe, before the batch is acknowledged), so a chat in scope was
updated at or after the period's start: the walk stops there.

Only questions whose filter is apps, models (at least one) and time, with no drill-down, are
answered so; the other chat panels read the (chat, hour) rollup or raw events as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Select,
    Subquery,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on

from usageql.db.tables import chat_models, chats, messages, usage_hourly_chats
from usageql.query.chats_count import Apps, at, ceil_hour, floor_hour, partial_hours
from usageql.query.model import ChatSort, Dimension, Filter, GroupKey, Question, Source

TimeRange = tuple[datetime, datetime]
# The browser's order, as usageql.query.compile sorts chats: ties in byte order.
_BYTES = "C"


@dataclass(frozen=True, slots=True)
class ChatScope:
    """The chats of `filter`'s models in its period (see the module's doc)."""

    filter: Filter
    models: tuple[str, ...]

    @property
    def raw_ranges(self) -> list[TimeRange]:
        """The partial hours at the period's edges: a chat with messages before and after the
        period is in scope if it has one inside, which raw events tell there."""
        return partial_hours(self.filter)

    def rows(self, *, scanned: bool) -> Select[Any] | CompoundSelect[Any]:
        """The rows of `chat_models` in scope: (app_id, chat_id, model, tags, described_at).
        `scanned` (a range read, not a chat's rows looked up): those spanning the whole period
        are checked apart (a UNION ALL), so that the others, nearly all, are read with plain
        conditions (131 -> 110 ms for a model's month at 10M events, in psql)."""
        c = chat_models.c
        start, end = self.filter.start, self.filter.end
        conditions = [
            Apps(None, self.filter.allowed(Dimension.APP)).holds(c.app_id),
            c.model == any_(bindparam(None, list(self.models), type_=ARRAY(Text))),
        ]
        if start is not None:
            conditions.append(c.last_at >= at(start))
        if end is not None:
            conditions.append(c.first_at < at(end))
        columns = (c.app_id, c.chat_id, c.model, c.tags, c.described_at)
        if start is None or end is None:
            return select(*columns).where(*conditions)
        within = or_(c.first_at >= at(start), c.last_at < at(end))
        inside = self._inside(start, end)
        if not scanned:
            return select(*columns).where(*conditions, or_(within, inside))
        spanning = [c.first_at < at(start), c.last_at >= at(end), inside]
        return union_all(
            select(*columns).where(*conditions, within),
            select(*columns).where(*conditions, *spanning),
        )

    def chats(self, *, scanned: bool) -> Subquery:
        """The chats in scope, each once, with its tags (the latest copy, should two of its
        models' rows differ while a chat record is being copied)."""
        rows = self.rows(scanned=scanned).subquery("scope_rows")
        if len(self.models) == 1:
            return rows
        return (
            select(rows.c.app_id, rows.c.chat_id, rows.c.tags)
            .ext(distinct_on(rows.c.app_id, rows.c.chat_id))
            .order_by(rows.c.app_id, rows.c.chat_id, rows.c.described_at.desc().nulls_last())
            .subquery("scope_chats")
        )

    def _inside(self, start: datetime, end: datetime) -> ColumnElement[bool]:
        """Whether the row's chat had a message of its model in [start, end)."""
        c, hours, m = chat_models.c, usage_hourly_chats.c, messages.c
        found: list[ColumnElement[bool]] = []
        whole_start, whole_end = ceil_hour(start), floor_hour(end)
        if whole_start < whole_end:
            found.append(
                exists()
                .where(
                    hours.app_id == c.app_id,
                    hours.chat_id == c.chat_id,
                    hours.hour >= at(whole_start),
                    hours.hour < at(whole_end),
                    hours.model == c.model,
                )
                .correlate(chat_models)
            )
        edges = self.raw_ranges if whole_start < whole_end else [(start, end)]
        for edge_start, edge_end in edges:
            found.append(
                exists()
                .where(
                    m.app_id == c.app_id,
                    m.ts >= at(edge_start),
                    m.ts < at(edge_end),
                    m.chat_id == c.chat_id,
                    m.model == c.model,
                )
                .correlate(chat_models)
            )
        return or_(*found)


def plan(question: Question, filter: Filter, narrow_keys: tuple[GroupKey, ...]) -> ChatScope | None:
    """Whether the chat panel `question` is answered from `chat_models` (see the module's doc)."""
    models = filter.allowed(Dimension.MODEL)
    if not models or narrow_keys or filter.tag_contains or filter.metadata:
        return None
    if any(dimension not in (Dimension.APP, Dimension.MODEL) for dimension, _ in filter.values):
        return None
    if question.source is Source.CHATS:
        if (question.chat_sort or ChatSort()) != ChatSort():
            return None  # only the default order is walked
    elif question.source is not Source.CHAT_TAGS:
        return None
    return ChatScope(filter, tuple(sorted(set(models))))


def chat_tags(scope: ChatScope) -> Select[Any]:
    """Chats per chat tag among the chats in scope: (g0: the tag, chats), not yet ordered. The
    chats are counted per set of tags first: chats share a few sets (64 for ~92k chats at 10M
    events), so each set's tags are unnested once, not each chat's."""
    in_scope = scope.chats(scanned=True)
    per_set = (
        select(in_scope.c.tags, func.count().label("chats"))
        .group_by(in_scope.c.tags)
        .subquery("tag_sets")
    )
    tag = func.unnest(per_set.c.tags).column_valued("chat_tag")
    return (
        select(tag.label("g0"), cast(func.sum(per_set.c.chats), BigInteger).label("chats"))
        .select_from(per_set)
        .group_by(literal_column("g0"))
    )


def chat_page(
    question: Question,
    scope: ChatScope,
    per_chat: Callable[[Select[Any]], Subquery],
    fields: tuple[str, ...],
    total_label: str,
) -> Select[Any]:
    """The browser's page of chats in scope, latest first: `per_chat(keys)` sums the events of
    the chats `keys` selects (app_id, chat_id); each row also carries the scope's chat count."""
    in_scope = scope.chats(scanned=False)  # looked up per chat walked
    walked = chats.c
    start = scope.filter.start
    conditions = [
        Apps(None, scope.filter.allowed(Dimension.APP)).holds(walked.app_id),
        exists()
        .where(in_scope.c.app_id == walked.app_id, in_scope.c.chat_id == walked.chat_id)
        .correlate(chats),
    ]
    if start is not None:
        conditions.append(walked.updated_at >= at(start))
    order = _latest_first(walked.updated_at, walked.app_id, walked.chat_id)
    page = select(chats).where(*conditions).order_by(*order).offset(question.offset)
    if question.limit is not None:
        page = page.limit(question.limit)
    paged = page.cte("chat_page")
    summed = per_chat(select(paged.c.app_id, paged.c.chat_id))
    total = select(func.count()).select_from(scope.chats(scanned=True)).scalar_subquery()
    joined = paged.join(summed, and_(summed.c.g0 == paged.c.app_id, summed.c.g1 == paged.c.chat_id))
    described = [paged.c[field] if field in paged.c else summed.c[field] for field in fields]
    metrics = [column for column in summed.c if column.name not in {"g0", "g1", *fields}]
    return (
        select(summed.c.g0, summed.c.g1, *metrics, *described, total.label(total_label))
        .select_from(joined)
        .order_by(*_latest_first(paged.c.updated_at, paged.c.app_id, paged.c.chat_id))
    )


def _latest_first(updated_at: Any, app_id: Any, chat_id: Any) -> list[Any]:
    return [
        updated_at.desc().nulls_last(),
        app_id.collate(_BYTES).asc(),
        chat_id.collate(_BYTES).asc(),
    ]
