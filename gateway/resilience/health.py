"""Optional health checks: tiny background requests to members that are out of
service, so their recovery is noticed without risking a user's request.

A member with ``health_check`` (on its catalog model, or on a route it serves) is
checked every ``interval_s`` while it is parked or probing, by one replica at a
time:
- **parked**: under the shared lock ``health:<key>``, held for the interval (so the
  replicas together send one check per interval). An answer ends the park at once on
  every replica; a failure leaves the deadline as it is. A member parked by a rate
  limit is left alone until its deadline: the upstream said when to come back.
- **probing**: the check claims the member's probe like a request would (see
  ``gateway.resilience.recovery``) and settles it: an answer makes the member
  available, a failure parks it again for twice as long.

Checks go straight to the provider: no route, no usage counters, no cost, no key.
Their outcomes are counted in ``gateway_health_checks_total``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from gateway.config.schema import GatewayConfig, HealthCheck
from gateway.providers.base import Provider, UpstreamError, UpstreamRequest, UpstreamResponse
from gateway.resilience.classify import (
    AVAILABILITY_FAILURES,
    Outcome,
    classify_exception,
    classify_status,
)
from gateway.resilience.recovery import MemberState, Recovery, member_state
from gateway.routing.table import Member, RouteTable
from gateway.state.base import StateStore

log = structlog.get_logger("gateway.health")

HealthListener = Callable[[str, str], None]  # cooldown key, outcome
IDLE_TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class HealthTarget:
    key: str
    provider: str
    upstream_model: str
    check: HealthCheck


def health_targets(config: GatewayConfig, table: RouteTable) -> dict[str, HealthTarget]:
    """One target per provider model: its catalog model's ``health_check``, else the
    shortest interval among the routes that serve it."""
    targets: dict[str, HealthTarget] = {}

    def add(members: Iterable[Member], check: HealthCheck) -> None:
        for m in members:
            known = targets.get(m.cooldown_key)
            if known is None or check.interval_s < known.check.interval_s:
                targets[m.cooldown_key] = HealthTarget(
                    m.cooldown_key, m.provider, m.upstream_model, check
                )

    for name, section in config.routes.items():
        if section.health_check is not None:
            route = table.routes[name]
            add(route.pool, section.health_check)
            for pool in route.profiles.values():
                add(pool, section.health_check)
    for alias, model in config.models.items():
        if model.health_check is not None:
            member = table.aliases[alias].pool[0]
            targets.pop(member.cooldown_key, None)
            add([member], model.health_check)
    return targets


@dataclass(frozen=True, slots=True)
class HealthScope:
    """What the checker needs from the current config snapshot."""

    targets: dict[str, HealthTarget]
    providers: dict[str, Provider]
    recovery: Recovery | None
    timeout_s: float


class HealthChecker:
    def __init__(
        self,
        scope: Callable[[], HealthScope],
        state: StateStore,
        listener: HealthListener,
    ) -> None:
        self.scope = scope
        self.state = state
        self.listener = listener
        self._next: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._checks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="health-checks")

    async def aclose(self) -> None:
        tasks = [t for t in (self._task, *self._checks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    async def _run(self) -> None:
        while True:
            scope = self.scope()
            tick = IDLE_TICK_S
            for target in scope.targets.values():
                tick = min(tick, target.check.interval_s / 4)
                await self._maybe_check(scope, target)
            await asyncio.sleep(max(0.05, tick))

    async def _maybe_check(self, scope: HealthScope, target: HealthTarget) -> None:
        key = target.key
        if "chat" not in scope.providers[target.provider].operations:
            return  # the check is a chat request
        half_open = scope.recovery is not None
        state = member_state(self.state.cooldowns, key, self.state.cooldowns.now(), half_open)
        if state is MemberState.AVAILABLE or self._next.get(key, 0.0) > time.monotonic():
            return
        if state is MemberState.PARKED and self.state.cooldowns.reason(key) == "rate_limited":
            return  # the upstream said when to come back; a tiny request proves nothing
        self._next[key] = time.monotonic() + target.check.interval_s
        if state is MemberState.PROBING:
            assert scope.recovery is not None
            if not await scope.recovery.claim(key):
                return
            probe: Recovery | None = scope.recovery
        elif await self.state.try_lock(f"health:{key}", target.check.interval_s):
            probe = None
        else:
            return
        task = asyncio.create_task(self._check(scope, target, probe))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check(
        self, scope: HealthScope, target: HealthTarget, probe: Recovery | None
    ) -> None:
        outcome = Outcome.CLIENT_DISCONNECT
        try:
            outcome = await self._send(scope, target)
        finally:
            self._settle(target, probe, outcome)

    async def _send(self, scope: HealthScope, target: HealthTarget) -> Outcome:
        body = {
            "model": target.upstream_model,
            "messages": [{"role": "user", "content": target.check.prompt}],
            "max_tokens": target.check.max_tokens,
        }
        request = UpstreamRequest(body, False, "health_" + os.urandom(8).hex())
        response: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(scope.timeout_s):
                response = await scope.providers[target.provider].send(request)
                await response.read()
        except TimeoutError:
            return Outcome.TIMEOUT
        except UpstreamError as exc:
            return classify_exception(exc)
        except Exception:  # a provider's bug must not end the checks
            log.exception("health check failed", member=target.key)
            return Outcome.CONNECT_ERROR
        finally:
            if response is not None:
                response.close()
        return classify_status(response.status, False)

    def _settle(self, target: HealthTarget, probe: Recovery | None, outcome: Outcome) -> None:
        key = target.key
        answered = outcome not in AVAILABILITY_FAILURES and outcome is not Outcome.CLIENT_DISCONNECT
        if probe is not None:
            if answered:
                probe.succeeded(key)
            elif outcome is Outcome.CLIENT_DISCONNECT:
                probe.abandoned(key)
            else:
                seconds = probe.next_park_s(key, 0.0)
                probe.failed(key, seconds)
                if seconds > 0:
                    self.state.park(key, self.state.cooldowns.now() + seconds, outcome.value)
        elif answered:
            self.state.recover(key)
        if outcome is not Outcome.CLIENT_DISCONNECT:
            self.listener(key, outcome.value)
            log.info("health check", member=key, outcome=outcome.value)
