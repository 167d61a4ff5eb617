"""The stages between a parsed call and the answer: resolve, admit, run the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.errors import ModelNotFound
from gateway.governance.keys import Caller
from gateway.observability.record import RequestRecord
from gateway.pipeline.call import Call
from gateway.pipeline.door import Door
from gateway.resilience.attempts import Served
from gateway.routing.policies import order_pool
from gateway.routing.table import Route
from gateway.runtime import Gateway, Snapshot


@dataclass(slots=True)
class Exchange:
    """One request on its way through the stages."""

    snapshot: Snapshot
    door: Door
    headers: dict[bytes, bytes]
    call: Call
    record: RequestRecord
    route: Route | None = None
    profile: str | None = None
    caller: Caller | None = None  # None: the gateway is open
    notes: dict[str, object] = field(default_factory=dict)
    # Told about the answer as it goes out (the response cache records a miss).
    recorder: AnswerRecorder | None = None


class AnswerRecorder(Protocol):
    def body(self, body: bytes, record: RequestRecord) -> None: ...

    def chunk(self, events: bytes) -> None: ...

    def stream_end(self, record: RequestRecord) -> None: ...


class Stage(Protocol):
    """A step that runs once the route and profile are known, before the plan.

    It may raise a ``GatewayError`` (the door renders it), or answer by itself (a cache
    hit) by returning what to serve; ``None`` lets the request go on.
    """

    async def __call__(self, exchange: Exchange) -> Served | None: ...


class RequestPipeline:
    def __init__(self, gateway: Gateway, stages: Sequence[Stage] = ()) -> None:
        self.gateway = gateway
        self.stages = tuple(stages)

    async def serve(self, exchange: Exchange) -> Served:
        gateway = self.gateway
        snapshot = exchange.snapshot
        call = exchange.call
        record = exchange.record
        route = snapshot.table.resolve(call.model)
        if route is None:
            raise ModelNotFound(
                f"The model '{call.model}' is not a route, a catalog model or a "
                "provider/model name",
                param="model",
            )
        exchange.route = route
        record.route = route.name
        record.route_label = route.metrics_label
        for observer in gateway.observers:
            observer.on_request_start(record)
        profile_header = exchange.headers.get(b"x-gateway-profile")
        profile = snapshot.pick_profile(
            profile_header.decode("utf-8", "replace") if profile_header else None
        )
        exchange.profile = record.profile = profile
        for stage in self.stages:
            answered = await stage(exchange)
            if answered is not None:
                return self._served(record, answered)
        plan = order_pool(route.policy, route.members_for(profile), gateway.rng)
        served = await snapshot.runner.run(plan, call.body, record, call.prompt_estimate)
        return self._served(record, served)

    @staticmethod
    def _served(record: RequestRecord, served: Served) -> Served:
        member = served.member
        record.provider = member.provider
        record.model = member.upstream_model
        record.alias = member.alias
        record.status = served.status
        return served
