"""The measures every hourly rollup table keeps, each declared once in MEASURES.

A measure is a column of every rollup table, what one message adds to it, and how two of its values
combine (summed, or the larger kept). Everything else is derived from its declaration: the rollup
tables' columns (usageql.db.tables), the writer's sums in Python (usageql.ingest.rollup), a raw
event shaped like a rollup row and the measure's aggregate over raw events or over rollup rows
(usageql.query). Metrics are defined in terms of measures in usageql.query.catalog.

Migrations keep their own copies of the contributions, as SQL (they are frozen); after them,
tests/test_rollups.py checks that every rollup table holds what MEASURES says of `messages`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Double,
    Numeric,
    and_,
    case,
    func,
    literal,
    text,
)
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.types import TypeEngine

Events = ReadOnlyColumnCollection[str, Column[Any]]
"""The columns of `messages` (`messages.c`), which measures name."""


class Merge(enum.Enum):
    """How a measure's values over parts give its value over the whole."""

    SUM = "sum"  # NOT NULL DEFAULT 0
    MAX = "max"  # NULL while no message had a value


Condition = tuple[str, str | None]
"""A column of `messages` and the value it must hold (None: it is NULL)."""

REQUEST: Condition = ("role", "assistant")
"""An LLM request is an assistant message."""


@dataclass(frozen=True, slots=True)
class Measure:
    """A column of every rollup table: what each message adds to it, and how it merges."""

    name: str  # the column, in every rollup table
    type: TypeEngine[Any]
    merge: Merge
    of: str | None = None  # the message column summed or maximised; None: messages are counted
    when: tuple[Condition, ...] = ()  # only messages whose columns hold these values count

    def __post_init__(self) -> None:
        # Column names are written into the Python the writer compiles (contributions).
        names = [self.name, *([self.of] if self.of else []), *(c for c, _ in self.when)]
        if not all(name.isidentifier() for name in names):
            raise ValueError(f"measure {self.name!r}: column names must be identifiers")

    def column(self) -> Column[Any]:
        """Its column in a rollup table."""
        if self.merge is Merge.MAX:
            return Column(self.name, self.type)
        return Column(self.name, self.type, nullable=False, server_default=text("0"))

    def per_event(self, events: Events) -> ColumnElement[Any]:
        """SQL: what one row of `messages` adds (a raw event shaped like a rollup row)."""
        if self.of is None:
            return case((self._holds(events), 1), else_=0) if self.when else literal(1, BigInteger)
        value: ColumnElement[Any] = events[self.of]
        return func.coalesce(value, 0) if self._zero_for_null(events) else value

    def over_events(self, events: Events) -> ColumnElement[Any]:
        """SQL: the measure over raw events, as one rollup row of them holds it."""
        if self.of is None:
            return func.count().filter(self._holds(events)) if self.when else func.count()
        if self.merge is Merge.MAX:
            return func.max(events[self.of])
        return func.coalesce(func.sum(events[self.of]), 0)

    def over_rows(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """SQL: the measure over rollup rows, given its column among them."""
        if self.merge is Merge.MAX:
            return func.max(column)
        return func.coalesce(func.sum(column), 0)

    def python(self, read: Callable[[str], str], events: Events) -> str:
        """Python: what a message row adds, as an expression; `read` gives the expression of a
        message column's value. A NULL summed adds the zero named `zero_<measure>`."""
        if self.of is None:
            if not self.when:
                return "1"
            tests = [
                f"{read(column)} is None" if value is None else f"{read(column)} == {value!r}"
                for column, value in self.when
            ]
            return f"int({' and '.join(tests)})"
        value = read(self.of)
        if not self._zero_for_null(events):
            return value
        return f"({value} if {value} is not None else zero_{self.name})"

    def _zero_for_null(self, events: Events) -> bool:
        """Whether a message adds 0 where it has no value: a sum of a nullable column."""
        return self.merge is Merge.SUM and self.of is not None and bool(events[self.of].nullable)

    def _holds(self, events: Events) -> ColumnElement[bool]:
        return and_(*(_test(events[column], value) for column, value in self.when))


@cache
def _test(column: Column[Any], value: str | None) -> ColumnElement[bool]:
    """`column` holds `value`: one expression per condition, so that a statement binds a value
    once however many measures test it."""
    return column.is_(None) if value is None else column == value


def count(name: str, *when: Condition) -> Measure:
    """The number of messages (that hold every condition in `when`)."""
    return Measure(name, BigInteger(), Merge.SUM, when=when)


def total(name: str, type: TypeEngine[Any]) -> Measure:
    """The sum of the message column of the same name; NULL adds 0."""
    return Measure(name, type, Merge.SUM, of=name)


def largest(name: str, of: str, type: TypeEngine[Any]) -> Measure:
    """The largest value of the message column `of`; NULL while no message has one."""
    return Measure(name, type, Merge.MAX, of=of)


# In the rollup tables' column order (a new measure goes last, with a migration adding it).
MEASURES = (
    count("messages"),
    count("requests", REQUEST),
    count("successful_requests", REQUEST, ("status", "success")),
    count("failed_requests", REQUEST, ("status", "error")),
    total("input_tokens", BigInteger()),
    total("output_tokens", BigInteger()),
    total("cache_read_tokens", BigInteger()),
    total("cache_write_tokens", BigInteger()),
    total("reasoning_tokens", BigInteger()),
    total("cost", Numeric()),  # USD: an unpriced request adds 0, and 1 to unpriced_requests
    count("unpriced_requests", REQUEST, ("cost", None)),
    largest("latency_max", "latency_ms", Double()),
    largest("ttft_max", "ttft_ms", Double()),
)
MEASURE = {measure.name: measure for measure in MEASURES}


def contributions(
    measures: Sequence[Measure], events: Events, columns: Sequence[str]
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function of a message row (the values of `columns`, in order) giving what it adds to
    each of `measures`, in order.

    Compiled once from the declarations into a single expression, the way collections.namedtuple
    builds its methods: a call per measure would cost the writer ~0.5 µs more per message.
    """
    position = {name: place for place, name in enumerate(columns)}
    body = ", ".join(
        measure.python(lambda column: f"row[{position[column]}]", events) for measure in measures
    )
    zeros = {f"zero_{m.name}": m.type.python_type(0) for m in measures if m.merge is Merge.SUM}
    function: Callable[[Sequence[Any]], tuple[Any, ...]] = eval(  # noqa: S307 (from MEASURES)
        f"lambda row: ({body},)", zeros
    )
    return function
