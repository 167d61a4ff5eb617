"""Prices become exact integers once; costs are integer sums; rounding is for display."""

from __future__ import annotations

import pytest

from gateway.accounting.pricing import (
    PicoPrice,
    cost_pico_usd,
    pico_per_token,
    pico_to_micro,
    usd_text,
)
from gateway.config.loader import ConfigError, load_config_text
from gateway.config.schema import Price
from gateway.observability.exact_counter import ExactUsdCounter
from gateway.observability.fastmetrics import CounterChild
from gateway.observability.record import Usage


@pytest.mark.parametrize(
    ("written", "pico"),
    [
        (0.15, 150_000),
        (0.075, 75_000),
        (0.000001, 1),
        (1e-06, 1),
        (2.5, 2_500_000),
        (0.1 + 0.2, None),  # 0.30000000000000004: not a price anyone wrote
        (9999.999999, 9_999_999_999),
        ("0.6", 600_000),
        (3, 3_000_000),
    ],
)
def test_price_to_pico_per_token(written: float | str, pico: int | None) -> None:
    if pico is None:
        with pytest.raises(ValueError, match="more than 6 decimals"):
            pico_per_token(written)
    else:
        assert pico_per_token(written) == pico


def test_a_price_beyond_the_ledger_precision_names_its_path() -> None:
    config = """
providers: {m: {kind: mock}}
models:
  a: {provider: m, price: {input: 0.15, output: 0.0000005}}
  b: {provider: m, price: {input: 20000}}
"""
    with pytest.raises(ConfigError) as raised:
        load_config_text(config)
    problems = raised.value.problems
    assert any(p.startswith("models.a.price.output: ") and "6 decimals" in p for p in problems)
    assert any(p.startswith("models.b.price.input: ") for p in problems)


def test_cost_is_an_exact_integer() -> None:
    price = PicoPrice.of(Price(input=0.15, output=0.6, cached_input=0.075))
    assert price == PicoPrice(150_000, 600_000, 75_000, 150_000)
    # 10 tokens at $0.15 per 1M: 1.5 micro-USD, which the micro-USD ledger booked as 2.
    assert cost_pico_usd(price, Usage(input_tokens=10)) == 1_500_000
    assert cost_pico_usd(price, Usage(10, 3, 4)) == 6 * 150_000 + 4 * 75_000 + 3 * 600_000
    # cached_input defaults to input; cached beyond input is input
    plain = PicoPrice.of(Price(input=0.15))
    assert plain is not None and plain.cached_input == 150_000
    assert cost_pico_usd(plain, Usage(2, 0, 5)) == 300_000
    assert cost_pico_usd(None, Usage(10, 10, 0)) == 0


def test_display_forms() -> None:
    assert usd_text(0) == "0.000000"
    assert usd_text(1_500_000) == "0.0000015"
    assert usd_text(2_000_000) == "0.000002"
    assert usd_text(12 * 10**12 + 1) == "12.000000000001"
    assert pico_to_micro(288 * 10**6) == 288 and isinstance(pico_to_micro(288 * 10**6), int)
    assert pico_to_micro(285_500_000) == 285.5


def test_the_cost_counter_does_not_drift() -> None:
    child = CounterChild()
    counter = ExactUsdCounter(child)
    drifting = 0.0
    for _ in range(100_000):
        counter.add(1_500_000)
        drifting += 1.5e-6
    assert counter.pico == 150_000_000_000
    assert child.value == 0.15  # the exact sum's nearest double
    assert drifting != 0.15  # what adding each request's float cost gives
