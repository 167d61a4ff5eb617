"""Admission as a pipeline stage: after the route and profile are known, before the plan."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.governance.admission import RefillPending
from gateway.resilience.served import Served

if TYPE_CHECKING:
    from gateway.governance.governor import Governor
    from gateway.pipeline.pipeline import Exchange

# The longest a request waits for a lease refill before it is refused.
REFILL_WAIT_S = 0.25


class AdmissionStage:
    def __init__(self, governor: Governor) -> None:
        self.governor = governor

    async def __call__(self, exchange: Exchange) -> Served | None:
        caller = exchange.caller
        if caller is not None and caller.governed:
            route = exchange.route
            assert route is not None
            call = exchange.call
            admitter = self.governor.admitter
            args = (exchange.record, caller, route.name, exchange.profile, call.body)
            deadline = time.monotonic() + REFILL_WAIT_S
            while True:
                try:
                    admitter.admit(*args, call.prompt_estimate, final=False)
                    break
                except RefillPending:
                    # Rare: the local lease ran out within a burst while the shared
                    # window may still have room: wait (bounded) for refills in flight.
                    left = deadline - time.monotonic()
                    if left <= 0:
                        admitter.admit(*args, call.prompt_estimate)
                        break
                    await self.governor.quotas.wait_refill(left)
        return None
