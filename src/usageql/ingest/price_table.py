"""The operators' price table: validating entries (from a file or a mutation), storing, listing."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeGuard

from sqlalchemy import BigInteger, Numeric, Text, delete, func, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import ANY_APP, price_tiers, prices
from usageql.db.unnest import unnest
from usageql.ingest.bounds import MAX_PRICE
from usageql.ingest.litellm_prices import is_litellm_map, read_litellm_map
from usageql.ingest.parse import APP_ID
from usageql.ingest.pricing import BUILTIN_PRICES, PRICE_FIELDS, Price, Tier, read_prices


class PriceError(ValueError):
    """An entry of a price table is invalid; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model's price, for one app or (app `*`) for every app."""

    model: str
    price: Price
    app: str = ANY_APP


@dataclass(frozen=True, slots=True)
class PriceFile:
    """What a price file sets, and the entries it holds that are not set (LiteLLM's map only:
    usageql's own format is refused whole at its first bad entry)."""

    entries: list[PriceEntry]
    refused: list[str] = field(default_factory=list)  # "file.model.field: problem"
    skipped: int = 0  # entries priced otherwise than per token (images, seconds, ...)


@dataclass(frozen=True, slots=True)
class ListedPrice:
    """A price in force and where it comes from."""

    entry: PriceEntry
    source: Literal["configured", "builtin"]


def parse_price_entries(raw: object, *, where: str = "prices") -> list[PriceEntry]:
    """Entries from `{model: {input, output, ...}}` or `[{model, app?, input, output, ...}]`."""
    if isinstance(raw, Mapping):
        items: list[tuple[str, object]] = [
            (f"{where}.{model}", {"model": model, **value} if isinstance(value, Mapping) else value)
            for model, value in raw.items()
        ]
    elif isinstance(raw, list):
        items = [(f"{where}[{n}]", value) for n, value in enumerate(raw)]
    else:
        raise PriceError(f"{where}: expected an object keyed by model or an array of entries")
    entries = [_entry(label, value) for label, value in items]
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry.app, entry.model)
        if key in seen:
            raise PriceError(f"{where}: {entry.model} (app {entry.app}) is priced twice")
        seen.add(key)
    return entries


def _entry(label: str, value: object) -> PriceEntry:
    if not isinstance(value, Mapping):
        raise PriceError(f"{label}: expected an object with input and output prices")
    unknown = set(value) - {"model", "app", *PRICE_FIELDS}
    if unknown:
        raise PriceError(f"{label}: unknown field {sorted(unknown)[0]}")
    model = value.get("model")
    if not _is_model_name(model):
        raise PriceError(f"{label}.model: {_MODEL_NAME}")
    app = value.get("app") or ANY_APP
    if not isinstance(app, str) or (app != ANY_APP and not APP_ID.fullmatch(app)):
        raise PriceError(f"{label}.app: not an app id: {app!r}")
    amounts = {name: _amount(label, name, value.get(name)) for name in PRICE_FIELDS}
    input_, output = amounts.pop("input"), amounts.pop("output")
    if input_ is None or output is None:
        missing = "input" if input_ is None else "output"
        raise PriceError(f"{label}.{missing}: required (USD per million tokens)")
    price = Price(
        input=input_,
        output=output,
        cache_read=amounts["cache_read"],
        cache_write=amounts["cache_write"],
        reasoning=amounts["reasoning"],
    )
    return PriceEntry(model=model, app=app, price=price)


_MODEL_NAME = "expected a model name (1 to 200 characters)"


def _is_model_name(model: object) -> TypeGuard[str]:
    return (
        isinstance(model, str) and bool(model.strip()) and len(model) <= 200 and "\x00" not in model
    )


