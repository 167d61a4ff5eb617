"""Adaptive routing's cost: throughput under ``latency``, ``least_busy`` and ``cost``
against ``priority``, on a one-member and a four-member route (issue 20: within 5 %
and 10 %).

One gateway serves a route per policy and pool size, so every policy pays the same
signal bookkeeping a real mixed config would. Runs alternate between the policies
(rounds of one run each, each round starting with the next policy, so that no policy
always runs last in a round), and each policy's ratio is the median of the rounds'
ratios to ``priority``'s run of the same round: the machine's drift cancels out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.harness import LoadResult
from bench.rounds import round_ratio

if TYPE_CHECKING:
    from bench.run import Bench

POLICIES = ("priority", "latency", "least_busy", "cost")
POOL_SIZES = (1, 4)
# The smoke run only checks that the scenario works.
SMOKE_POLICIES = ("priority", "latency")
SMOKE_POOL_SIZES = (4,)


def route_name(policy: str, size: int) -> str:
    return f"adaptive-{policy}-{size}"


def adaptive_config(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the bench's gateway config) plus four priced members and the routes."""
    config = {**base, "models": dict(base["models"]), "routes": dict(base["routes"])}
    for i in range(max(POOL_SIZES)):
        config["models"][f"adaptive-member-{i}"] = {
            "provider": "up",
            "model": f"bench-upstream-{i}",
            "context_window": 128000,
            "price": {"input": round(0.15 * (i + 1), 6), "output": round(0.6 * (i + 1), 6)},
        }
    for policy in POLICIES:
        for size in POOL_SIZES:
            pool = [f"adaptive-member-{i}" for i in range(size)]
            config["routes"][route_name(policy, size)] = {"pool": pool, "policy": policy}
    return config


def compare_policies(bench: Bench, base_config: dict[str, Any], chat: dict[str, Any]) -> None:
    policies = SMOKE_POLICIES if bench.smoke else POLICIES
    sizes = SMOKE_POOL_SIZES if bench.smoke else POOL_SIZES
    rounds = 1 if bench.smoke else 3
    duration = bench.duration if bench.smoke else max(2.0, bench.duration * 0.6)
    print("gateway, adaptive policies vs priority", flush=True)
    gw = bench.start_gateway("gateway-adaptive", adaptive_config(base_config))
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    try:
        for i in range(1, rounds + 1):
            start = (i - 1) % len(policies)
            for size in sizes:
                for policy in policies[start:] + policies[:start]:
                    body = {**chat, "model": route_name(policy, size)}
                    name = f"adaptive_{policy}_{size}_{i}"
                    result = bench.load(name, gw.port, body, 64, duration)
                    runs.setdefault((policy, size), []).append(result)
    finally:
        gw.stop()
    ratios: dict[str, float] = {}
    for size in sizes:
        baseline = runs[("priority", size)]
        for policy in policies:
            if policy != "priority":
                ratios[f"{policy}_{size}"] = round(round_ratio(runs[(policy, size)], baseline), 3)
    bench.results["adaptive_throughput_ratio"] = ratios
    print(f"  adaptive / priority (median of the rounds' ratios): {ratios}", flush=True)


def adaptive_targets(results: dict[str, Any], check: Any) -> None:
    """The issue's goals: within 5 % of priority on one member, 10 % on four."""
    for name, ratio in sorted(results.get("adaptive_throughput_ratio", {}).items()):
        policy, _, size = name.rpartition("_")
        floor = 0.95 if size == "1" else 0.90
        members = "1 member" if size == "1" else f"{size} members"
        check(f"{policy} / priority req/s, {members}", ratio, f">= {floor}", ratio >= floor)
