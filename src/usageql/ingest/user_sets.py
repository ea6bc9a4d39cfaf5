"""User numbers and the daily sets of them (usageql.query.user_sets): the numbers given before a
batch is stored, the sets kept in the transaction that stores its messages.

`numbers_insert` gives each user of a batch a number the first time one of their messages comes,
in a statement that commits on its own before the batch's transaction begins (write.store_batch).
A user first seen by two concurrent batches is inserted by one; the other waits for that
statement only. Inside the batch's transaction, which lasts until its rollups are written, it
held every concurrent batch with a new user behind it until the first committed (1 worker, 4
clients: 139 ms per batch waiting, docs/scaling.md). A number whose messages are then not stored
(duplicates, refused values) is in no set: it takes a row and counts nowhere. Only users without
a number yet are proposed, so no identity value is spent on users already numbered.
`set_upserts` adds each batch's users to the sets of their UTC days (and tags), from the rows the
rollups' statement sends for the hourly rollups: a set holds a number once, so duplicates and
late events keep it exact. A day (and tag) with messages but no user has a row with an empty set:
its bucket exists, with no users, as it does over raw events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    SmallInteger,
    Table,
    Text,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, Insert, aggregate_order_by, array, insert

from usageql.db.tables import (
    ANY_APP,
    DAY_HOURS,
    SET_HOURS,
    usage_daily_tag_user_sets,
    usage_daily_user_sets,
    usage_hourly_chats,
    usage_hourly_tags,
    user_numbers,
)
from usageql.db.unnest import unnest
from usageql.db.user_numbers import number_of
from usageql.ingest.records import Message

# Each set table and the hourly rollup whose rows sent in the same statement it is added up from.
SETS = (
    (usage_daily_user_sets, usage_hourly_chats),
    (usage_daily_tag_user_sets, usage_hourly_tags),
)


def numbers_insert(messages: Iterable[Message]) -> Insert | None:
    """One statement numbering the users of `messages` that have no number yet, in key order, so
    that concurrent batches lock new users' rows in the same order."""
    users = sorted({message.user.id for message in messages if message.user})
    if not users:
        return None
    sent = unnest(user_id=(Text(), users)).subquery("sent")
    known = exists().where(number_of(sent.c.user_id))
    new = select(literal(ANY_APP), sent.c.user_id).where(~known).order_by(sent.c.user_id)
    return (
        insert(user_numbers)
        .from_select(["app_id", "user_id"], new)
        .on_conflict_do_nothing(index_elements=["app_id", "user_id"])
    )


def set_upserts(sent: dict[str, Any]) -> list[tuple[str, Insert]]:
    """Per set table, the upsert adding the users of the rows sent for its hourly rollup (the
    CTEs of the rollups' statement, by table name) to their days' sets."""
    return [
        (table.name, add_sets(table, numbered(table, sent[hourly.name]))) for table, hourly in SETS
    ]


def numbered(table: Table, hourly: Any) -> Select[Any]:
    """The numbers of the users in `hourly`'s rows, per key of `table` (the UTC day), sorted,
    with each one's first and last UTC hour of day (from the rows' hours, or from their
    `first_hour` and `last_hour` where they are a daily table's: compaction), and those of the
    rows without a user; an empty set where no row has a user."""
    keys = [c.name for c in table.primary_key.columns if c.name not in ("app_id", "day")]
    day = func.date_trunc("day", hourly.c.hour, "UTC", type_=table.c.day.type).label("day")
    groups = [hourly.c.app_id, day, *(hourly.c[key] for key in keys)]
    # A daily table's rows hold hours of day; hourly rows their hours, whose hour of day is
    # taken once per user, from the least and greatest.
    daily = all(name in hourly.c for name in DAY_HOURS)
    first, last = (hourly.c[name] for name in DAY_HOURS) if daily else (hourly.c.hour,) * 2
    hour_of: Callable[[Any], Any] = _as_it_is if daily else _hour_of_day
    number = user_numbers.c.number.label("number")
    joined = hourly.outerjoin(user_numbers, number_of(hourly.c.user_id))
    per_user = (
        select(*groups, number, func.min(first).label("first"), func.max(last).label("last"))
        .select_from(joined)
        .group_by(*groups, number)
        .subquery("per_user")
    )
    u = per_user.c
    named = u.number.is_not(None)

    def aligned(column: Any, type_: Any) -> Any:
        found = func.array_agg(aggregate_order_by(column, u.number)).filter(named)
        return func.coalesce(found, array([], type_=type_))

    first_hours, last_hours = SET_HOURS
    columns = [
        aligned(u.number, BigInteger).label("users"),
        aligned(hour_of(u.first), SmallInteger).label(first_hours),
        aligned(hour_of(u.last), SmallInteger).label(last_hours),
        func.min(hour_of(u.first)).filter(~named).label("unnamed_first"),
        func.max(hour_of(u.last)).filter(~named).label("unnamed_last"),
    ]
    kept = [u.app_id, u.day, *(u[key] for key in keys)]
    return select(*kept, *columns).group_by(*kept).order_by(*kept)


def _as_it_is(hour: Any) -> Any:
    return hour


def _hour_of_day(hour: Any) -> Any:
    return cast(func.extract("hour", func.timezone("UTC", hour)), SmallInteger)


_SET_COLUMNS = ("users", *SET_HOURS, "unnamed_first", "unnamed_last")


def add_sets(table: Table, rows: Select[Any]) -> Insert:
    """Add `rows` (the table's keys, then a set with its users' hours, as `numbered` gives them)
    to `table`: a set already there takes the union, sorted, each user's hours the earliest
    first and the latest last of both."""
    key_names = [c.name for c in table.primary_key.columns]
    statement = insert(table).from_select([*key_names, *_SET_COLUMNS], rows)
    new = statement.excluded
    first_hours, last_hours = SET_HOURS
    cells = (
        func.unnest(
            table.c.users.concat(new.users),
            table.c[first_hours].concat(new[first_hours]),
            table.c[last_hours].concat(new[last_hours]),
        )
        .table_valued("n", "f", "l")
        .render_derived()
    )

    def of(value: Any, type_: Any) -> Any:
        per_user = select(value).select_from(cells).group_by(cells.c.n).order_by(cells.c.n)
        return func.array(per_user.scalar_subquery(), type_=ARRAY(type_))

    return statement.on_conflict_do_update(
        index_elements=key_names,
        set_={
            "users": of(cells.c.n, BigInteger),
            first_hours: of(func.min(cells.c.f), SmallInteger),
            last_hours: of(func.max(cells.c.l), SmallInteger),
            "unnamed_first": func.least(table.c.unnamed_first, new.unnamed_first),
            "unnamed_last": func.greatest(table.c.unnamed_last, new.unnamed_last),
        },
    )
