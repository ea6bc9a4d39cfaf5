"""Reading `user_numbers`: the number of a user id (usageql.ingest.user_sets gives them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, func
from sqlalchemy.dialects.postgresql import aggregate_order_by, array

from usageql.db.tables import ANY_APP, user_numbers


def number_of(user_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The condition joining `user_numbers` to the rows of `user_id` (every app's: the numbers'
    app id is '*', so the join reads the primary key)."""
    n = user_numbers.c
    return and_(n.app_id == ANY_APP, n.user_id == user_id)


def numbers_set() -> ColumnElement[Any]:
    """The aggregate of a group's rows joined to `user_numbers` (number_of): their users'
    numbers, distinct and sorted, without NULL; an empty set where no row has a user."""
    number = user_numbers.c.number
    found = func.array_agg(aggregate_order_by(number.distinct(), number)).filter(
        number.is_not(None)
    )
    return func.coalesce(found, array([], type_=BigInteger))
