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

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    Text,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert

from usageql.db.tables import (
    ANY_APP,
    usage_daily_tag_user_sets,
    usage_daily_user_sets,
    usage_hourly_chats,
    usage_hourly_tags,
    user_numbers,
)
from usageql.db.unnest import unnest
from usageql.db.user_numbers import number_of, numbers_set
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
    """The numbers of the users in `hourly`'s rows, per key of `table` (the UTC day), sorted;
    an empty set where no row has a user."""
    keys = [c.name for c in table.primary_key.columns if c.name not in ("app_id", "day")]
    day = func.date_trunc("day", hourly.c.hour, "UTC", type_=table.c.day.type).label("day")
    groups = [hourly.c.app_id, day, *(hourly.c[key] for key in keys)]
    users = numbers_set().label("users")
    joined = hourly.outerjoin(user_numbers, number_of(hourly.c.user_id))
    return select(*groups, users).select_from(joined).group_by(*groups).order_by(*groups)


def add_sets(table: Table, rows: Select[Any]) -> Insert:
    """Add `rows` (the table's keys, then a set) to `table`: a set already there takes the
    union, sorted."""
    key_names = [c.name for c in table.primary_key.columns]
    statement = insert(table).from_select([*key_names, "users"], rows)
    both = (
        func.unnest(table.c.users.concat(statement.excluded.users))
        .table_valued("n")
        .render_derived()
    )
    union = select(both.c.n).distinct().order_by(both.c.n).scalar_subquery()
    merged = func.array(union, type_=ARRAY(BigInteger))
    return statement.on_conflict_do_update(index_elements=key_names, set_={"users": merged})
