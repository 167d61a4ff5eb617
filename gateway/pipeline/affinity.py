"""Calls on a stored response go to the member that made it, and to no other.

A Responses answer's id lives in the provider that made it: a follow-up naming it
(``previous_response_id``) or a call on ``/v1/responses/{id}`` is served by that
member only. When that member is parked or fails, the call fails with a 503 that says why,
rather than falling over to a member that would answer "not found".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.errors import HolderUnavailable, NoMemberAvailable
from gateway.observability.record import RequestRecord
from gateway.resilience.served import Served
from gateway.routing.table import Member
from gateway.runtime import Gateway, Snapshot
from gateway.state.affinity import Holder
from gateway.state.base import StateStore

if TYPE_CHECKING:
    from gateway.pipeline.pipeline import Exchange


class ResponseAffinity:
    """Looks up, records and serves by the member holding a response id."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def holder(self, key: str) -> Holder | None:
        state = self.gateway.state
        unavailable: tuple[type[Exception], ...] = (TimeoutError, *state.unavailable_errors)
        try:
            return await state.find_holder(key)
        except unavailable:
            raise HolderUnavailable(
                f"the gateway could not look up which member holds '{key}' "
                "(the shared state store is unreachable); try again shortly",
                headers={"Retry-After": "1"},
            ) from None

    async def serve(
        self,
        exchange: Exchange,
        key: str,
        holder: Holder,
        user_keys: Mapping[str, str] | None = None,
    ) -> Served:
        snapshot = exchange.snapshot
        record = exchange.record
        member = _member(snapshot, holder)
        if member is None:
            raise HolderUnavailable(
                f"'{key}' is held by '{holder.alias}' on provider '{holder.provider}', "
                "which is no longer configured"
            )
        state = self.gateway.state
        now = state.cooldowns.now()
        if state.is_parked(member.cooldown_key, now):
            until = state.cooldowns.soonest([member.cooldown_key], now) or now
            wait = max(1, math.ceil(until - now))
            reason = state.cooldowns.reason(member.cooldown_key) or "a failure"
            raise HolderUnavailable(
                f"'{key}' is held by '{member.alias}' ({member.provider}), which is parked "
                f"after {reason} for {wait} s; no other member can serve it",
                headers={"Retry-After": str(wait)},
            )
        call = exchange.call
        try:
            return await snapshot.runner.run(
                [member],
                call.body,
                record,
                call.prompt_estimate,
                user_keys,
                exchange.door.wire,
                exchange.door.upstream_headers(exchange.headers),
            )
        except NoMemberAvailable as exc:
            raise HolderUnavailable(
                f"'{key}' is held by '{member.alias}' ({member.provider}), which failed: "
                f"{_attempts(record)}; no other member can serve it",
                headers=exc.headers,
            ) from None


def _attempts(record: RequestRecord) -> str:
    return "; ".join(
        f"{a.outcome}" + (f" ({a.status})" if a.status else "") for a in record.attempts
    )


def _member(snapshot: Snapshot, holder: Holder) -> Member | None:
    """The holder as a member of today's config: with its route's options and price
    when that route still has it, else as its catalog model or bare."""
    if holder.provider not in snapshot.providers:
        return None
    table = snapshot.table
    for route in (table.resolve(holder.route), table.aliases.get(holder.alias)):
        if route is None:
            continue
        for pool in (route.pool, *route.profiles.values()):
            for member in pool:
                if (member.provider, member.upstream_model) == (
                    holder.provider,
                    holder.upstream_model,
                ):
                    return member
    return Member(
        alias=holder.alias, provider=holder.provider, upstream_model=holder.upstream_model
    )


class AffinityRecorder:
    """An observer: remembers the member behind each stored response it sees made,
    and forgets one deleted through the gateway."""

    def __init__(self, state: StateStore, ttl_s: float) -> None:
        self.state = state
        self.ttl_s = ttl_s
        # One Holder per member and route, shared by all the ids it made: the local
        # book holds up to 100,000 ids.
        self._holders: dict[tuple[str, str, str, str], Holder] = {}

    def _holder(self, record: RequestRecord) -> Holder:
        key = (record.route or "", record.alias or "", record.provider or "", record.model or "")
        holder = self._holders.get(key)
        if holder is None:
            if len(self._holders) > 4096:
                self._holders.clear()
            holder = self._holders[key] = Holder(*key)
        return holder

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        if record.status >= 400 or record.provider is None:
            return
        if record.created_id is not None:
            self.state.remember_holder(record.created_id, self._holder(record), self.ttl_s)
        elif record.operation == "responses.delete" and record.affinity_id is not None:
            self.state.forget_holder(record.affinity_id)
