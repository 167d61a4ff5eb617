"""The running gateway: the state that outlives a config, and the config snapshot.

A ``Snapshot`` bundles everything derived from one config file. A request takes
the current snapshot when it starts and keeps it to the end, so a reload changes
what new requests see while requests in flight finish on the old one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.api.auth import authorize_admin
from gateway.cache.policy import CachePolicies, cache_policies
from gateway.cache.store import ResponseCacheStore
from gateway.config.schema import ADAPTIVE_POLICIES, GatewayConfig, ResilienceSection
from gateway.errors import UnknownProfile
from gateway.governance.governor import Governor
from gateway.governance.provider_quota import ProviderQuotas
from gateway.lifecycle.streams import OpenStreams
from gateway.observability.record import RequestObserver
from gateway.providers.base import Provider
from gateway.providers.byok import UserKeys
from gateway.providers.http import provider_sections
from gateway.providers.registry import build_providers
from gateway.resilience.attempts import AttemptRunner
from gateway.resilience.health import HealthScope, HealthTarget, health_targets
from gateway.routing.policies import Planner
from gateway.routing.signals import SignalBoard
from gateway.routing.table import RouteTable, check_profile
from gateway.routing.triage.cache import DecisionCache
from gateway.routing.triage.service import TriageService
from gateway.state.base import StateStore

if TYPE_CHECKING:
    from gateway.observability.tracing.runtime import Tracing

# Builds a snapshot's attempt loop: AttemptRunner, or a traced one.
RunnerFactory = Callable[
    [
        Mapping[str, Provider],
        StateStore,
        ResilienceSection,
        random.Random | None,
        SignalBoard | None,
        ProviderQuotas | None,
    ],
    AttemptRunner,
]


class Leases:
    """How many requests still run on a snapshot; a retired snapshot waits for zero."""

    __slots__ = ("_idle", "count")

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def acquire(self) -> None:
        self.count += 1

    def release(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        if self.count == 0:
            return
        self._idle = asyncio.Event()
        await self._idle.wait()


@dataclass(frozen=True, slots=True)
class Snapshot:
    config: GatewayConfig
    table: RouteTable
    providers: dict[str, Provider]
    runner: AttemptRunner
    planner: Planner
    profile: str | None
    cache: CachePolicies = field(default_factory=lambda: CachePolicies({}, None))
    user_keys: UserKeys = field(default_factory=lambda: UserKeys({}))
    leases: Leases = field(default_factory=Leases)
    triage: TriageService | None = None  # only when some route has `triage:`
    make_runner: RunnerFactory = AttemptRunner
    health_targets: dict[str, HealthTarget] = field(default_factory=dict)

    def health_scope(self) -> HealthScope:
        timeout = self.config.resilience.ttft_timeout_s
        return HealthScope(self.health_targets, self.providers, self.runner.recovery, timeout)

    def pick_profile(self, requested: str | None, *, from_header: bool = True) -> str | None:
        """The profile for one request: the header's when allowed, else the active one.

        ``from_header=False`` is for the explain view, which always honours its query.
        """
        if requested is None or (from_header and not self.config.server.allow_profile_header):
            return self.profile
        if requested != self.profile and requested not in self.table.profiles:
            known = ", ".join(sorted(self.table.profiles)) or "none configured"
            raise UnknownProfile(
                f"unknown profile '{requested}' (known: {known})", param="X-Gateway-Profile"
            )
        return requested


def build_snapshot(
    config: GatewayConfig,
    state: StateStore,
    profile_override: str | None = None,
    rng: random.Random | None = None,
    previous: Snapshot | None = None,
    make_runner: RunnerFactory | None = None,
    quotas: ProviderQuotas | None = None,
) -> Snapshot:
    """Derive everything from ``config``; providers whose section did not change
    since ``previous`` are reused, so their connection pools survive a reload, and so
    is its ``make_runner`` unless another is given."""
    table = RouteTable(config)
    profile = profile_override or config.profile
    check_profile(table.profiles, profile)
    sections = provider_sections(config)
    providers = build_providers(
        {n: s for n, s in sections.items() if not _reusable(previous, n, config.providers[n])}
    )
    if previous is not None:
        for name in config.providers:
            if name not in providers:
                providers[name] = previous.providers[name]
        providers = {name: providers[name] for name in config.providers}
    # Signals are recorded only while some route orders by them.
    state.signals.enabled = any(r.policy in ADAPTIVE_POLICIES for r in config.routes.values())
    signals = state.signals if state.signals.enabled else None
    if signals is not None:
        signals.track(route.pool[0].cooldown_key for route in table.aliases.values())
    rng = rng or random.Random()
    if make_runner is None:
        make_runner = previous.make_runner if previous is not None else AttemptRunner
    if quotas is None and previous is not None:
        quotas = previous.runner.quotas
    runner = make_runner(providers, state, config.resilience, rng, signals, quotas)
    planner = Planner(state.signals, state.cooldowns, rng, config.resilience.half_open)
    triage = None
    if any(section.triage is not None for section in config.routes.values()):
        # Verdicts survive a reload: their keys hold the route, classifier and prompt.
        kept = previous.triage.cache if previous and previous.triage else None
        triage = TriageService(runner, kept or DecisionCache(state), rng)
    return Snapshot(
        config=config,
        table=table,
        providers=providers,
        runner=runner,
        planner=planner,
        profile=profile,
        triage=triage,
        make_runner=make_runner,
        cache=cache_policies(config),
        user_keys=UserKeys(providers),
        health_targets=health_targets(config, table),
    )


def _reusable(previous: Snapshot | None, name: str, section: object) -> bool:
    return previous is not None and previous.config.providers.get(name) == section


class Gateway:
    """Owns the current snapshot, the state store and the observers."""

    def __init__(
        self,
        snapshot: Snapshot,
        state: StateStore,
        observers: list[RequestObserver],
        api_keys: frozenset[str],
        admin_keys: frozenset[str],
        rng: random.Random | None = None,
        env_api_keys: frozenset[str] = frozenset(),
        tracing: Tracing | None = None,
        governor: Governor | None = None,
        response_cache: ResponseCacheStore | None = None,
    ) -> None:
        self.snapshot = snapshot
        # None when tracing is off: the chat endpoint's one check, nothing else runs.
        self.tracing = tracing
        self.state = state
        self.response_cache = response_cache
        self.observers = observers
        self.api_keys = api_keys
        # Inbound keys from the environment stay until a restart; the file's own
        # ``server.api_keys`` follow the snapshot (see ``swap``).
        self.env_api_keys = env_api_keys
        self.admin_keys = admin_keys
        self.rng = rng or random.Random()
        self.draining = False
        self.governor = governor or Governor(snapshot.config, state, api_keys)
        self.streams = OpenStreams()

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Serve new requests from ``snapshot``; returns the one it replaces."""
        old, self.snapshot = self.snapshot, snapshot
        self.api_keys = self.env_api_keys | frozenset(snapshot.config.server.api_keys)
        self.governor.configure(snapshot.config, self.api_keys)
        return old

    def authorize_admin(self, headers: dict[bytes, bytes]) -> str:
        """Who may use an admin endpoint: see ``gateway.api.auth.authorize_admin``."""
        return authorize_admin(self.admin_keys, headers, lambda: self.governor.caller(headers))

    async def aclose(self) -> None:
        await self.governor.aclose()
        for provider in self.snapshot.providers.values():
            await provider.aclose()
        if self.response_cache is not None:
            await self.response_cache.aclose()
        await self.state.aclose()
        if self.tracing is not None:
            await self.tracing.aclose()
