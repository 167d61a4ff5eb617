"""Rules that span sections of the config: every reference must resolve."""

from __future__ import annotations

import os
from typing import Any

from gateway.config.operations import check_operations
from gateway.config.schema import ADAPTIVE_POLICIES, POLICIES, GatewayConfig, PoolEntry
from gateway.config.triage import check_triage
from gateway.governance.validate import check_governance
from gateway.transport.proxy import parse_proxy


def _check_pool(
    config: GatewayConfig, path: str, pool: list[PoolEntry], problems: list[str]
) -> None:
    if not pool:
        problems.append(f"{path}: a pool needs at least one member")
    for i, entry in enumerate(pool):
        if entry.model not in config.models:
            problems.append(f"{path}[{i}]: unknown model '{entry.model}'")


def _check_force(base: str, force: list[str], options: dict[str, Any], problems: list[str]) -> None:
    # A forced key pins the route's own value over the client's, so the route must
    # set it (directly or inside extra_body, which is flattened into the body).
    extra = options.get("extra_body")
    settable = set(options) - {"extra_body"} | (set(extra) if isinstance(extra, dict) else set())
    for i, key in enumerate(force):
        if key not in settable:
            problems.append(
                f"{base}.force[{i}]: '{key}' is not set in {base}.options; "
                "only a route's own options can be forced"
            )


def _check_byok_names(config: GatewayConfig, problems: list[str]) -> None:
    # X-Gateway-Key-<provider> matches names without case: two must not share one.
    seen: dict[str, str] = {}
    for name, provider in config.providers.items():
        if provider.byok == "off":
            continue
        other = seen.setdefault(name.lower(), name)
        if other != name:
            problems.append(
                f"providers.{name}.byok: X-Gateway-Key-{name} would also name provider "
                f"'{other}' (header names ignore case)"
            )


def check_references(config: GatewayConfig) -> list[str]:
    problems: list[str] = []
    for name, provider in config.providers.items():
        if provider.kind in ("openai", "azure", "anthropic") and not provider.base_url:
            problems.append(f"providers.{name}.base_url: required for kind '{provider.kind}'")
        if provider.api_version is not None and provider.kind != "azure":
            problems.append(f"providers.{name}.api_version: only kind 'azure' takes it")
    _check_byok_names(config, problems)
    for alias, model in config.models.items():
        if model.provider not in config.providers:
            problems.append(f"models.{alias}.provider: unknown provider '{model.provider}'")
    for name, route in config.routes.items():
        base = f"routes.{name}"
        if name in config.models:
            problems.append(f"{base}: the name is also a catalog alias; pick one meaning")
        if route.policy not in POLICIES:
            problems.append(
                f"{base}.policy: unknown policy '{route.policy}' (known: {', '.join(POLICIES)})"
            )
        if route.exploration and route.policy not in ADAPTIVE_POLICIES:
            problems.append(
                f"{base}.exploration: policy '{route.policy}' does not explore; "
                f"use one of {', '.join(sorted(ADAPTIVE_POLICIES))}"
            )
        if route.triage is not None:
            check_triage(config, base, route, problems)
        elif route.pool is None:
            # The pool is what serves every profile the route does not list.
            problems.append(f"{base}.pool: required key is missing")
        if route.pool is not None:
            _check_pool(config, f"{base}.pool", route.pool, problems)
        for profile, pool in route.profiles.items():
            _check_pool(config, f"{base}.profiles.{profile}", pool, problems)
        if route.pinned and route.profiles:
            problems.append(f"{base}.profiles: a pinned route ignores profiles; remove them")
        _check_force(base, route.force, route.options, problems)
    known_profiles = config.route_profiles()
    if config.profile is not None and known_profiles and config.profile not in known_profiles:
        problems.append(
            f"profile: unknown profile '{config.profile}' "
            f"(known: {', '.join(sorted(known_profiles))})"
        )
    problems += check_operations(config)
    if config.server.trust_env_proxy:
        _check_env_proxies(problems)
    if config.resilience.cooldown_s > config.resilience.max_cooldown_s:
        problems.append("resilience.cooldown_s: larger than resilience.max_cooldown_s")
    problems += check_governance(config)
    return problems


ENV_PROXY_NAMES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")


def _check_env_proxies(problems: list[str]) -> None:
    for name in ENV_PROXY_NAMES:
        value = os.environ.get(name)
        if not value:
            continue
        try:
            parse_proxy(value)
        except ValueError as exc:  # the value may hold credentials: never echoed
            problems.append(f"server.trust_env_proxy: ${name} {exc}")
