"""The running gateway: the state that outlives a config, and the config snapshot.

A ``Snapshot`` bundles everything derived from one config file. A request takes
the current snapshot when it starts and keeps it to the end, so a reload changes
what new requests see while requests in flight finish on the old one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.config.schema import GatewayConfig
from gateway.errors import UnknownProfile
from gateway.observability.record import RequestObserver
from gateway.providers.base import Provider
from gateway.providers.registry import build_providers
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.table import RouteTable
from gateway.state.base import StateStore


@dataclass(frozen=True, slots=True)
class Snapshot:
    config: GatewayConfig
    table: RouteTable
    providers: dict[str, Provider]
    runner: AttemptRunner
    profile: str | None

    def pick_profile(self, requested: str | None) -> str | None:
        if requested is None or not self.config.server.allow_profile_header:
            return self.profile
        if requested not in self.table.profiles:
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
) -> Snapshot:
    table = RouteTable(config)
    providers = build_providers(config.providers)
    runner = AttemptRunner(providers, state, config.resilience, rng)
    return Snapshot(
        config=config,
        table=table,
        providers=providers,
        runner=runner,
        profile=profile_override or config.profile,
    )


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
    ) -> None:
        self.snapshot = snapshot
        self.state = state
        self.observers = observers
        self.api_keys = api_keys
        self.admin_keys = admin_keys
        self.rng = rng or random.Random()
        self.draining = False

    async def aclose(self) -> None:
        for provider in self.snapshot.providers.values():
            await provider.aclose()
        await self.state.aclose()
