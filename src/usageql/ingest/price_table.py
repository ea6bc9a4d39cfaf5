"""The operators' price table: validating entries (from a file or a mutation), storing, listing."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from usageql.db.tables import ANY_APP, prices
from usageql.ingest.bounds import MAX_PRICE
from usageql.ingest.parse import APP_ID
from usageql.ingest.pricing import BUILTIN_PRICES, Price

PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


class PriceError(ValueError):
    """An entry of a price table is invalid; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model's price, for one app or (app `*`) for every app."""

    model: str
    price: Price
    app: str = ANY_APP


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
    if not isinstance(model, str) or not model.strip() or len(model) > 200 or "\x00" in model:
        raise PriceError(f"{label}.model: expected a model name (1 to 200 characters)")
    app = value.get("app") or ANY_APP
    if not isinstance(app, str) or (app != ANY_APP and not APP_ID.fullmatch(app)):
        raise PriceError(f"{label}.app: not an app id: {app!r}")
    amounts = {name: _amount(label, name, value.get(name)) for name in PRICE_FIELDS}
    input_, output = amounts.pop("input"), amounts.pop("output")
    if input_ is None or output is None:
        missing = "input" if input_ is None else "output"
        raise PriceError(f"{label}.{missing}: required (USD per million tokens)")
    return PriceEntry(model=model, app=app, price=Price(input=input_, output=output, **amounts))


def _amount(label: str, name: str, value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise PriceError(f"{label}.{name}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PriceError(f"{label}.{name}: expected a number, got {value!r}")
    if not 0 <= value <= MAX_PRICE:  # above: a unit mistake, and costs beyond every bound
        raise PriceError(
            f"{label}.{name}: {value} is not a price in USD per million tokens (0 to {MAX_PRICE:,})"
        )
    return Decimal(repr(float(value))).quantize(Decimal("1e-10"))


def read_price_file(path: Path) -> list[PriceEntry]:
    """A price table from JSON (object or array) or CSV (model,input,output,... and app)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PriceError(f"{path}: {error.strerror}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        return parse_price_entries(
            [{k: v for k, v in row.items() if v not in (None, "")} for row in rows], where=path.name
        )
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise PriceError(f"{path}: not valid JSON: {error}") from None
    return parse_price_entries(raw, where=path.name)


async def set_prices(connection: AsyncConnection, entries: Sequence[PriceEntry]) -> None:
    """Insert or replace prices; requests are priced with them from the next batch on."""
    if not entries:
        return
    rows = [
        {
            "app_id": e.app,
            "model": e.model,
            "input": e.price.input,
            "output": e.price.output,
            "cache_read": e.price.cache_read,
            "cache_write": e.price.cache_write,
            "reasoning": e.price.reasoning,
        }
        for e in sorted(entries, key=lambda e: (e.app, e.model))
    ]
    statement = insert(prices)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[prices.c.app_id, prices.c.model],
            set_={
                **{name: statement.excluded[name] for name in PRICE_FIELDS},
                "updated_at": func.now(),
            },
        ),
        rows,
    )


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
    rows = (
        await connection.execute(select(prices).order_by(prices.c.app_id, prices.c.model))
    ).all()
    listed = [
        ListedPrice(
            entry=PriceEntry(
                model=row.model,
                app=row.app_id,
                price=Price.from_row(row),
            ),
            source="configured",
        )
        for row in rows
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
    """An entry as the price file format writes it."""
    price = entry.price
    values = {name: getattr(price, name) for name in PRICE_FIELDS}
    return {
        "model": entry.model,
        "app": entry.app,
        **{name: float(value) for name, value in values.items() if value is not None},
    }
