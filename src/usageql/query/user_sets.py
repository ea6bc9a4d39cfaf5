"""Distinct users from the daily sets of user numbers (usageql.ingest.user_sets).

A plan whose days come from `usage_daily_user_sets` or `usage_daily_tag_user_sets` (rollups.Plan
.reads_sets) answers only distinct users. Its relation has the usual `ts`, `app_id` and keys, and
instead of a user a column `SETS_COLUMN` of user numbers: each day's set, then per other whole hour
(from the hourly table) and per partial hour (from raw events) the numbers of its users, gathered
into one array per hour and keys. The compiler computes each row's keys once and counts the distinct
numbers of its sets (compile._members): a distinct count of numbers is a distinct count of user ids,
as an id has one number whatever the app (distinct users are counted by id across apps, as over raw
events). Every row's set holds distinct numbers and one NULL, as rows of events without a user do,
so that a day (and tag) whose messages have no user is still a group of the answer, with no users,
as over raw events; a group of one row counts its set's size less one instead of unnesting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Subquery, func, null, select, union_all

from usageql.db.tables import user_numbers
from usageql.db.user_numbers import number_of, numbers_set
from usageql.query.model import Filter, GroupKey
from usageql.query.rollups import Plan, asked_of_keys, relation, rows_of

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
    parts = []
    if chosen.pieces.days:
        asked = asked_of_keys(filter, *narrowing)
        members = func.array_append(sets.table.c.users, null()).label(SETS_COLUMN)
        parts.append(rows_of(sets, keys, [members], chosen.pieces.days, asked))
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
