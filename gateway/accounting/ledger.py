"""The usage ledger: an observer that turns each finished request into counter increments."""

from __future__ import annotations

import time

from gateway.accounting.counters import UsageEvent
from gateway.observability.record import RequestRecord
from gateway.state.base import StateStore


class UsageLedger:
    """Counts every request that resolved a route; the store batches and shares it.

    Requests rejected before routing (bad key, unknown model, malformed body) are not
    counted: they have no route to charge and would let anyone inflate the counters.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        if record.route is None:
            return
        usage = record.usage
        self.state.add_usage(
            UsageEvent(
                route=record.route,
                profile=record.profile or "",
                provider=record.provider or "",
                model=record.alias or "",
                api_key=record.api_key_id or "",
                key=record.key_name or "",
                team=record.team or "",
                error=record.status >= 400 or record.error_type is not None,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                cached_tokens=usage.cached_tokens if usage else 0,
                cost_micro_usd=record.cost_micro_usd,
                at=time.time(),
                cache="" if record.cache == "off" else record.cache,
                saved_cost_micro_usd=record.saved_cost_micro_usd,
            )
        )
