"""Governance on the hot path: the same load as ``gateway_redis_c64`` through a limited
key (rpm, tpm, max_parallel, daily and monthly budgets: every check, leases and spend
shared through Redis), compared with the unlimited memory backend; plus the Redis
commands per second that replica sends at full load (``INFO stats``). A team with its
own limits doubles the checks; ``limited_config(team=True)`` measures that."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.harness import redis_commands

if TYPE_CHECKING:
    from bench.run import Bench

# High enough never to refuse at bench rates: the bench measures the checks' cost.
LIMITS: dict[str, Any] = {
    "rpm": 100_000_000,
    "tpm": 100_000_000_000,
    "max_parallel": 100_000,
    "budget": {"daily_usd": 1_000_000, "monthly_usd": 10_000_000},
}


def limited_config(base: dict[str, Any], *, team: bool = False) -> dict[str, Any]:
    """``base`` with its client key turned into a limited key (of a limited team)."""
    config = {**base, "server": {**base["server"], "api_keys": []}}
    key: dict[str, Any] = {"secret": "bench-client-key", **LIMITS}
    if team:
        config["teams"] = {"bench-team": dict(LIMITS)}
        key["team"] = "bench-team"
    config["keys"] = {"bench": key}
    return config


def run_governance(
    bench: Bench, config: dict[str, Any], redis_port: int, body: dict[str, Any]
) -> None:
    print("gateway, redis state, limited key", flush=True)
    gw = bench.start_gateway("gateway-redis-limited", limited_config(config))
    try:
        before, started = redis_commands(redis_port), time.monotonic()
        result = bench.load("gateway_redis_limited_c64", gw.port, body, 64)
        elapsed = time.monotonic() - started
        bench.results["governance_redis_commands_per_s"] = round(
            (redis_commands(redis_port) - before - 1) / elapsed, 1
        )
        print(
            f"  limited key: {result.non_2xx} refused, "
            f"{bench.results['governance_redis_commands_per_s']} Redis commands/s",
            flush=True,
        )
    finally:
        gw.stop()


def governance_targets(results: dict[str, Any], check: Any) -> None:
    limited = results["runs"].get("gateway_redis_limited_c64")
    memory = results["runs"].get("gateway_memory_c64")
    if limited and memory:
        ratio = limited["rps"] / memory["rps"]
        check("redis + limited key / memory", round(ratio, 3), ">= 0.85", ratio >= 0.85)
    if "governance_redis_commands_per_s" in results:
        value = results["governance_redis_commands_per_s"]
        check("Redis commands/s, limited key", value, "<= 100", value <= 100)
