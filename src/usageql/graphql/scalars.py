"""Custom scalars: Python types usable in annotations, mapped to GraphQL in `SCALARS`."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

BigInt = NewType("BigInt", int)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_bigint(value: object) -> BigInt:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"BigInt: expected an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"BigInt: expected an integer, got {value!r}") from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"BigInt: {number} is outside the 64-bit range")
    return BigInt(number)


SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A 64-bit integer (token sums overflow GraphQL's Int), as a JSON number.",
        serialize=int,
        parse_value=_parse_bigint,
    ),
}
