"""Model prices (USD per million tokens) and the cost of a request under them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import ANY_APP, price_tiers, prices
from usageql.ingest.bounds import MAX_COST
from usageql.ingest.model_names import NamedTable, aliases
from usageql.ingest.parse import COST_BOUND, RecordError
from usageql.ingest.records import Usage

_MILLION = Decimal(1_000_000)
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(frozen=True, slots=True)
class Tier:
    """Prices for requests whose input exceeds `above` tokens (long-context pricing, as Gemini
    2.5 Pro's and Claude Sonnet 4's past 200,000 tokens); each price it leaves out is the base
    price's."""

    above: int
    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; cache and reasoning prices default to the input and output prices.
    `tiers` replace them for requests with more input tokens than a tier's threshold."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    tiers: tuple[Tier, ...] = ()

    def at(self, input_tokens: int) -> Price:
        """The price a request with `input_tokens` pays: that of the highest tier it exceeds
        (input includes cache reads and writes, as the providers count the tier), else this."""
        tier = max(
            (tier for tier in self.tiers if input_tokens > tier.above),
            key=lambda tier: tier.above,
            default=None,
        )
        if tier is None:
            return self
        changed = {name: getattr(tier, name) for name in PRICE_FIELDS}
        return replace(
            self, tiers=(), **{name: value for name, value in changed.items() if value is not None}
        )

    def cost(self, usage: Usage) -> Decimal:
        """The USD cost of `usage` (input includes cache tokens; output includes reasoning)."""
        price = self.at(usage.input)
        fresh_input = max(usage.input - usage.cache_read - usage.cache_write, 0)
        plain_output = max(usage.output - usage.reasoning, 0)
        micro_usd = (
            fresh_input * price.input
            + usage.cache_read * _or(price.cache_read, price.input)
            + usage.cache_write * _or(price.cache_write, price.input)
            + plain_output * price.output
            + usage.reasoning * _or(price.reasoning, price.output)
        )
        return micro_usd / _MILLION


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value


def _p(
    input_: str,
    output: str,
    cache_read: str | None = None,
    cache_write: str | None = None,
    *tiers: Tier,
) -> Price:
    return Price(
        input=Decimal(input_),
        output=Decimal(output),
        cache_read=None if cache_read is None else Decimal(cache_read),
        cache_write=None if cache_write is None else Decimal(cache_write),
        tiers=tiers,
    )


def _above_200k(input_: str, output: str, cache_read: str, cache_write: str | None = None) -> Tier:
    return Tier(
        above=200_000,
        input=Decimal(input_),
        output=Decimal(output),
        cache_read=Decimal(cache_read),
        cache_write=None if cache_write is None else Decimal(cache_write),
    )


