"""Building config dicts for tests."""

from __future__ import annotations

from typing import Any


def upstream_config(
    base_url: str,
    members: list[str],
    *,
    route: str = "chat",
    api_key_env: str | None = "FAKE_UPSTREAM_KEY",
    resilience: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``fake`` provider at ``base_url``; each member is a catalog model of the
    same upstream name; one route serves them in order."""
    provider: dict[str, Any] = {
        "kind": "openai",
        "base_url": base_url,
        "timeout_s": 5,
        "connect_timeout_s": 1,
    }
    if api_key_env:
        provider["api_key_env"] = api_key_env
    config: dict[str, Any] = {
        "providers": {"fake": provider},
        "models": {m: {"provider": "fake"} for m in members},
        "routes": {route: {"pool": list(members)}},
        "resilience": {
            "cooldown_s": 30,
            "max_cooldown_s": 300,
            "ttft_timeout_s": 2,
            **(resilience or {}),
        },
    }
    config.update(extra)
    return config
