"""Prices: which are in force (`Query.prices`) and how operators change them."""

from __future__ import annotations

import enum
from decimal import Decimal

import strawberry

from usageql.db.tables import ANY_APP
from usageql.graphql.context import Info
from usageql.graphql.permissions import CanRead, IsAdmin
from usageql.ingest.parse import NUL_PROBLEM
from usageql.ingest.price_table import (
    ListedPrice,
    PriceError,
    delete_prices,
    parse_price_entries,
    set_prices,
)


@strawberry.enum(description="Where a price comes from.")
class PriceSource(enum.Enum):
    CONFIGURED = "configured"
    BUILTIN = "builtin"


@strawberry.type(description="A model's price in USD per million tokens.")
class ModelPrice:
    model: str = strawberry.field(description="The model name prices are looked up by.")
    app: str | None = strawberry.field(description="The app it applies to; null for every app.")
    input: float = strawberry.field(description="Prompt tokens not read from or written to cache.")
    output: float = strawberry.field(description="Output tokens (reasoning too, unless priced).")
    cache_read: float | None = strawberry.field(description="Cache reads; null: the input price.")
    cache_write: float | None = strawberry.field(description="Cache writes; null: the input price.")
    reasoning: float | None = strawberry.field(
        description="Reasoning tokens; null: the output price."
    )
    source: PriceSource = strawberry.field(description="Configured by an operator, or built in.")


@strawberry.input(description="A model's price in USD per million tokens.")
class PriceInput:
    model: str = strawberry.field(description="Model name; dated and provider/ variants match it.")
    app: str | None = strawberry.field(default=None, description="Only for this app; default all.")
    input: float = strawberry.field(description="Prompt tokens.")
    output: float = strawberry.field(description="Output tokens.")
    cache_read: float | None = strawberry.field(default=None, description="Cache reads.")
    cache_write: float | None = strawberry.field(default=None, description="Cache writes.")
    reasoning: float | None = strawberry.field(default=None, description="Reasoning tokens.")


def _check_apps(info: Info, apps: list[str]) -> None:
    """Only an admin bound to no app changes prices for every app (`*`); an admin bound to apps
    changes only theirs; a key bound to users changes none."""
    bound = info.context.caller().bound
    if bound.users is not None:
        raise ValueError("prices: an API key bound to users may not change prices")
    allowed = bound.apps
    outside = sorted({app for app in apps if allowed is not None and app not in allowed})
    if outside:
        raise ValueError(
            f"prices.app: this API key may only set prices for apps {', '.join(allowed or ())},"
            f" not {', '.join(outside)}"
        )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _model_price(listed: ListedPrice) -> ModelPrice:
    entry, price = listed.entry, listed.entry.price
    return ModelPrice(
        model=entry.model,
        app=None if entry.app == ANY_APP else entry.app,
        input=float(price.input),
        output=float(price.output),
        cache_read=_float(price.cache_read),
        cache_write=_float(price.cache_write),
        reasoning=_float(price.reasoning),
        source=PriceSource(listed.source),
    )


@strawberry.type
class PricesQuery:
    @strawberry.field(
        description="Prices in force: configured ones (per app first), then the built-in table. "
        "A key bound to apps sees their prices and those for every app; a key bound to users, "
        "those of the apps where its users appear and those for every app.",
        permission_classes=[CanRead],
    )
    async def prices(self, info: Info, include_builtin: bool = True) -> list[ModelPrice]:
        listed = await info.context.reads.prices(builtin=include_builtin)
        return [_model_price(item) for item in listed]


@strawberry.type
class PricesMutation:
    @strawberry.mutation(
        description="Set prices (replacing any for the same model and app). Requests recorded "
        "from now on are priced with them; stored costs never change.",
        permission_classes=[IsAdmin],
    )
    async def set_prices(self, info: Info, prices: list[PriceInput]) -> list[ModelPrice]:
        raw = [
            {k: v for k, v in vars(p).items() if v is not None and k != "app"}
            | ({"app": p.app} if p.app else {})
            for p in prices
        ]
        try:
            entries = parse_price_entries(raw, where="prices")
        except PriceError as error:
            raise ValueError(str(error)) from None
        _check_apps(info, [entry.app for entry in entries])
        async with info.context.database.engine.begin() as connection:
            await set_prices(connection, entries)
        return [_model_price(ListedPrice(entry=e, source="configured")) for e in entries]

    @strawberry.mutation(
        description="Remove configured prices; built-in prices apply again. Returns how many went.",
        permission_classes=[IsAdmin],
    )
    async def delete_prices(self, info: Info, models: list[str], app: str | None = None) -> int:
        if any("\x00" in text for text in (*models, app or "")):
            raise ValueError(f"models: {NUL_PROBLEM}")
        _check_apps(info, [app or ANY_APP])
        async with info.context.database.engine.begin() as connection:
            return await delete_prices(connection, models, app or ANY_APP)
