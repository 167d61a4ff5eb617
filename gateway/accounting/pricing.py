"""Cost = tokens × the model's price (USD per 1M tokens), kept in integer micro-USD."""

from __future__ import annotations

from gateway.config.schema import Price
from gateway.observability.record import Usage


def cost_micro_usd(price: Price | None, usage: Usage) -> int:
    if price is None:
        return 0
    cached = min(usage.cached_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    write_rate = price.cache_write_input if price.cache_write_input is not None else price.input
    # price is USD per 1M tokens, so tokens × price is already micro-USD.
    micro = (
        (usage.input_tokens - cached - written) * price.input
        + cached * cached_rate
        + written * write_rate
        + usage.output_tokens * price.output
    )
    return round(micro)
