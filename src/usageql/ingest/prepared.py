"""Statements the writer builds and compiles once, and runs with each batch's values.

Building a statement of ~20 upserts with SQLAlchemy for every batch, and having SQLAlchemy find
its compiled form again from a cache key walked over the whole statement, cost the server ~9 µs
of CPU per message (1M events, two workers: 53.4 -> 44.6 µs, bench/RESULTS.md); the statement
and its values were also reference cycles that only a full garbage collection freed
(usageql.garbage). A `Prepared` statement is compiled once for asyncpg: each batch passes only its
arrays, as the driver's own parameters, and the statement PostgreSQL prepared for it is reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    """A statement compiled once, whose value-less parameters each run names."""

    def __init__(self, statement: ClauseElement) -> None:
        dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup or ())
        given = {name for bind, name in compiled.bind_names.items() if bind.required}
        self.parameters = frozenset(given)
        """The names of the values each run gives: the parameters built without one."""
        self._constants = {
            name: value for name, value in compiled.params.items() if name not in given
        }

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The statement's positional arguments, given the values of its `parameters`."""
        if values.keys() != self.parameters:
            missing = sorted(self.parameters - values.keys())
            unknown = sorted(values.keys() - self.parameters)
            raise ValueError(f"parameters missing: {missing}, unknown: {unknown}")
        given = {**self._constants, **values}
        return [given[name] for name in self._order]

    async def run(self, connection: AsyncConnection, values: Mapping[str, Any]) -> None:
        """Run the statement with `values` on `connection`, in its transaction."""
        await connection.exec_driver_sql(self.sql, tuple(self.arguments(values)))
