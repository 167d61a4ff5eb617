"""Rules of ``teams:`` and ``keys:`` that span sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.governance.keys import secret_hash

if TYPE_CHECKING:
    from gateway.config.schema import GatewayConfig


def check_governance(config: GatewayConfig) -> list[str]:
    problems: list[str] = []
    profiles = config.known_profiles()
    seen: dict[str, str] = {}
    flat = {secret_hash(k) for k in config.server.api_keys}
    for name, key in config.keys.items():
        base = f"keys.{name}"
        if key.team is not None and key.team not in config.teams:
            problems.append(f"{base}.team: unknown team '{key.team}'")
        for i, profile in enumerate(key.profiles or []):
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none configured"
                problems.append(f"{base}.profiles[{i}]: unknown profile '{profile}' ({known})")
        digest = secret_hash(key.secret)
        if digest in seen:
            problems.append(f"{base}.secret: the same secret as keys.{seen[digest]}")
        elif digest in flat:
            problems.append(f"{base}.secret: also listed in server.api_keys")
        seen[digest] = name
    return problems
