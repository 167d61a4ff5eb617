"""The stages between a parsed call and the answer: resolve, admit, run the plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.errors import ModelNotFound, NotFound
from gateway.governance.keys import Caller
from gateway.observability.record import RequestRecord
from gateway.pipeline.affinity import ResponseAffinity
from gateway.pipeline.call import Call
from gateway.pipeline.door import Door
from gateway.resilience.served import Served
from gateway.routing.table import Route
from gateway.runtime import Gateway, Snapshot
from gateway.state.affinity import Holder


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
    # The users' own provider keys (BYOK): in this call frame only, never on the record.
    user_keys: Mapping[str, str] | None = None
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
    def __init__(
        self,
        gateway: Gateway,
        stages: Sequence[Stage] = (),
        served_on: Mapping[str, str] | None = None,
    ) -> None:
        self.gateway = gateway
        self.stages = tuple(stages)
        # Where each catalog type is served, for the hint when a door gets another.
        self.served_on = dict(served_on or {})
        self.affinity = ResponseAffinity(gateway)

    async def serve(self, exchange: Exchange) -> Served:
        gateway = self.gateway
        snapshot = exchange.snapshot
        call = exchange.call
        record = exchange.record
        user_keys = exchange.user_keys = snapshot.user_keys.take(exchange.headers)
        holder: Holder | None = None
        if call.affinity_id is not None:
            record.affinity_id = call.affinity_id
            holder = await self.affinity.holder(call.affinity_id)
            if holder is None and not call.model:
                raise NotFound(
                    f"no response '{call.affinity_id}' is known to the gateway (made "
                    "elsewhere, deleted, or older than state.response_ttl_s)",
                    param="response_id",
                )
        route = self._resolve(snapshot, call.model, holder)
        model_type = route.model_type
        if model_type is not None and model_type != exchange.door.model_type:
            where = self.served_on.get(model_type)
            raise ModelNotFound(
                f"The model '{call.model}' is {_article(model_type)} {model_type} model"
                + (f"; it is served on {where}, not here" if where else "; not served here"),
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
        if holder is not None:
            assert call.affinity_id is not None
            served = await self.affinity.serve(exchange, call.affinity_id, holder, user_keys)
            return self._served(record, served)
        door = exchange.door
        forwarded = door.upstream_headers(exchange.headers)
        if route.triage is not None and snapshot.triage is not None:
            served = await snapshot.triage.serve(
                route,
                profile,
                call.body,
                record,
                call.prompt_estimate,
                user_keys,
                door.wire,
                forwarded,
            )
        else:
            members = route.members_for(profile)
            plan = snapshot.planner.plan(route, members, call.body, call.prompt_estimate, record)
            served = await snapshot.runner.run(
                plan, call.body, record, call.prompt_estimate, user_keys, door.wire, forwarded
            )
        return self._served(record, served)

    @staticmethod
    def _resolve(snapshot: Snapshot, name: str, holder: Holder | None) -> Route:
        table = snapshot.table
        if name:
            route = table.resolve(name)
            if route is None:
                raise ModelNotFound(
                    f"The model '{name}' is not a route, a catalog model or a provider/model name",
                    param="model",
                )
            return route
        assert holder is not None
        # A call on a stored response names no model: it is counted on the route
        # that made the response, or on its provider when that route is gone.
        route = table.resolve(holder.route)
        if route is not None:
            return route
        return Route(
            name=holder.route,
            pool=(),
            kind="direct",
            model_type=None,
            metrics_label=f"direct:{holder.provider}",
        )

    @staticmethod
    def _served(record: RequestRecord, served: Served) -> Served:
        member = served.member
        record.provider = member.provider
        record.model = member.upstream_model
        record.alias = member.alias
        record.status = served.status
        return served


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
