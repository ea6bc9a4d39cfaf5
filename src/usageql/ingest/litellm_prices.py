"""LiteLLM's price map (`model_prices_and_context_window.json`) read as usageql prices, so that
one `usageql prices load` sets current prices for the hundreds of models LiteLLM follows.

The map is a JSON object keyed by model name (`claude-sonnet-4-5`, `azure/gpt-4o`) whose entries
give USD per token: `input_cost_per_token`, `output_cost_per_token`,
`cache_read_input_token_cost`, `cache_creation_input_token_cost`,
`output_cost_per_reasoning_token`, and long-context tiers such as
`input_cost_per_token_above_200k_tokens`, which apply when a request's input exceeds 200,000
tokens. Every entry with a per-token input price becomes a price for every app under its key (a
`provider/model` key prices that provider's requests ahead of the bare name, as
usageql.ingest.model_names says). `output_cost_per_token` defaults to 0, as LiteLLM reads it;
a null price is no price. Entries priced otherwise (per image, second or character) are skipped,
`sample_spec` (LiteLLM's description of the format) is ignored, and so are the fields usageql
does not price (`litellm_provider`, `mode`, batch, priority and audio prices, ...).

Prices convert to USD per million tokens exactly: the file is read with decimal numbers, never
floats. An entry with a price beyond the bounds (negative, or above MAX_PRICE per million
tokens) is refused whole and reported with the key and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from usageql.ingest.bounds import MAX_PRICE
from usageql.ingest.pricing import Price, Tier

_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "output_cost_per_reasoning_token": "reasoning",
}
_TIERED = re.compile(rf"({'|'.join(_FIELDS)})_above_([1-9]\d{{0,5}})k_tokens")
_FORMAT_SPEC = "sample_spec"
_MILLION = Decimal(1_000_000)
_STORED = Decimal("1e-10")  # the scale of the price columns: 1e-16 USD a token


class RefusedPriceError(ValueError):
    """A price of an entry is not one usageql can store; the message names the field."""


@dataclass(frozen=True, slots=True)
class LiteLLMPrices:
    """What a LiteLLM price map holds for usageql."""

    prices: dict[str, Price]
    refused: list[str]  # "key.field: problem", one per entry refused
    skipped: int  # entries without a per-token input price


def is_litellm_map(raw: object) -> bool:
    """Whether `raw` is LiteLLM's price map rather than usageql's `{model: {input, output}}`."""
    if not isinstance(raw, Mapping):
        return False
    return _FORMAT_SPEC in raw or any(
        isinstance(entry, Mapping)
        and ("litellm_provider" in entry or "input_cost_per_token" in entry)
        for entry in raw.values()
    )


def read_litellm_map(raw: Mapping[str, object]) -> LiteLLMPrices:
    """The prices of a LiteLLM map (parsed with decimal floats), with what was refused."""
    prices: dict[str, Price] = {}
    refused: list[str] = []
    skipped = 0
    for key, entry in raw.items():
        if key == _FORMAT_SPEC:
            continue
        if not isinstance(entry, Mapping) or entry.get("input_cost_per_token") is None:
            skipped += 1
            continue
        try:
            prices[key] = _price(entry)
        except RefusedPriceError as problem:
            refused.append(f"{key}.{problem}")
    return LiteLLMPrices(prices, refused, skipped)


def _price(entry: Mapping[str, object]) -> Price:
    base: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    for name, value in entry.items():
        if value is None:  # null: not given
            continue
        if name in _FIELDS:
            base[_FIELDS[name]] = _per_million(name, value)
        elif tiered := _TIERED.fullmatch(name):
            above = int(tiered.group(2)) * 1000
            tiers.setdefault(above, {})[_FIELDS[tiered.group(1)]] = _per_million(name, value)
    base.setdefault("output", Decimal(0))
    return Price(
        **base,
        tiers=tuple(Tier(above=above, **prices) for above, prices in sorted(tiers.items())),
    )


def _per_million(name: str, value: object) -> Decimal:
    """USD per token as USD per million tokens, exactly (to the columns' 10 decimal places)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RefusedPriceError(f"{name}: expected a number of USD per token, got {value!r}")
    per_million = Decimal(value) * _MILLION
    if not per_million.is_finite() or not 0 <= per_million <= MAX_PRICE:
        raise RefusedPriceError(
            f"{name}: {value} USD per token is {per_million.normalize():f} USD per million"
            f" tokens, not a price from 0 to {MAX_PRICE:,} USD per million tokens"
        )
    return per_million.quantize(_STORED)
