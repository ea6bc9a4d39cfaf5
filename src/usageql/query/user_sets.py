"""Distinct users from the daily sets of user numbers (usageql.ingest.user_sets).

A plan whose days come from `usage_daily_user_sets` or `usage_daily_tag_user_sets` (rollups.Plan
.reads_sets) answers only distinct users. Its relation has the usual shape (`ts`, `app_id`, the
keys) with `user_id` holding user numbers instead of ids: each day's set unnested, then the other
whole hours from the hourly table and the partial hours from raw events, each user id replaced by
its number. A distinct count of numbers is a distinct count of user ids: an id has one number,
whatever the app (distinct users are counted by id across apps, as over raw events). Every set
also yields a NULL
user, as rows of events without a user do, so that a day (and tag) whose messages have no user
is still a group of the answer, with no users, as over raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import BigInteger, Subquery, func, null, select, union_all

from usageql.db.tables import user_numbers
from usageql.db.user_numbers import number_of
from usageql.query.model import Filter, GroupKey
from usageql.query.rollups import Plan, asked_of_keys, relation, rows_of


def set_relation(
    chosen: Plan,
    filter: Filter | None = None,
    narrowing: tuple[tuple[GroupKey, ...], Sequence[tuple[str | datetime | None, ...]]] = ((), ()),
) -> Subquery:
    """The rows of `chosen` (which reads sets) as numbers: `ts`, `app_id`, the set table's keys
    and `user_id`."""
    sets = chosen.daily
    if sets is None or not chosen.reads_sets:
        raise ValueError("set_relation: the plan reads no user sets")
    keys = sets.keys
    member = func.unnest(func.array_append(sets.table.c.users, null()), type_=BigInteger)
    parts = []
    if chosen.pieces.days:
        asked = asked_of_keys(filter, *narrowing)
        days = rows_of(sets, keys, [member.label("user_id")], chosen.pieces.days, asked)
        parts.append(days)
    if chosen.pieces.hours or chosen.pieces.raw:
        # The hourly table's rows and raw events, as any plan without days reads them.
        hours = relation(replace(chosen, daily=None, monthly=None), (), filter, narrowing)
        known = number_of(hours.c.user_id)
        parts.append(
            select(
                hours.c.ts,
                hours.c.app_id,
                *(hours.c[key] for key in keys),
                user_numbers.c.number.label("user_id"),
            ).select_from(hours.outerjoin(user_numbers, known))
        )
    if len(parts) == 1:
        return parts[0].subquery("rollup")
    return union_all(*parts).subquery("rollup")
