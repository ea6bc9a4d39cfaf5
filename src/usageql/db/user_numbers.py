"""Reading `user_numbers`: the number of a user id (usageql.ingest.user_sets gives them)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from usageql.db.tables import ANY_APP, user_numbers


def number_of(user_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The condition joining `user_numbers` to the rows of `user_id` (every app's: the numbers'
    app id is '*', so the join reads the primary key)."""
    n = user_numbers.c
    return and_(n.app_id == ANY_APP, n.user_id == user_id)
