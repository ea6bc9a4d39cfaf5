"""Log-spaced buckets of milliseconds: what approximate percentiles are answered from.

A positive value x falls in bucket i = ceil(log(x) / log(GAMMA)), which holds the values in
(GAMMA^(i-1), GAMMA^i]; the bucket stands for 2 GAMMA^i / (GAMMA + 1), within RELATIVE_ERROR of
every value in it ((GAMMA - 1) / (GAMMA + 1): 0.990% for buckets 2% wide). Zero (and anything not
positive, which ingestion never stores) has a bucket of its own, ZERO, which stands for 0 and sorts
before every other bucket, so buckets sort as their values do.

The writer computes buckets in Python, a statement over raw events in SQL; both divide two
natural logarithms of doubles, so both give the same bucket for the same value on the same
machine (and at worst the neighbouring one across machines, still within the bound).
This is the DDSketch idea kept as plain rows: a count per (key, bucket), added up like any sum.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Double, Integer, case, cast, func, literal

GAMMA = 1.02
"""Each bucket's upper end is 2% above its lower end."""

RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
"""How far a bucket's value can be from any value in it, relative to that value: 0.990%."""

ZERO = -(2**31)
"""The bucket of 0 (an integer column's smallest value: below every positive value's bucket)."""

_LOG_GAMMA = math.log(GAMMA)


def bucket(value: float) -> int:
    """The bucket of `value` (milliseconds)."""
    if value <= 0:
        return ZERO
    return math.ceil(math.log(value) / _LOG_GAMMA)


def representative(index: int) -> float:
    """The value bucket `index` stands for."""
    if index == ZERO:
        return 0.0
    return float(2 * GAMMA**index / (GAMMA + 1))


def _double(value: Any) -> ColumnElement[float]:
    return cast(value, Double())


def bucket_sql(value: ColumnElement[Any]) -> ColumnElement[int]:
    """SQL: the bucket of a column of milliseconds (NULL stays NULL)."""
    gamma = _double(literal(GAMMA, Double()))
    ratio = func.ln(_double(value), type_=Double()) / func.ln(gamma, type_=Double())
    index: ColumnElement[float] = func.ceil(ratio, type_=Double())
    return case((value <= 0, literal(ZERO)), else_=cast(index, Integer()))


def value_sql(index: ColumnElement[int]) -> ColumnElement[float]:
    """SQL: the value a bucket column stands for."""
    gamma = _double(literal(GAMMA, Double()))
    scaled = 2 * func.power(gamma, _double(index), type_=Double()) / (gamma + 1)
    return case((index == ZERO, _double(literal(0.0, Double()))), else_=scaled)