def _amount(label: str, name: str, value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise PriceError(f"{label}.{name}: expected a number, got {value!r}") from None
    number = int | float | Decimal
    if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
        raise PriceError(f"{label}.{name}: expected a number, got {value!r}")
    if not 0 <= value <= MAX_PRICE:  # above: a unit mistake, and costs beyond every bound
        raise PriceError(
            f"{label}.{name}: {value} is not a price in USD per million tokens (0 to {MAX_PRICE:,})"
        )
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return exact.quantize(Decimal("1e-10"))


def read_price_file(path: Path) -> PriceFile:
    """A price table from JSON (usageql's object or array, or LiteLLM's price map) or CSV
    (model,input,output,... and app). JSON numbers are read as decimals, so prices are exact."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PriceError(f"{path}: {error.strerror}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        return PriceFile(
            parse_price_entries(
                [{k: v for k, v in row.items() if v not in (None, "")} for row in rows],
                where=path.name,
            )
        )
    try:
        raw = json.loads(data, parse_float=Decimal)
    except ValueError as error:  # not JSON, or not UTF-8
        raise PriceError(f"{path}: not valid JSON: {error}") from None
    if not is_litellm_map(raw):
        return PriceFile(parse_price_entries(raw, where=path.name))
    found = read_litellm_map(raw)
    entries, refused = [], [f"{path.name}.{problem}" for problem in found.refused]
    for model, price in found.prices.items():
        if _is_model_name(model):
            entries.append(PriceEntry(model=model, price=price))
        else:
            refused.append(f"{path.name}.{model!r}: {_MODEL_NAME}")
    return PriceFile(entries, refused, found.skipped)


async def set_prices(connection: AsyncConnection, entries: Sequence[PriceEntry]) -> None:
    """Insert or replace prices, tiers included (one statement, and one more for the new tiers);
    requests are priced with them from the next batch on."""
    if not entries:
        return
    ordered = sorted(entries, key=lambda e: (e.app, e.model))
    keys = {
        "app_id": (Text(), [e.app for e in ordered]),
        "model": (Text(), [e.model for e in ordered]),
    }
    old_tiers = delete(price_tiers).where(
        tuple_(price_tiers.c.app_id, price_tiers.c.model).in_(unnest(**keys))
    )
    rows = unnest(**keys, **_columns([e.price for e in ordered]))
    statement = insert(prices).from_select(["app_id", "model", *PRICE_FIELDS], rows)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[prices.c.app_id, prices.c.model],
            set_={
                **{name: statement.excluded[name] for name in PRICE_FIELDS},
                "updated_at": func.now(),
            },
        ).add_cte(old_tiers.cte("old_tiers"))
    )
    tiers = [(e, tier) for e in ordered for tier in e.price.tiers]
    if tiers:
        tier_rows = unnest(
            app_id=(Text(), [e.app for e, _ in tiers]),
            model=(Text(), [e.model for e, _ in tiers]),
            above_tokens=(BigInteger(), [tier.above for _, tier in tiers]),
            **_columns([tier for _, tier in tiers]),
        )
        columns = ["app_id", "model", "above_tokens", *PRICE_FIELDS]
        await connection.execute(insert(price_tiers).from_select(columns, tier_rows))


def _columns(items: Sequence[Price | Tier]) -> dict[str, tuple[Numeric[Decimal], list[Any]]]:
    """The price columns of `prices`, column-wise for `unnest`."""
    return {
        name: (Numeric(20, 10), [getattr(item, name) for item in items]) for name in PRICE_FIELDS
    }


async def delete_prices(connection: AsyncConnection, models: Sequence[str], app: str) -> int:
    """Remove configured prices (built-in ones then apply again); returns how many went."""
    result = await connection.execute(
        delete(prices)
        .where(prices.c.app_id == app, prices.c.model.in_(list(models)))
        .returning(prices.c.model)
    )
    return len(result.all())


async def list_prices(connection: AsyncConnection, *, builtin: bool = True) -> list[ListedPrice]:
    """Configured prices, then the built-in ones no configured entry for every app overrides."""
    listed = [
        ListedPrice(entry=PriceEntry(model=model, app=app, price=price), source="configured")
        for app, model, price in await read_prices(connection)
    ]
    if builtin:
        overridden = {item.entry.model for item in listed if item.entry.app == ANY_APP}
        listed += [
            ListedPrice(entry=PriceEntry(model=model, price=price), source="builtin")
            for model, price in sorted(BUILTIN_PRICES.items())
            if model not in overridden
        ]
    return listed


def entry_json(entry: PriceEntry) -> dict[str, Any]:
    """An entry as `usageql prices list` writes it: the price file's fields, and its tiers."""
    price = entry.price
    tiers = [{"above_tokens": tier.above, **_amounts(tier)} for tier in price.tiers]
    return {
        "model": entry.model,
        "app": entry.app,
        **_amounts(price),
        **({"tiers": tiers} if tiers else {}),
    }


def _amounts(price: Price | Tier) -> dict[str, float]:
    values = {name: getattr(price, name) for name in PRICE_FIELDS}
    return {name: float(value) for name, value in values.items() if value is not None}
