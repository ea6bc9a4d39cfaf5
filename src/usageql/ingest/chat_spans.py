"""Chat spans and hourly first appearances, kept in the transaction that stores the messages.

`chat_spans` holds each chat's first and last message time; `chat_firsts_hourly` counts each chat
once, in the UTC hour of its first message, so a period's new chats add up from it
(usageql.query.chats_count); `chat_models` holds each chat's first and last message time per
model (usageql.query.chat_scope; its tags are set after the batch commits, by
usageql.ingest.describe). One statement does all three: it widens the spans of the batch's chats
and moves each chat whose first message changed hour (a new chat, or a late message older than
its stored first) from the old hour's count to the new one's. The old first time comes back from
the upsert itself (`moved_from`), read from the row the upsert locked, so two batches of one chat
at once count it once whichever commits first: the second waits for the first's row, then sees
its first time. Only messages really stored are given here, so a duplicate adds nothing. Rows are
written in key order, after the hourly rollups, so concurrent batches lock them in one order and
cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Text,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert

from usageql.db.tables import chat_firsts_hourly, chat_models, chat_spans, chats
from usageql.db.unnest import unnest, unnest_with_lists
from usageql.ingest.records import Chat, MessageRow, latest_chat_records, row_values

_KEYS = row_values("app_id", "chat_id", "ts")
_MODEL_KEYS = row_values("app_id", "chat_id", "model", "ts")
_TIMESTAMP = DateTime(timezone=True)
_TEXTS = ARRAY(Text)

K = TypeVar("K")
Spans = dict[tuple[str, str], tuple[datetime, datetime]]
ModelSpans = dict[tuple[str, str, str], tuple[datetime, datetime]]


def _widest(timed: Iterable[tuple[K, datetime]]) -> dict[K, tuple[datetime, datetime]]:
    """The first and last time of each key among (key, time) pairs."""
    spans: dict[K, tuple[datetime, datetime]] = {}
    for key, ts in timed:
        span = spans.get(key)
        if span is None:
            spans[key] = (ts, ts)
        elif ts < span[0]:
            spans[key] = (ts, span[1])
        elif ts > span[1]:
            spans[key] = (span[0], ts)
    return spans


def batch_spans(rows: Iterable[MessageRow]) -> Spans:
    """The first and last time of each (app, chat) among `rows` (messages without a chat: none)."""
    return _widest(((app, chat), ts) for app, chat, ts in map(_KEYS, rows) if chat is not None)


def batch_model_spans(rows: Iterable[MessageRow]) -> ModelSpans:
    """The first and last time of each (app, chat, model) among `rows` (with a chat and a model)."""
    return _widest(
        ((app, chat, model), ts)
        for app, chat, model, ts in map(_MODEL_KEYS, rows)
        if chat is not None and model is not None
    )


def chat_spans_upsert(rows: Sequence[MessageRow], records: Sequence[Chat] = ()) -> Insert | None:
    """One statement adding the chats of `rows` (just inserted) to the spans and the counts;
    `records`: the batch's chat records that will describe its chats (for chat_models' tags)."""
    spans = batch_spans(rows)
    if not spans:
        return None
    keys = sorted(spans)
    widened = insert(chat_spans).from_select(
        ["app_id", "chat_id", "first_at", "last_at"],
        unnest(
            app_id=(Text(), [app for app, _ in keys]),
            chat_id=(Text(), [chat for _, chat in keys]),
            first_at=(_TIMESTAMP, [spans[key][0] for key in keys]),
            last_at=(_TIMESTAMP, [spans[key][1] for key in keys]),
        ),
    )
    new, old = widened.excluded, chat_spans.c
    changed = (
        widened.on_conflict_do_update(
            index_elements=["app_id", "chat_id"],
            set_={
                "first_at": func.least(old.first_at, new.first_at),
                "last_at": func.greatest(old.last_at, new.last_at),
                "moved_from": old.first_at,
            },
            where=or_(new.first_at < old.first_at, new.last_at > old.last_at),
        )
        .returning(old.app_id, old.first_at, old.moved_from)
        .cte("changed_spans")
    )
    # moved_from is NULL on a row just inserted: a new chat, counted in its first hour.
    hour, before = _hour(changed.c.first_at), _hour(changed.c.moved_from)
    moved = or_(changed.c.moved_from.is_(None), before != hour)
    arrivals = select(changed.c.app_id, hour.label("hour"), literal(1).label("chats")).where(moved)
    departures = select(changed.c.app_id, before, literal(-1)).where(
        changed.c.moved_from.is_not(None), before != hour
    )
    moves = union_all(arrivals, departures).subquery("moves")
    total = func.sum(moves.c.chats)
    counts = (
        select(moves.c.app_id, moves.c.hour, total)
        .group_by(moves.c.app_id, moves.c.hour)
        .having(total != 0)
        .order_by(moves.c.app_id, moves.c.hour)
    )
    statement = insert(chat_firsts_hourly).from_select(["app_id", "hour", "chats"], counts)
    added = chat_firsts_hourly.c.chats + statement.excluded.chats
    statement = statement.on_conflict_do_update(
        index_elements=["app_id", "hour"], set_={"chats": added}
    ).add_cte(changed)
    models = _models_upsert(batch_model_spans(rows), records)
    return statement if models is None else statement.add_cte(models)


def _models_upsert(spans: ModelSpans, records: Sequence[Chat]) -> Any:
    """The CTE widening the batch's (chat, model) spans (None: no message names both). A new row
    takes the chat's tags as stored or, if newer, as the batch's latest record of the chat says
    (`records`, which describe_batch applies after commit): most chats arrive with their first
    record, before `chats` has a row, and their rows then need no copy after commit
    (usageql.ingest.describe copies what is behind)."""
    if not spans:
        return None
    keys = sorted(spans)
    latest = latest_chat_records(records)
    said = [latest.get((app, chat)) for app, chat, _ in keys]
    sent, said_tags = unnest_with_lists(
        "said_tags",
        [() if record is None else record.tags for record in said],
        app_id=(Text(), [app for app, _, _ in keys]),
        chat_id=(Text(), [chat for _, chat, _ in keys]),
        model=(Text(), [model for _, _, model in keys]),
        first_at=(_TIMESTAMP, [spans[key][0] for key in keys]),
        last_at=(_TIMESTAMP, [spans[key][1] for key in keys]),
        said_at=(_TIMESTAMP, [None if record is None else record.timestamp for record in said]),
    )
    described = sent.outerjoin(
        chats, and_(chats.c.app_id == sent.c.app_id, chats.c.chat_id == sent.c.chat_id)
    )
    # The batch's record where it is newer than the stored one (or none is stored).
    newer = sent.c.said_at.is_not(None) & (
        chats.c.described_at.is_(None) | (sent.c.said_at > chats.c.described_at)
    )
    stored_tags = func.coalesce(chats.c.tags, literal([], _TEXTS))
    rows = (
        select(
            sent.c.app_id,
            sent.c.chat_id,
            sent.c.model,
            sent.c.first_at,
            sent.c.last_at,
            case((newer, said_tags), else_=stored_tags),
            case((newer, sent.c.said_at), else_=chats.c.described_at),
        )
        .select_from(described)
        .order_by(sent.c.app_id, sent.c.chat_id, sent.c.model)  # the lock order, whatever the join
    )
    widened = insert(chat_models).from_select(
        ["app_id", "chat_id", "model", "first_at", "last_at", "tags", "described_at"], rows
    )
    new, old = widened.excluded, chat_models.c
    return widened.on_conflict_do_update(
        index_elements=["app_id", "chat_id", "model"],
        set_={
            "first_at": func.least(old.first_at, new.first_at),
            "last_at": func.greatest(old.last_at, new.last_at),
        },
        where=or_(new.first_at < old.first_at, new.last_at > old.last_at),
    ).cte("widened_chat_models")


def _hour(moment: ColumnElement[datetime]) -> ColumnElement[datetime]:
    return func.date_trunc("hour", moment, "UTC", type_=DateTime(timezone=True))
