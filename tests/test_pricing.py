from __future__ import annotations

from decimal import Decimal

import pytest

from usageql.ingest.bounds import MAX_COST, MAX_PRICE, MAX_TOKENS
from usageql.ingest.model_names import Alias, NamedTable, aliases
from usageql.ingest.parse import RecordError
from usageql.ingest.price_table import PriceEntry, PriceError, parse_price_entries
from usageql.ingest.pricing import BUILTIN_PRICES, Price, PriceBook, Tier
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


def test_aliases_try_the_provider_first_then_the_bare_name_each_with_its_dates() -> None:
    assert aliases("openai/gpt-4o-2024-08-06") == [
        Alias("openai/gpt-4o-2024-08-06"),
        Alias("openai/gpt-4o"),
        Alias("openai/gpt-4o", newest_dated=True),
        Alias("gpt-4o-2024-08-06"),
        Alias("gpt-4o"),
        Alias("gpt-4o", newest_dated=True),
    ]
    assert aliases("claude-sonnet-4-5", provider="anthropic") == [
        Alias("anthropic/claude-sonnet-4-5"),
        Alias("anthropic/claude-sonnet-4-5", newest_dated=True),
        Alias("claude-sonnet-4-5"),
        Alias("claude-sonnet-4-5", newest_dated=True),
    ]
    # A model already named with its provider is not prefixed twice.
    assert aliases("azure/gpt-4o", provider="azure") == [
        Alias("azure/gpt-4o"),
        Alias("azure/gpt-4o", newest_dated=True),
        Alias("gpt-4o"),
        Alias("gpt-4o", newest_dated=True),
    ]


def test_undated_names_find_dated_entries_and_dated_names_undated_ones() -> None:
    # Only the dated names are built in.
    assert "claude-sonnet-4-5" not in BUILTIN_PRICES
    assert "claude-haiku-4-5" not in BUILTIN_PRICES
    book = PriceBook(entries={})
    for undated, dated in [
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ]:
        assert book.lookup("a", undated) is BUILTIN_PRICES[dated], undated
    # The other way: a dated name (in either spelling) finds the undated entry.
    assert book.lookup("a", "gpt-4o-2024-11-20") is BUILTIN_PRICES["gpt-4o"]
    assert book.lookup("a", "openai/gpt-4o-20241120") is BUILTIN_PRICES["gpt-4o"]
    # A snapshot the table does not hold finds its undated name's newest snapshot.
    assert (
        book.lookup("a", "claude-sonnet-4-5-20260101")
        is BUILTIN_PRICES["claude-sonnet-4-5-20250929"]
    )
    assert book.lookup("a", "claude-sonnet-4-5-mini") is None  # a suffix that is not a date
    assert book.lookup("a", "claude-sonnet") is None


def test_an_undated_name_with_several_dated_entries_takes_the_newest_date() -> None:
    old, new, same_day = (
        Price(Decimal(1), Decimal(1)),
        Price(Decimal(2), Decimal(2)),
        Price(Decimal(3), Decimal(3)),
    )
    book = PriceBook(
        entries={
            ("*", "m-2025-12-01"): new,
            ("*", "m-20250101"): old,
            ("*", "m-20251201"): same_day,
        }
    )
    # Newest date first; one date in both spellings: the greater name ("m-20251201").
    assert book.lookup("a", "m") is same_day
    assert book.lookup("a", "m-20250101") is old  # an exact name is never aliased away
    # The choice depends on the table, not on its order.
    reordered = PriceBook(entries=dict(reversed(list(book.entries.items()))))
    assert reordered.lookup("a", "m") is same_day
    assert NamedTable({"m-20250101": 1, "m-2024-06-30": 2}).newest == {"m": "m-20250101"}


def test_a_provider_price_wins_over_the_bare_name_for_that_providers_requests() -> None:
    bare, azure = Price(Decimal(1), Decimal(1)), Price(Decimal(2), Decimal(2))
    book = PriceBook(entries={("*", "gpt-4o"): bare, ("*", "azure/gpt-4o"): azure})
    assert book.lookup("a", "gpt-4o", provider="azure") is azure
    assert book.lookup("a", "azure/gpt-4o") is azure
    assert book.lookup("a", "azure/gpt-4o-2024-08-06") is azure  # before the bare dated name
    assert book.lookup("a", "gpt-4o") is bare
    assert book.lookup("a", "gpt-4o", provider="openai") is bare
    assert book.lookup("a", "openai/gpt-4o") is bare
    usage = Usage(input=1_000_000)
    assert book.cost("a", "gpt-4o", usage, provider="azure") == 2
    assert book.cost("a", "gpt-4o", usage, provider="openai") == 1


def test_a_tier_prices_requests_whose_input_exceeds_it() -> None:
    tier = Tier(above=200_000, input=Decimal(6), output=Decimal("22.5"), cache_read=Decimal("0.6"))
    price = Price(Decimal(3), Decimal(15), cache_read=Decimal("0.3"), cache_write=Decimal("3.75"),
                  tiers=(tier,))  # fmt: skip
    at_tier = Usage(input=200_000, output=1_000_000)
    assert price.cost(at_tier) == (200_000 * 3 + 1_000_000 * 15) / Decimal(1_000_000)
    beyond = Usage(input=200_001, output=1_000_000, cache_read=100_000, cache_write=1)
    # Fresh input, output and cache reads at the tier; cache writes (not in the tier): the base.
    expected = (
        100_000 * 6 + 100_000 * Decimal("0.6") + Decimal("3.75") + 1_000_000 * Decimal("22.5")
    )
    assert price.cost(beyond) == expected / 1_000_000
    higher = Tier(above=1_000_000, input=Decimal(9))
    both = Price(Decimal(3), Decimal(15), tiers=(higher, tier))
    assert both.at(2_000_000) == Price(Decimal(9), Decimal(15))  # the highest tier exceeded
    assert both.at(500_000) == Price(Decimal(6), Decimal("22.5"), cache_read=Decimal("0.6"))
    sonnet = BUILTIN_PRICES["claude-sonnet-4-5-20250929"]
    assert sonnet.at(300_000).input == 6
    assert sonnet.at(200_000).input == 3


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