# List prices of common models as published by their providers (standard tier), with their
# long-context tiers. Operators override or extend them with their own table (or load LiteLLM's
# price map); a model missing here is "unpriced". Names match as usageql.ingest.model_names says:
# `claude-sonnet-4-5` finds `claude-sonnet-4-5-20250929`.
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
    # Anthropic: 5-minute cache writes cost 1.25x input, cache reads 0.1x. Sonnet 4 and 4.5
    # prompts over 200k tokens (the 1M context window) cost twice the input, 1.5x the output.
    "claude-opus-4-1-20250805": _p("15.00", "75.00", "1.50", "18.75"),
    "claude-opus-4-20250514": _p("15.00", "75.00", "1.50", "18.75"),
    "claude-sonnet-4-5-20250929": _p(
        "3.00", "15.00", "0.30", "3.75", _above_200k("6.00", "22.50", "0.60", "7.50")
    ),
    "claude-sonnet-4-20250514": _p(
        "3.00", "15.00", "0.30", "3.75", _above_200k("6.00", "22.50", "0.60", "7.50")
    ),
    "claude-3-7-sonnet-20250219": _p("3.00", "15.00", "0.30", "3.75"),
    "claude-haiku-4-5-20251001": _p("1.00", "5.00", "0.10", "1.25"),
    "claude-3-5-haiku-20241022": _p("0.80", "4.00", "0.08", "1.00"),
    # Google.
    "gemini-2.5-pro": _p("1.25", "10.00", "0.31", None, _above_200k("2.50", "15.00", "0.625")),
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


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Prices in force: per-app entries, then entries for every app, then the built-in table,
    each searched under the names usageql.ingest.model_names gives, most specific first."""

    entries: Mapping[tuple[str, str], Price]
    builtin: Mapping[str, Price] = field(default_factory=lambda: BUILTIN_PRICES)
    # Answers already looked up: a batch names few (app, provider, model)s many times over.
    _found: dict[tuple[str, str | None, str], Price | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Each app's entries (and, under None, the built-in table), indexed by name; built on use.
    _tables: dict[str | None, NamedTable[Price]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def lookup(self, app: str, model: str, provider: str | None = None) -> Price | None:
        """The price of `model` (sent with `provider`) for `app`, or None when it has none."""
        key = (app, provider, model)
        if key not in self._found:
            self._found[key] = self._search(app, model, provider)
        return self._found[key]

    def _search(self, app: str, model: str, provider: str | None) -> Price | None:
        names = aliases(model, provider)
        configured = (self._table(app), self._table(ANY_APP))
        for alias in names:
            for table in configured:
                price = table.get(alias)
                if price is not None:
                    return price
        builtin = self._table(None)
        for alias in names:
            price = builtin.get(alias)
            if price is not None:
                return price
        return None

    def _table(self, app: str | None) -> NamedTable[Price]:
        """An app's entries (None: the built-in table), grouped and indexed on first use."""
        if not self._tables:
            by_app: dict[str, dict[str, Price]] = {}
            for (owner, name), price in self.entries.items():
                by_app.setdefault(owner, {})[name] = price
            self._tables.update({owner: NamedTable(table) for owner, table in by_app.items()})
            self._tables[None] = NamedTable(self.builtin)
        return self._tables.get(app, _NO_PRICES)

    def cost(
        self, app: str, model: str | None, usage: Usage, provider: str | None = None
    ) -> Decimal | None:
        """The USD cost of a request, rounded to 1e-10, or None when the model is unpriced.
        A cost beyond MAX_COST is a RecordError of the request's `cost`: its usage or the price
        is wrong, and storing it would put that mistake into every total."""
        price = None if model is None else self.lookup(app, model, provider)
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
_NO_PRICES: NamedTable[Price] = NamedTable({})


async def read_prices(connection: AsyncConnection) -> list[tuple[str, str, Price]]:
    """The operators' prices with their tiers, as (app, model, price), by app and model: one
    statement, rows unpacked as tuples (ingestion reads the whole table for every batch)."""
    base = [prices.c[name] for name in PRICE_FIELDS]
    tier = [price_tiers.c.above_tokens, *(price_tiers.c[name] for name in PRICE_FIELDS)]
    same_price = (price_tiers.c.app_id == prices.c.app_id) & (price_tiers.c.model == prices.c.model)
    statement = (
        select(prices.c.app_id, prices.c.model, *base, *tier)
        .outerjoin(price_tiers, same_price)
        .order_by(prices.c.app_id, prices.c.model, price_tiers.c.above_tokens)
    )
    found: dict[tuple[str, str], tuple[Sequence[Any], list[Tier]]] = {}
    for app, model, *values in await connection.execute(statement):
        _, tiers = found.setdefault((app, model), (values[: len(base)], []))
        above, *amounts = values[len(base) :]
        if above is not None:
            tiers.append(Tier(above, *amounts))
    return [
        (app, model, Price(**dict(zip(PRICE_FIELDS, amounts, strict=True)), tiers=tuple(tiers)))
        for (app, model), (amounts, tiers) in found.items()
    ]


async def load_price_book(connection: AsyncConnection) -> PriceBook:
    """The operators' prices from the database, over the built-in table."""
    return PriceBook(
        entries={(app, model): price for app, model, price in await read_prices(connection)}
    )
