from __future__ import annotations

from decimal import Decimal

from usageql.ingest.pricing import BUILTIN_PRICES, Price
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
