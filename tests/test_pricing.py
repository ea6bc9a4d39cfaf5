from __future__ import annotations

from decimal import Decimal

import pytest

from usageql.ingest.bounds import MAX_COST, MAX_PRICE, MAX_TOKENS
from usageql.ingest.parse import RecordError
from usageql.ingest.price_table import PriceEntry, PriceError, parse_price_entries
from usageql.ingest.pricing import BUILTIN_PRICES, Price, PriceBook, model_aliases
from usageql.ingest.records import Usage


def test_cache_and_reasoning_tokens_are_billed_at_their_own_rates() -> None:
    price = Price(
        input=Decimal(3),
        output=Decimal(15),
        cache_read=Decimal("0.3"),
        cache_write=Decimal("3.75"),
        reasoning=Decimal(20),
    )
    usage = Usage(input=10_000, output=2_000, cache_read=6_000, cache_write=1_000, reasoning=500)
    # fresh input 3,000 x 3 + 6,000 x 0.3 + 1,000 x 3.75 + plain output 1,500 x 15 + 500 x 20
    expected = (Decimal(9000) + 1800 + 3750 + 22500 + 10000) / 1_000_000
    assert price.cost(usage) == expected == Decimal("0.04705")


def test_missing_cache_prices_fall_back_to_input_and_output() -> None:
    price = Price(input=Decimal(2), output=Decimal(8))
    usage = Usage(input=1_000, output=100, cache_read=400, reasoning=50)
    assert price.cost(usage) == (Decimal(2000) + 800) / 1_000_000


def test_builtin_prices_are_consistent() -> None:
    assert len(BUILTIN_PRICES) >= 25
    for model, price in BUILTIN_PRICES.items():
        assert price.output >= price.input > 0, model
        if price.cache_read is not None:
            assert price.cache_read < price.input, model


def test_model_aliases_cover_provider_prefixes_and_date_suffixes() -> None:
    assert model_aliases("openai/gpt-4o-2024-08-06") == [
        "openai/gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06",
        "openai/gpt-4o",
        "gpt-4o",
    ]
    assert model_aliases("claude-sonnet-4-20250514") == [
        "claude-sonnet-4-20250514",
        "claude-sonnet-4",
    ]


def test_app_prices_override_prices_for_every_app_which_override_builtin_ones() -> None:
    cheap, dear = Price(Decimal(1), Decimal(1)), Price(Decimal(9), Decimal(9))
    book = PriceBook(entries={("vip", "gpt-4o"): cheap, ("*", "gpt-4o"): dear})
    assert book.lookup("vip", "gpt-4o") is cheap
    assert book.lookup("other", "gpt-4o-2024-08-06") is dear
    assert book.lookup("other", "gpt-4o-mini") is BUILTIN_PRICES["gpt-4o-mini"]
    assert book.lookup("other", "my-finetune") is None
    usage = Usage(input=1_000_000, output=0)
    assert book.cost("vip", "gpt-4o", usage) == Decimal(1)
    assert book.cost("vip", None, usage) is None


def test_price_files_are_validated_entry_by_entry() -> None:
    entries = parse_price_entries({"m": {"input": 1, "output": "2.5", "cache_read": ""}})
    assert entries == [PriceEntry(model="m", price=Price(Decimal(1), Decimal("2.5")))]
    bad = {
        "x": ({"m": {"input": 1}}, "prices.m.output: required (USD per million tokens)"),
        "y": ([{"model": "m", "input": 1, "output": 1, "nope": 1}], "prices[0]: unknown field"),
        "z": ({"m": {"input": "cheap", "output": 1}}, "prices.m.input: expected a number"),
        "w": (
            [{"model": "m", "input": 1, "output": 1}, {"model": "m", "input": 2, "output": 2}],
            "prices: m (app *) is priced twice",
        ),
        "v": ({"m": {"input": 1, "output": 1, "app": "a b"}}, "prices.m.app: not an app id"),
    }
    for raw, message in bad.values():
        with pytest.raises(PriceError) as raised:
            parse_price_entries(raw)
        assert str(raised.value).startswith(message)


def test_prices_are_bounded_so_a_computed_cost_always_fits() -> None:
    at_bound = parse_price_entries({"m": {"input": MAX_PRICE, "output": 0}})
    assert at_bound[0].price.input == MAX_PRICE
    with pytest.raises(PriceError) as raised:
        parse_price_entries({"m": {"input": 1, "output": 1, "reasoning": 10_000.5}})
    assert str(raised.value) == (
        "prices.m.reasoning: 10000.5 is not a price in USD per million tokens (0 to 10,000)"
    )


def test_a_computed_cost_beyond_the_bound_is_an_error_of_the_records_cost() -> None:
    book = PriceBook(entries={("*", "dear"): Price(Decimal(MAX_PRICE), Decimal(MAX_PRICE))})
    # 10^7 tokens at 10,000 USD per million: exactly the bound.
    assert book.cost("a", "dear", Usage(input=10_000_000)) == MAX_COST
    with pytest.raises(RecordError) as raised:
        book.cost("a", "dear", Usage(input=MAX_TOKENS, output=MAX_TOKENS))
    assert str(raised.value) == (
        "cost: 20000000 USD, computed from the price of model dear, is more than 100,000 USD,"
        " the most one request may cost; check the usage or the price"
    )
