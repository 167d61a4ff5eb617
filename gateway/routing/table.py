"""The runtime route table: frozen objects built once from a validated config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.loader import ConfigError
from gateway.config.schema import GatewayConfig, PoolEntry, Price, RouteSection
from gateway.routing.options import deep_merge, flatten_extra_body


@dataclass(frozen=True, slots=True)
class Member:
    """One pool entry, resolved to its own provider, upstream name and options."""

    alias: str
    provider: str
    upstream_model: str
    weight: float = 1.0
    context_window: int | None = None
    price: Price | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    forced: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cooldown_key(self) -> str:
        # Parking is about a provider's model, whichever alias or route reached it.
        return f"{self.provider}/{self.upstream_model}"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    pool: tuple[Member, ...]
    profiles: Mapping[str, tuple[Member, ...]] = field(default_factory=dict)
    policy: str = "priority"
    pinned: bool = False
    kind: str = "route"  # route | alias | direct
    metrics_label: str = ""

    def members_for(self, profile: str | None) -> tuple[Member, ...]:
        if self.pinned or profile is None:
            return self.pool
        return self.profiles.get(profile, self.pool)

    def profile_used(self, profile: str | None) -> str | None:
        if self.pinned or profile is None or profile not in self.profiles:
            return None
        return profile


def _member(config: GatewayConfig, entry: PoolEntry, route: RouteSection | None) -> Member:
    model = config.models[entry.model]
    route_options = flatten_extra_body(route.options) if route else {}
    defaults = deep_merge(flatten_extra_body(model.options), route_options)
    forced = {k: defaults[k] for k in (route.force if route else []) if k in defaults}
    return Member(
        alias=entry.model,
        provider=model.provider,
        upstream_model=model.model or entry.model,
        weight=entry.weight,
        context_window=model.context_window,
        price=model.price,
        defaults=defaults,
        forced=forced,
    )


def _build_route(config: GatewayConfig, name: str, section: RouteSection) -> Route:
    pool = tuple(_member(config, e, section) for e in section.pool or [])
    profiles = {
        profile: tuple(_member(config, e, section) for e in entries)
        for profile, entries in section.profiles.items()
    }
    return Route(
        name=name,
        pool=pool,
        profiles=profiles,
        policy=section.policy,
        pinned=section.pinned,
        kind="route",
        metrics_label=name,
    )


class RouteTable:
    """Everything a request can name: routes, catalog aliases, ``provider/model``."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.routes: dict[str, Route] = {
            name: _build_route(config, name, section) for name, section in config.routes.items()
        }
        self.aliases: dict[str, Route] = {}
        for alias in config.models:
            member = _member(config, PoolEntry(model=alias), None)
            self.aliases[alias] = Route(
                name=alias, pool=(member,), pinned=True, kind="alias", metrics_label=alias
            )
        self.providers = frozenset(config.providers)
        self.allow_direct = config.server.allow_direct_models
        self.profiles: frozenset[str] = frozenset(
            {p for r in config.routes.values() for p in r.profiles}
            | ({config.profile} if config.profile else set())
        )
        self._direct: dict[str, Route] = {}

    def resolve(self, name: str) -> Route | None:
        route = self.routes.get(name)
        if route is not None:
            return route
        route = self.aliases.get(name)
        if route is not None:
            return route
        if self.allow_direct:
            return self._direct_route(name)
        return None

    def _direct_route(self, name: str) -> Route | None:
        cached = self._direct.get(name)
        if cached is not None:
            return cached
        provider, sep, upstream = name.partition("/")
        if not sep or not upstream or provider not in self.providers:
            return None
        member = Member(alias=name, provider=provider, upstream_model=upstream)
        route = Route(
            name=name,
            pool=(member,),
            pinned=True,
            kind="direct",
            # Client-chosen names must not become unbounded metric labels.
            metrics_label=f"direct:{provider}",
        )
        if len(self._direct) < 4096:
            self._direct[name] = route
        return route


def check_profile(table: RouteTable, profile: str | None) -> None:
    """A profile named outside the file (flag, env) must be one the routes know."""
    if profile is not None and table.profiles and profile not in table.profiles:
        known = ", ".join(sorted(table.profiles))
        raise ConfigError("profile", [f"profile: unknown profile '{profile}' (known: {known})"])
