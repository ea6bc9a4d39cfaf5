"""Many rows as one statement parameter per column: `SELECT * FROM unnest(:a, :b, ...)`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine


def unnest(**columns: tuple[TypeEngine[Any], list[Any]]) -> Select[Any]:
    """SELECT the rows given column-wise as arrays: one bound parameter per column, whatever the
    number of rows (asyncpg encodes the arrays in C, where per-row parameters cost microseconds)."""
    rows = func.unnest(
        *(
            bindparam(name, values, type_=ARRAY(kind), unique=True)
            for name, (kind, values) in columns.items()
        )
    ).table_valued(*(column(name, kind) for name, (kind, _) in columns.items()))
    return select(*rows.render_derived().c)
