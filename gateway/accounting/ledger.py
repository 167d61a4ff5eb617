"""The usage ledger: an observer that turns each finished request into counter increments."""

from __future__ import annotations

import time

from gateway.accounting.counters import UsageEvent
from gateway.observability.record import RequestRecord
from gateway.state.base import StateStore


def _event(request: RequestRecord, call: RequestRecord, purpose: str) -> UsageEvent:
    """``call``'s usage, under ``request``'s route, profile and key.

    Positional, in ``UsageEvent``'s field order: one or two are made per request, and
    each keyword is matched against all seventeen fields."""
    usage = call.usage
    return UsageEvent(
        request.route or "",
        request.profile or "",
        call.provider or "",
        call.alias or "",
        request.api_key_id or "",
        call.status >= 400 or call.error_type is not None,
        usage.input_tokens if usage else 0,
        usage.output_tokens if usage else 0,
        usage.cached_tokens if usage else 0,
        call.cost_pico_usd,
        time.time(),
        "" if call.cache == "off" else call.cache,
        call.saved_cost_pico_usd,
        purpose,
        call.byok,
        request.key_name or "",
        request.team or "",
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
