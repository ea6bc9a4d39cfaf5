"""Many rows as one statement parameter per column: `SELECT * FROM unnest(:a, :b, ...)`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Subquery,
    Text,
    bindparam,
    column,
    func,
    select,
)
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


def unnest_with_lists(
    name: str, lists: Sequence[Sequence[str]], **columns: tuple[TypeEngine[Any], list[Any]]
) -> tuple[Subquery, ColumnElement[Any]]:
    """The rows of unnest(**columns) with a list of texts each (`lists`, in the rows' order), as
    a subquery (`with_<name>`) and the expression of a row's list. PostgreSQL's arrays of arrays
    must be rectangular, so the lists travel as one flat array (one parameter) and each row
    takes its slice of it (`flat[first:last]`, empty where last < first)."""
    flat: list[str] = []
    firsts: list[int] = []
    lasts: list[int] = []
    for values in lists:
        firsts.append(len(flat) + 1)
        flat.extend(values)
        lasts.append(len(flat))
    first, last = f"{name}_first", f"{name}_last"
    sent = unnest(**columns, **{first: (Integer(), firsts), last: (Integer(), lasts)})
    every = bindparam(name, flat, type_=ARRAY(Text), unique=True)
    rows = select(*sent.selected_columns, every.label(name)).subquery(f"with_{name}")
    return rows, rows.c[name][rows.c[first] : rows.c[last]]


def unnest_parameters(prefix: str, **columns: TypeEngine[Any]) -> Select[Any]:
    """The same rows, each column's array a parameter named `<prefix>__<column>` whose value is
    given when the statement runs (a statement built once, usageql.ingest.prepared)."""
    rows = func.unnest(
        *(bindparam(parameter(prefix, name), type_=ARRAY(kind)) for name, kind in columns.items())
    ).table_valued(*(column(name, kind) for name, kind in columns.items()))
    return select(*rows.render_derived().c)


def parameter(prefix: str, name: str) -> str:
    """The name of column `name`'s array among unnest_parameters(`prefix`, ...)."""
    return f"{prefix}__{name}"


def parameter_values(
    prefix: str, names: Sequence[str], rows: Mapping[tuple[Any, ...], Sequence[Any]]
) -> dict[str, list[Any]]:
    """`rows` (a key, then its values, `names` in order) in key order, column by column: the
    values of unnest_parameters(`prefix`, ...) for them (empty arrays when there are none)."""
    keys = sorted(rows)
    columns = [*zip(*keys, strict=True), *zip(*map(rows.__getitem__, keys), strict=True)]
    columns = columns or [()] * len(names)
    return {
        parameter(prefix, name): list(column) for name, column in zip(names, columns, strict=True)
    }
