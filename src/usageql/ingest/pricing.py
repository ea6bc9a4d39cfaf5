"""Model prices (USD per million tokens) and the cost of a request under them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import ANY_APP, prices
from usageql.ingest.bounds import MAX_COST
from usageql.ingest.parse import COST_BOUND, RecordError
from usageql.ingest.records import Usage

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; cache and reasoning prices default to the input and output prices."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None

    @classmethod
    def from_row(cls, row: Any) -> Price:
        """A price from a row of the `prices` table."""
        return cls(
            input=row.input,
            output=row.output,
            cache_read=row.cache_read,
            cache_write=row.cache_write,
            reasoning=row.reasoning,
        )

    def cost(self, usage: Usage) -> Decimal:
        """The USD cost of `usage` (input includes cache tokens; output includes reasoning)."""
        fresh_input = max(usage.input - usage.cache_read - usage.cache_write, 0)
        plain_output = max(usage.output - usage.reasoning, 0)
        micro_usd = (
            fresh_input * self.input
            + usage.cache_read * _or(self.cache_read, self.input)
            + usage.cache_write * _or(self.cache_write, self.input)
            + plain_output * self.output
            + usage.reasoning * _or(self.reasoning, self.output)
        )
        return micro_usd / _MILLION


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value


def _p(
    input_: str, output: str, cache_read: str | None = None, cache_write: str | None = None
) -> Price:
    return Price(
        input=Decimal(input_),
        output=Decimal(output),
        cache_read=None if cache_read is None else Decimal(cache_read),
        cache_write=None if cache_write is None else Decimal(cache_write),
    )


# List prices of common models as published by their providers (standard tier, short context).
# Operators override or extend them with their own table; a model missing here is "unpriced".
BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI: cached input is billed at the cache-read rate; no separate cache-write charge.
    "gpt-5": _p("1.25", "10.00", "0.125"),
    "gpt-5-mini": _p("0.25", "2.00", "0.025"),
    "gpt-5-nano": _p("0.05", "0.40", "0.005"),
    "gpt-4.1": _p("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": _p("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": _p("0.10", "0.40", "0.025"),
    "gpt-4o": _p("2.50", "10.00", "1.25"),
    "gpt-4o-mini": _p("0.15", "0.60", "0.075"),
    "o3": _p("2.00", "8.00", "0.50"),
    "o4-mini": _p("1.10", "4.40", "0.275"),
    # Anthropic: 5-minute cache writes cost 1.25x input, cache reads 0.1x.
    "claude-opus-4-1-20250805": _p("15.00", "75.00", "1.50", "18.75"),
    "claude-opus-4-20250514": _p("15.00", "75.00", "1.50", "18.75"),
    "claude-sonnet-4-5-20250929": _p("3.00", "15.00", "0.30", "3.75"),
    "claude-sonnet-4-20250514": _p("3.00", "15.00", "0.30", "3.75"),
    "claude-3-7-sonnet-20250219": _p("3.00", "15.00", "0.30", "3.75"),
    "claude-haiku-4-5-20251001": _p("1.00", "5.00", "0.10", "1.25"),
    "claude-3-5-haiku-20241022": _p("0.80", "4.00", "0.08", "1.00"),
    # Google (prompts up to 200k tokens).
    "gemini-2.5-pro": _p("1.25", "10.00", "0.31"),
    "gemini-2.5-flash": _p("0.30", "2.50", "0.075"),
    "gemini-2.5-flash-lite": _p("0.10", "0.40", "0.025"),
    "gemini-2.0-flash": _p("0.10", "0.40", "0.025"),
    # Others.
    "mistral-large-latest": _p("2.00", "6.00"),
    "mistral-small-latest": _p("0.10", "0.30"),
    "deepseek-chat": _p("0.27", "1.10", "0.07"),
    "deepseek-reasoner": _p("0.55", "2.19", "0.14"),
    "grok-3": _p("3.00", "15.00", "0.75"),
    "grok-3-mini": _p("0.30", "0.50", "0.075"),
    "command-r-plus": _p("2.50", "10.00"),
}


_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def model_aliases(model: str) -> list[str]:
    """Names to look a model's price up under, most specific first:
    `openai/gpt-4o-2024-08-06` -> itself, `gpt-4o-2024-08-06`, `openai/gpt-4o`, `gpt-4o`."""
    names = [model]
    if "/" in model:
        names.append(model.rsplit("/", 1)[1])
    for name in list(names):
        undated = _DATE_SUFFIX.sub("", name)
        if undated != name:
            names.append(undated)
    return names


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Prices in force: per-app entries, then entries for every app, then the built-in table."""

    entries: Mapping[tuple[str, str], Price]
    builtin: Mapping[str, Price] = field(default_factory=lambda: BUILTIN_PRICES)
    # Answers already looked up: a batch names few (app, model) pairs many times over.
    _found: dict[tuple[str, str], Price | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def lookup(self, app: str, model: str) -> Price | None:
        """The price of `model` for `app`, or None when it has none."""
        key = (app, model)
        if key not in self._found:
            self._found[key] = self._search(app, model)
        return self._found[key]

    def _search(self, app: str, model: str) -> Price | None:
        for name in model_aliases(model):
            for key in ((app, name), (ANY_APP, name)):
                price = self.entries.get(key)
                if price is not None:
                    return price
        for name in model_aliases(model):
            price = self.builtin.get(name)
            if price is not None:
                return price
        return None

    def cost(self, app: str, model: str | None, usage: Usage) -> Decimal | None:
        """The USD cost of a request, rounded to 1e-10, or None when the model is unpriced.
        A cost beyond MAX_COST is a RecordError of the request's `cost`: its usage or the price
        is wrong, and storing it would put that mistake into every total."""
        price = None if model is None else self.lookup(app, model)
        if price is None:
            return None
        cost = price.cost(usage).quantize(_TEN_DECIMALS)
        if cost > MAX_COST:
            raise RecordError(
                "cost",
                f"{cost.normalize():f} USD, computed from the price of model {model}, is more than"
                f" {COST_BOUND[1]}; check the usage or the price",
            )
        return cost


_TEN_DECIMALS = Decimal("1e-10")


async def load_price_book(connection: AsyncConnection) -> PriceBook:
    """The operators' prices from the database, over the built-in table."""
    rows = (await connection.execute(select(prices))).all()
    return PriceBook(entries={(row.app_id, row.model): Price.from_row(row) for row in rows})
