"""Cost = tokens × the model's price, kept exact in integer pico-USD (1e-12 USD).

A price is written in USD per 1M tokens; one pico-USD per token is 1 USD per 1M
tokens × 1e-6, so any price with up to 6 decimals is a whole number of pico-USD per
token. Prices are converted once, when the route table is built, from their decimal
text (never by float multiplication); a request's cost is then integer arithmetic.
Rounding happens only for display (``usd_text``, ``cost_usd`` fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from gateway.observability.record import Usage

if TYPE_CHECKING:
    from gateway.config.schema import Price

PICO_PER_USD = 10**12
PICO_PER_MICRO = 10**6
# USD per 1M tokens -> pico-USD per token.
_PICO_PER_TOKEN_PER_PRICE_UNIT = 10**6
PRICE_DECIMALS = 6


def price_decimal(value: float | int | str) -> Decimal:
    """The price as written. A YAML float's shortest repr is the text the user wrote
    (for up to 15 significant digits), so ``repr`` recovers it exactly."""
    text = value if isinstance(value, str) else repr(value)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


def pico_per_token(value: float | int | str) -> int:
    """USD per 1M tokens -> integer pico-USD per token; ``ValueError`` if not exact."""
    scaled = price_decimal(value).scaleb(PRICE_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{value} USD per 1M tokens has more than {PRICE_DECIMALS} decimals; "
            "the cost ledger is exact to 1e-12 USD per token"
        )
    return int(scaled)


@dataclass(frozen=True, slots=True)
class PicoPrice:
    """A catalog price in pico-USD per token."""

    input: int
    output: int
    cached_input: int
    # Prompt tokens written to the provider's cache (Anthropic's cache_creation).
    cache_write_input: int

    @classmethod
    def of(cls, price: Price | None) -> PicoPrice | None:
        if price is None:
            return None
        cached = price.cached_input if price.cached_input is not None else price.input
        written = price.cache_write_input if price.cache_write_input is not None else price.input
        return cls(
            input=pico_per_token(price.input),
            output=pico_per_token(price.output),
            cached_input=pico_per_token(cached),
            cache_write_input=pico_per_token(written),
        )


def cost_pico_usd(price: PicoPrice | None, usage: Usage) -> int:
    if price is None:
        return 0
    cached = min(usage.cached_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    return (
        (usage.input_tokens - cached - written) * price.input
        + cached * price.cached_input
        + written * price.cache_write_input
        + usage.output_tokens * price.output
    )


def pico_to_usd(pico: int) -> float:
    """For display and float-valued fields only: the nearest double."""
    return pico / PICO_PER_USD


def pico_to_micro(pico: int) -> int | float:
    """Micro-USD as before the exact ledger: an integer when whole, else a fraction."""
    whole, rest = divmod(pico, PICO_PER_MICRO)
    return whole if rest == 0 else pico / PICO_PER_MICRO


def usd_text(pico: int) -> str:
    """The exact amount as a decimal string, at least 6 decimals (``0.0000015``)."""
    sign = "-" if pico < 0 else ""
    whole, frac = divmod(abs(pico), PICO_PER_USD)
    digits = f"{frac:012d}".rstrip("0").ljust(6, "0")
    return f"{sign}{whole}.{digits}"
