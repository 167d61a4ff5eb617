"""Admission as a pipeline stage: after the route and profile are known, before the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.resilience.attempts import Served

if TYPE_CHECKING:
    from gateway.governance.governor import Governor
    from gateway.pipeline.pipeline import Exchange


class AdmissionStage:
    def __init__(self, governor: Governor) -> None:
        self.governor = governor

    async def __call__(self, exchange: Exchange) -> Served | None:
        caller = exchange.caller
        if caller is not None and caller.governed:
            route = exchange.route
            assert route is not None
            call = exchange.call
            self.governor.admitter.admit(
                exchange.record,
                caller,
                route.name,
                exchange.profile,
                call.body,
                call.prompt_estimate,
            )
        return None
