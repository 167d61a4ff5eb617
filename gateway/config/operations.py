"""Config rules about what members can serve: one model type per route, and provider
kinds able to serve their models' type and their routes' ``api``."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.config.schema import GatewayConfig, PoolEntry, RouteSection

# The operation a route's members must serve for a model type or a route ``api``.
TYPE_OPERATION = {"chat": "chat", "embeddings": "embeddings"}
API_OPERATION = {"responses": "responses"}


def kind_operations(kind: str) -> frozenset[str]:
    # Imported here: the registry imports every provider kind, which import the schema.
    from gateway.providers.registry import PROVIDER_KINDS

    factory = PROVIDER_KINDS.get(kind)
    return frozenset(getattr(factory, "operations", frozenset()))


def route_pools(
    config: GatewayConfig, base: str, route: RouteSection
) -> Iterator[tuple[str, list[PoolEntry]]]:
    """Every pool a route can serve from, with its YAML path: its pool, its profiles'
    and its triage tiers' (a tier naming another route brings that route's pools)."""
    if route.pool is not None:
        yield f"{base}.pool", route.pool
    for profile, pool in route.profiles.items():
        yield f"{base}.profiles.{profile}", pool
    if route.triage is None:
        return
    for name, target in route.triage.tiers.items():
        if isinstance(target, list):
            yield f"{base}.triage.tiers.{name}", target
            continue
        named = config.routes.get(target)
        if named is not None and named.triage is None:  # tiers never nest
            yield from route_pools(config, f"routes.{target}", named)


def check_operations(config: GatewayConfig) -> list[str]:
    problems: list[str] = []
    for alias, model in config.models.items():
        provider = config.providers.get(model.provider)
        if provider is None or model.type == "chat":
            continue
        if TYPE_OPERATION[model.type] not in kind_operations(provider.kind):
            problems.append(
                f"models.{alias}.type: provider '{model.provider}' (kind {provider.kind}) "
                f"cannot serve {model.type}"
            )
    for name, route in config.routes.items():
        base = f"routes.{name}"
        first: tuple[str, str] | None = None  # (type, the path that set it)
        for path, pool in route_pools(config, base, route):
            for i, entry in enumerate(pool):
                member = config.models.get(entry.model)
                if member is None:
                    continue  # reported as an unknown model
                where = f"{path}[{i}]"
                if first is None:
                    first = (member.type, where)
                elif member.type != first[0]:
                    problems.append(
                        f"{where}: model '{entry.model}' is of type {member.type}, but "
                        f"{first[1]} is {first[0]}; a route's members are all of one type"
                    )
                if route.api is not None:
                    problems += _check_api(config, route.api, where, entry.model)
    return problems


def _check_api(config: GatewayConfig, api: str, where: str, alias: str) -> list[str]:
    model = config.models[alias]
    provider = config.providers.get(model.provider)
    if model.type != "chat":
        return [f"{where}: model '{alias}' is of type {model.type}; api: {api} needs chat models"]
    if provider is not None and API_OPERATION[api] not in kind_operations(provider.kind):
        return [
            f"{where}: model '{alias}' is on provider '{model.provider}' (kind "
            f"{provider.kind}), which cannot serve the route's api: {api}"
        ]
    return []
