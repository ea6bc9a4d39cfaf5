"""Which names of a price table a request's model matches: the one rule for provider prefixes and
date suffixes, for operators' prices and the built-in table alike.

Applications name a model in several ways: `claude-sonnet-4-5` or its snapshot
`claude-sonnet-4-5-20250929`, `gpt-4o` or `openai/gpt-4o`, with or without a `provider` field.
A price table names each model once, in one of those ways. A request of model M, sent with
provider P, looks for a price under these names, most specific first:

1. `P/M` (when P is given and M does not already start with `P/`), then M, then M without its
   provider prefix (`openai/gpt-4o` -> `gpt-4o`): a provider's own price wins over the bare name.
2. For each of those names: the name itself, then the name without a date suffix (`-YYYYMMDD` or
   `-YYYY-MM-DD`), then the newest dated name of that undated name in the table. So a dated
   request finds the undated entry and an undated request the dated one, both ways. When a table
   holds several dated names of one undated name, the newest date is chosen (the snapshot an
   undated alias points to); equal dates in both spellings choose the greater name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True, slots=True)
class Alias:
    """A name to look a price up under: that name, or (`newest_dated`) the newest dated name of
    it that a table holds."""

    name: str
    newest_dated: bool = False


def undated(name: str) -> tuple[str, str | None]:
    """`name` without its date suffix, and that date as YYYYMMDD (None when it has none)."""
    match = _DATE_SUFFIX.search(name)
    if match is None:
        return name, None
    return name[: match.start()], match.group(1).replace("-", "")


def aliases(model: str, provider: str | None = None) -> list[Alias]:
    """The names to look `model` (of `provider`) up under, most specific first."""
    names = []
    if provider and not model.startswith(f"{provider}/"):
        names.append(f"{provider}/{model}")
    names.append(model)
    if "/" in model:
        names.append(model.rsplit("/", 1)[1])
    found: list[Alias] = []
    for name in names:
        base, _ = undated(name)
        for alias in (Alias(name), Alias(base), Alias(base, newest_dated=True)):
            if alias not in found:
                found.append(alias)
    return found


class NamedTable(Generic[V]):
    """One table of names (one app's prices, or the built-in ones), indexed for `aliases`."""

    def __init__(self, table: Mapping[str, V]) -> None:
        self.table = table
        newest: dict[str, tuple[str, str]] = {}
        for name in table:
            base, date = undated(name)
            if date is not None:
                newest[base] = max(newest.get(base, ("", "")), (date, name))
        self.newest = {base: name for base, (_, name) in newest.items()}

    def get(self, alias: Alias) -> V | None:
        """The value under `alias`, or None."""
        name = self.newest.get(alias.name) if alias.newest_dated else alias.name
        return None if name is None else self.table.get(name)
