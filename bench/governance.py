"""Governance on the hot path: a limited key (rpm, tpm, max_parallel, daily and monthly
budgets: every check, leases and spend shared through Redis) on a gateway with Redis
state, compared with an unlimited gateway on the memory backend; plus the Redis
commands per second the limited replica sends at full load (``INFO stats``). A team
with its own limits doubles the checks; ``limited_config(team=True)`` measures that.

Method: both gateways are up at once and loaded in alternating runs (memory, limited,
three times, seconds apart); the ratio is the median of each round's ratio, as for
tracing, so the machine's drift cancels out (a single comparison with a memory row
measured minutes earlier measured the drift as much as governance). Each gateway's CPU
time per request served (process CPU delta over the requests its metrics counted) is
reported next to it: it does not drift with the load generator's share of the machine.

On its own (starts the mock upstream and a ``redis-server`` on free ports):
``python -m bench.governance [--duration S]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.harness import LoadResult, Service, free_port, redis_commands
from bench.rounds import median_run, round_ratio

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


def served(port: int) -> float:
    """Requests the gateway finished (``gateway_requests_total``), from its metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gateway_requests_total{")
    )


def start_redis(workdir: Path) -> Service:
    port = free_port()
    redis = Service(
        "redis",
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        port,
        cpu=None,
        log=workdir / "redis.log",
    )
    redis.wait_ready(method="TCP")
    return redis


def run_governance(
    bench: Bench,
    memory_config: dict[str, Any],
    redis_config: dict[str, Any],
    redis_port: int,
    body: dict[str, Any],
) -> None:
    """Rows ``gateway_redis_limited_c64`` and ``governance_memory_c64`` (medians of
    alternating runs), the ratio, CPU µs per request of each, and Redis commands/s."""
    print("gateway, redis state, limited key vs memory state, unlimited", flush=True)
    gateways = {
        "memory": bench.start_gateway("gateway-governance-memory", memory_config),
        "limited": bench.start_gateway("gateway-redis-limited", limited_config(redis_config)),
    }
    rounds = 1 if bench.smoke else 3
    duration = max(2.0, bench.duration * 0.6)
    runs: dict[str, list[LoadResult]] = {kind: [] for kind in gateways}
    cpu = dict.fromkeys(gateways, 0.0)
    done = dict.fromkeys(gateways, 0.0)
    commands, loaded_s = 0, 0.0
    try:
        for i in range(1, rounds + 1):
            for kind, gw in gateways.items():
                # Scrapes outside the CPU window: they are not the requests' work.
                served_before = served(gw.port)
                cpu_before = gw.cpu_seconds()
                commands_before, started = redis_commands(redis_port), time.monotonic()
                runs[kind].append(bench.load(f"governance_{kind}_{i}", gw.port, body, 64, duration))
                if kind == "limited":
                    loaded_s += time.monotonic() - started
                    # Less the INFO call that read the count before.
                    commands += redis_commands(redis_port) - commands_before - 1
                cpu[kind] += gw.cpu_seconds() - cpu_before
                done[kind] += served(gw.port) - served_before
    finally:
        for gw in gateways.values():
            gw.stop()
    rows = {"limited": "gateway_redis_limited_c64", "memory": "governance_memory_c64"}
    for kind, row in rows.items():
        bench.results["runs"][row] = median_run(runs[kind]).as_dict()
    ratio = round_ratio(runs["limited"], runs["memory"])
    cpu_us = {kind: round(cpu[kind] / max(1.0, done[kind]) * 1e6, 1) for kind in gateways}
    per_s = round(commands / loaded_s, 1) if loaded_s else 0.0
    bench.results["governance_throughput_ratio"] = round(ratio, 3)
    bench.results["governance_cpu_us_per_request"] = cpu_us
    bench.results["governance_redis_commands_per_s"] = per_s
    refused = sum(run.non_2xx for run in runs["limited"])
    print(
        f"  limited key / memory: median of the rounds' ratios {ratio:.3f}; gateway CPU "
        f"per request (us) {cpu_us}; {refused} refused; {per_s} Redis commands/s",
        flush=True,
    )


def governance_targets(results: dict[str, Any], check: Any) -> None:
    ratio = results.get("governance_throughput_ratio")
    if ratio is not None:
        check("redis + limited key / memory", ratio, ">= 0.85", ratio >= 0.85)
    cpu = results.get("governance_cpu_us_per_request") or {}
    if cpu.get("memory") and cpu.get("limited"):
        value = round(cpu["limited"] / cpu["memory"], 3)
        check("limited key CPU per request / memory (context)", value, "(no goal)", None)
    if "governance_redis_commands_per_s" in results:
        value = results["governance_redis_commands_per_s"]
        check("Redis commands/s, limited key", value, "<= 100", value <= 100)


def main() -> None:
    from bench.report import targets
    from bench.run import CHAT, Bench, gateway_config, start_upstream

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        bench = Bench(Path(tmp), args.duration, smoke=False)
        upstream = start_upstream(bench.workdir)
        redis = start_redis(bench.workdir)
        try:
            memory = gateway_config(upstream.port)
            shared = gateway_config(upstream.port, redis_port=redis.port)
            run_governance(bench, memory, shared, redis.port, CHAT)
        finally:
            for service in bench.services:
                service.stop()
            redis.stop()
            upstream.stop()
    for row in targets(bench.results):
        print(f"  {row['target']}: {row['value']} (goal {row['goal']})")


if __name__ == "__main__":
    main()
