"""User numbers and the daily sets of them (usageql.query.user_sets), kept in the transaction that
stores the messages.

`numbers_insert` gives each user of a batch a number the first time a message of theirs is
stored. It runs as a statement of its own, before the rollups: a user first seen by two concurrent
batches is inserted by one, the other waits for its commit, and its next statement (a new
snapshot) sees the number. Only users without a number yet are proposed, so no identity value is
spent on users already numbered. `set_upserts` adds each batch's users to the sets of their UTC
days (and tags), from the rows the same statement sends for the hourly rollups: a set holds a
number once, so duplicates and late events keep it exact. A day (and tag) with messages but no
user has a row with an empty set: its bucket exists, with no users, as it does over raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from usageql.db.user_numbers import number_of, numbers_set
from usageql.ingest.records import MessageRow, row_values
from usageql.ingest.unnest import unnest

# Each set table and the hourly rollup whose rows sent in the same statement it is added up from.
SETS = (
    (usage_daily_user_sets, usage_hourly_chats),
    (usage_daily_tag_user_sets, usage_hourly_tags),
)
_USER = row_values("user_id")


def numbers_insert(rows: Sequence[MessageRow]) -> Insert | None:
    """One statement numbering the users of `rows` that have no number yet, in key order, so
    that concurrent batches lock new users' rows in the same order."""
    users = sorted({user for user in map(_USER, rows) if user})
    if not users:
        return None
    sent = unnest(user_id=(Text(), users)).subquery("sent")
    numbered = exists().where(number_of(sent.c.user_id))
    new = select(literal(ANY_APP), sent.c.user_id).where(~numbered).order_by(sent.c.user_id)
    return (
        insert(user_numbers)
        .from_select(["app_id", "user_id"], new)
        .on_conflict_do_nothing(index_elements=["app_id", "user_id"])
    )


def set_upserts(sent: dict[str, Any]) -> list[tuple[str, Insert]]:
    """Per set table, the upsert adding the users of the rows sent for its hourly rollup (the
    CTEs of the rollups' statement, by table name) to their days' sets."""
    return [
        (table.name, _upsert(table, _numbered(table, sent[hourly.name]))) for table, hourly in SETS
    ]


def _numbered(table: Table, hourly: Any) -> Select[Any]:
    """The numbers of the users in `hourly`'s rows, per key of `table` (the UTC day), sorted;
    an empty set where no row has a user."""
    keys = [c.name for c in table.primary_key.columns if c.name not in ("app_id", "day")]
    day = func.date_trunc("day", hourly.c.hour, "UTC", type_=table.c.day.type).label("day")
    groups = [hourly.c.app_id, day, *(hourly.c[key] for key in keys)]
    users = numbers_set().label("users")
    joined = hourly.outerjoin(user_numbers, number_of(hourly.c.user_id))
    return select(*groups, users).select_from(joined).group_by(*groups).order_by(*groups)


def _upsert(table: Table, rows: Select[Any]) -> Insert:
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
