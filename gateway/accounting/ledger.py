"""The usage ledger: an observer that turns each finished request into counter increments."""

from __future__ import annotations

import time

from gateway.accounting.counters import UsageEvent
from gateway.observability.record import RequestRecord
from gateway.state.base import StateStore


def _event(request: RequestRecord, call: RequestRecord, purpose: str) -> UsageEvent:
    """``call``'s usage, under ``request``'s route, profile and key."""
    usage = call.usage
    return UsageEvent(
        route=request.route or "",
        profile=request.profile or "",
        provider=call.provider or "",
        model=call.alias or "",
        api_key=request.api_key_id or "",
        key=request.key_name or "",
        team=request.team or "",
        error=call.status >= 400 or call.error_type is not None,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_tokens=usage.cached_tokens if usage else 0,
        cost_pico_usd=call.cost_pico_usd,
        at=time.time(),
        cache="" if call.cache == "off" else call.cache,
        saved_cost_pico_usd=call.saved_cost_pico_usd,
        purpose=purpose,
        byok=call.byok,
    )


class UsageLedger:
    """Counts every request that resolved a route; the store batches and shares it.

    Requests rejected before routing (bad key, unknown model, malformed body) are not
    counted: they have no route to charge and would let anyone inflate the counters.
    A triage route's classifier call is counted as an event of its own, with
    ``purpose=triage``.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        if record.route is None:
            return
        self.state.add_usage(_event(record, record, "answer"))
        triage = record.triage
        if triage is not None and triage.classifier is not None:
            self.state.add_usage(_event(record, triage.classifier, "triage"))
