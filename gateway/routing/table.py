"""The runtime route table: frozen objects built once from a validated config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gateway.accounting.pricing import PicoPrice
from gateway.config.loader import ConfigError
from gateway.config.schema import GatewayConfig, PoolEntry, RouteSection
from gateway.governance.config import ModelLimits
from gateway.routing.options import deep_merge, flatten_extra_body

if TYPE_CHECKING:
    from gateway.routing.triage.route import TriageRoute


@dataclass(frozen=True, slots=True)
class Member:
    """One pool entry, resolved to its own provider, upstream name and options."""

    alias: str
    provider: str
    upstream_model: str
    weight: float = 1.0
    context_window: int | None = None
    price: PicoPrice | None = None  # exact, converted once from the catalog's price
    defaults: Mapping[str, Any] = field(default_factory=dict)
    forced: Mapping[str, Any] = field(default_factory=dict)
    limits: ModelLimits | None = None  # the deployment's quota (provider quotas)
    # Parking and routing signals are about a provider's model, whichever alias or route
    # reached it. Computed once: plans read it for every member of every request.
    cooldown_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cooldown_key", f"{self.provider}/{self.upstream_model}")


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    pool: tuple[Member, ...]
    profiles: Mapping[str, tuple[Member, ...]] = field(default_factory=dict)
    policy: str = "priority"
    exploration: float = 0.0
    pinned: bool = False
    kind: str = "route"  # route | alias | direct | tier
    metrics_label: str = ""
    triage: TriageRoute | None = None  # set on a route with `triage:` instead of a pool
    # The catalog type of every member (``chat``, ``embeddings``); None for a direct
    # ``provider/model`` name, whose type the gateway cannot know.
    model_type: str | None = "chat"

    def members_for(self, profile: str | None) -> tuple[Member, ...]:
        if self.pinned or profile is None:
            return self.pool
        return self.profiles.get(profile, self.pool)

    def profile_used(self, profile: str | None) -> str | None:
        if self.pinned or profile is None or profile not in self.profiles:
            return None
        return profile


# Only ``latency`` explores unless told: least_busy corrects itself with live counts,
# and prices do not change between requests.
DEFAULT_EXPLORATION = {"latency": 0.05}


class _MemberBuilder:
    """Builds members, sharing the work per catalog model: with 10,000 routes,
    rebuilding each model's options for every route it appears in would dominate
    startup."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._plain: dict[str, Member] = {}

    def plain(self, alias: str) -> Member:
        """The catalog model on its own: its options, no route's."""
        member = self._plain.get(alias)
        if member is None:
            model = self.config.models[alias]
            member = Member(
                alias=alias,
                provider=model.provider,
                upstream_model=model.model or alias,
                context_window=model.context_window,
                price=PicoPrice.of(model.price),
                defaults=flatten_extra_body(model.options),
                limits=model.limits,
            )
            self._plain[alias] = member
        return member

    def member(
        self, entry: PoolEntry, route_options: Mapping[str, Any], force: list[str]
    ) -> Member:
        base = self.plain(entry.model)
        if not route_options and not force:
            return base if entry.weight == base.weight else replace(base, weight=entry.weight)
        defaults = deep_merge(base.defaults, route_options)
        forced = {k: defaults[k] for k in force if k in defaults}
        return replace(base, weight=entry.weight, defaults=defaults, forced=forced)


def _build_route(builder: _MemberBuilder, name: str, section: RouteSection) -> Route:
    options = flatten_extra_body(section.options)
    force = section.force
    pool = tuple(builder.member(e, options, force) for e in section.pool or [])
    profiles = {
        profile: tuple(builder.member(e, options, force) for e in entries)
        for profile, entries in section.profiles.items()
    }
    first = pool[0] if pool else next((p[0] for p in profiles.values() if p), None)
    return Route(
        name=name,
        pool=pool,
        profiles=profiles,
        policy=section.policy,
        exploration=DEFAULT_EXPLORATION.get(section.policy, 0.0)
        if section.exploration is None
        else section.exploration,
        pinned=section.pinned,
        kind="route",
        metrics_label=name,
        model_type=builder.config.models[first.alias].type if first else "chat",
    )


class RouteTable:
    """Everything a request can name: routes, catalog aliases, ``provider/model``."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        builder = _MemberBuilder(config)
        self.routes: dict[str, Route] = {
            name: _build_route(builder, name, section)
            for name, section in config.routes.items()
            if section.triage is None
        }
        self.aliases: dict[str, Route] = {}
        for alias in config.models:
            member = builder.plain(alias)
            self.aliases[alias] = Route(
                name=alias,
                pool=(member,),
                pinned=True,
                kind="alias",
                metrics_label=alias,
                model_type=config.models[alias].type,
            )
        self.providers = frozenset(config.providers)
        self.allow_direct = config.server.allow_direct_models
        self.profiles = config.known_profiles()
        self._direct: dict[str, Route] = {}
        if len(self.routes) < len(config.routes):
            self._add_triage_routes(builder)

    def _add_triage_routes(self, builder: _MemberBuilder) -> None:
        from gateway.routing.triage.route import build_triage_route

        built = {
            name: build_triage_route(self.config, name, self.resolve, builder.member)
            for name, section in self.config.routes.items()
            if section.triage is not None
        }
        self.routes = {name: self.routes.get(name) or built[name] for name in self.config.routes}

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
            model_type=None,
            # Client-chosen names must not become unbounded metric labels.
            metrics_label=f"direct:{provider}",
        )
        if len(self._direct) < 4096:
            self._direct[name] = route
        return route


def check_profile(profiles: frozenset[str], profile: str | None) -> None:
    """A profile named outside the file (flag, env) must be one the routes know."""
    if profile is not None and profiles and profile not in profiles:
        known = ", ".join(sorted(profiles))
        raise ConfigError("profile", [f"profile: unknown profile '{profile}' (known: {known})"])
