"""Distinct users from the daily sets of user numbers (usageql.ingest.user_sets).

A plan whose days come from `usage_daily_user_sets` or `usage_daily_tag_user_sets` (rollups.Plan
.reads_sets) answers only distinct users. Its relation has the usual `ts`, `app_id` and keys, and
instead of a user a column `SETS_COLUMN` of user numbers: each day's set, then per other whole hour
(from the hourly table) and per partial hour (from raw events) the numbers of its users, gathered
into one array per hour and keys; the first or last hours of a day (pieces.day_ends: a Berlin
week's first 22 or 23 hours of the UTC day it ends in, and its last one or two of the day it starts
in) take the members of the day's set whose first message is before their end and whose last one
is at or after their start (the set's hours, usageql.db.tables.SET_HOURS). The compiler
computes each row's keys once and counts the distinct numbers of its sets (compile._members): a
distinct count of numbers is a distinct count of user ids, as an id has one number whatever the app
(distinct users are counted by id across apps, as over raw events). Every row's set holds distinct
numbers and one NULL, as rows of events without a user do, so that a day (and tag) whose messages
have no user is still a group of the answer, with no users, as over raw events; a group of one row
counts its set's size less one instead of unnesting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Select,
    SmallInteger,
    Subquery,
    Table,
    and_,
    func,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from usageql.db.tables import SET_HOURS, user_numbers
from usageql.db.unnest import unnest
from usageql.db.user_numbers import number_of, numbers_set
from usageql.query.model import Filter, GroupKey
from usageql.query.pieces import DAY, HOUR, floor
from usageql.query.rollups import (
    Plan,
    asked_conditions,
    asked_of_keys,
    every_app,
    relation,
    rows_of,
)

SETS_COLUMN = "user_sets"
"""The relation's column of arrays of user numbers."""


def set_relation(
    chosen: Plan,
    filter: Filter | None = None,
    narrowing: tuple[tuple[GroupKey, ...], Sequence[tuple[str | datetime | None, ...]]] = ((), ()),
) -> Subquery:
    """The rows of `chosen` (which reads sets): `ts`, `app_id`, the set table's keys and
    SETS_COLUMN."""
    sets = chosen.daily
    if sets is None or not chosen.reads_sets:
        raise ValueError("set_relation: the plan reads no user sets")
    keys = sets.keys
    asked = asked_of_keys(filter, *narrowing)
    parts = []
    if chosen.pieces.days:
        members = func.array_append(sets.table.c.users, null()).label(SETS_COLUMN)
        parts.append(rows_of(sets, keys, [members], chosen.pieces.days, asked))
    if chosen.pieces.ends:
        parts.append(_day_ends(sets.table, keys, chosen.pieces.ends, asked))
    if chosen.pieces.hours or chosen.pieces.raw:
        # The hourly table's rows and raw events, as any plan without days reads them, their
        # users' numbers gathered per hour (or event time) and keys.
        hours = relation(replace(chosen, daily=None, monthly=None), (), filter, narrowing)
        groups = [hours.c.ts, hours.c.app_id, *(hours.c[key] for key in keys)]
        gathered = func.array_append(numbers_set(), null()).label(SETS_COLUMN)
        parts.append(
            select(*groups, gathered)
            .select_from(hours.outerjoin(user_numbers, number_of(hours.c.user_id)))
            .group_by(*groups)
        )
    if len(parts) == 1:
        return parts[0].subquery("rollup")
    return union_all(*parts).subquery("rollup")


def _day_ends(
    table: Table,
    keys: Sequence[str],
    ends: Sequence[tuple[datetime, datetime]],
    asked: dict[str, list[str]],
) -> Select[Any]:
    """Per first or last hours of a UTC day (each dated by its start), app and keys, the numbers
    of the day's set whose user had a message before the end hour (the first one's hour is
    earlier) and one at or after the start hour (the last one's is not earlier): exact for
    hours that begin or end their day, as `ends` do. Hours with messages but none of those
    users (only messages without a user) have an empty set, as over raw events."""
    days = [floor(start, DAY) for start, _ in ends]
    hours = [
        ((start - day) // HOUR, (end - day) // HOUR)
        for (start, end), day in zip(ends, days, strict=True)
    ]
    listed = unnest(
        day=(DateTime(timezone=True), days),
        ts=(DateTime(timezone=True), [start for start, _ in ends]),
        after=(SmallInteger(), [after for after, _ in hours]),
        before=(SmallInteger(), [before for _, before in hours]),
    ).subquery("ends")
    first_hours, last_hours = SET_HOURS
    cells = (
        func.unnest(table.c.users, table.c[first_hours], table.c[last_hours])
        .table_valued("number", "first", "last")
        .render_derived("cells")
    )
    inside = and_(cells.c.first < listed.c.before, cells.c.last >= listed.c.after)
    chosen = select(cells.c.number).where(inside).scalar_subquery()  # in the set's order
    unnamed = and_(table.c.unnamed_first < listed.c.before, table.c.unnamed_last >= listed.c.after)
    rows = (
        select(
            listed.c.ts,
            table.c.app_id,
            *(func.nullif(table.c[key], "").label(key) for key in keys),
            func.array(chosen, type_=ARRAY(BigInteger)).label("members"),
            unnamed.label("unnamed"),
        )
        .select_from(listed.join(table, table.c.day == listed.c.day))
        .where(every_app(table.c.app_id), *asked_conditions(table, keys, asked))
        .offset(0)  # kept a subquery: else its members are chosen again for the test below
        .subquery("day_ends")
    )
    members = func.array_append(rows.c.members, null()).label(SETS_COLUMN)
    return select(rows.c.ts, rows.c.app_id, *(rows.c[key] for key in keys), members).where(
        or_(func.cardinality(rows.c.members) > 0, rows.c.unnamed)
    )
