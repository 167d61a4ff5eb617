"""Which routes cache, and how: the config's ``cache:`` sections, resolved once."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.schema import CacheSection, GatewayConfig


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl_s: float
    max_entry_bytes: int
    deterministic_only: bool
    per_key: bool


def _policy(section: CacheSection) -> CachePolicy | None:
    if not section.enabled:
        return None
    return CachePolicy(
        ttl_s=section.ttl_s,
        max_entry_bytes=section.max_entry_bytes,
        deterministic_only=section.deterministic_only,
        per_key=section.per_key,
    )


@dataclass(frozen=True, slots=True)
class CachePolicies:
    """The policy of each route; ``default`` serves catalog aliases and direct names."""

    routes: dict[str, CachePolicy]
    default: CachePolicy | None

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.routes)

    def for_route(self, name: str, kind: str) -> CachePolicy | None:
        if kind == "route":
            return self.routes.get(name)
        return self.default


def cache_policies(config: GatewayConfig) -> CachePolicies:
    top = config.cache
    default = _policy(top) if top is not None else None
    routes: dict[str, CachePolicy] = {}
    for name, route in config.routes.items():
        section = route.cache
        if section is None:
            if default is not None:
                routes[name] = default
            continue
        if top is not None:
            # A route's own fields win; the rest come from the top-level section.
            merged = {
                field: getattr(section if field in section.model_fields_set else top, field)
                for field in CacheSection.model_fields
            }
            section = CacheSection(**merged)
        policy = _policy(section)
        if policy is not None:
            routes[name] = policy
    return CachePolicies(routes, default)
