"""Turning bench results into the table and the spec §9 target checks."""

from __future__ import annotations

from typing import Any

from bench.adaptive import adaptive_targets
from bench.cache import cache_targets
from bench.endpoints import endpoint_targets
from bench.governance import governance_targets
from bench.messages import messages_targets
from bench.providers import provider_targets
from bench.tracing import tracing_targets
from bench.triage import triage_targets


def _run(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    run: dict[str, Any] | None = results["runs"].get(name)
    return run


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def check(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        out.append(
            {
                "target": name,
                "value": value,
                "goal": goal,
                "met": None if value is None or ok is None else ok,
            }
        )

    gw64 = _run(results, "gateway_memory_c64")
    noop64 = _run(results, "noop_c64")
    gw1 = _run(results, "gateway_memory_c1")
    direct1 = _run(results, "direct_c1")
    stream = _run(results, "gateway_memory_stream_c64")
    streams5k = _run(results, "gateway_5000_streams")
    if gw64:
        check("non-streaming req/s, 64 connections", gw64["rps"], ">= 2500", gw64["rps"] >= 2500)
    if gw64 and noop64:
        ratio = gw64["rps"] / noop64["rps"]
        check("gateway / no-op handler", round(ratio, 3), ">= 0.30", ratio >= 0.30)
    bare64 = _run(results, "passthrough_c64")
    if gw64 and bare64:
        ratio = gw64["rps"] / bare64["rps"]
        check("gateway / bare pass-through (context)", round(ratio, 3), "(no goal)", None)
    if gw1 and direct1:
        p50 = gw1["p50_ms"] - direct1["p50_ms"]
        p99 = gw1["p99_ms"] - direct1["p99_ms"]
        check("added p50 at 1 connection (ms)", round(p50, 3), "<= 0.5", p50 <= 0.5)
        check("added p99 at 1 connection (ms)", round(p99, 3), "<= 1.5", p99 <= 1.5)
    if stream:
        check("streams/s (20 chunks, usage)", stream["rps"], ">= 1000", stream["rps"] >= 1000)
    if streams5k:
        rss = results.get("streams_5000_peak_rss_mb", 0.0)
        errors = streams5k["errors"] + streams5k["non_2xx"]
        check("5,000 concurrent streams: errors", errors, "== 0", errors == 0)
        check("5,000 concurrent streams: peak RSS (MB)", rss, "< 250", rss < 250)
    if "passthrough_streams_5000_peak_rss_mb" in results:
        value = results["passthrough_streams_5000_peak_rss_mb"]
        check("5,000 streams peak RSS: bare pass-through (context)", value, "(no goal)", None)
    if "rss_idle_mb" in results:
        check("idle RSS (MB)", results["rss_idle_mb"], "< 120", results["rss_idle_mb"] < 120)
    if "ready_s" in results:
        check("time to ready (s)", results["ready_s"], "< 1.5", results["ready_s"] < 1.5)
    redis_ratio = results.get("redis_throughput_ratio")
    if redis_ratio is not None:
        check("redis / memory throughput", redis_ratio, ">= 0.85", redis_ratio >= 0.85)
    if "redis_commands_per_s" in results:
        value = results["redis_commands_per_s"]
        check("Redis commands/s at full load", value, "<= 100", value <= 100)
    governance_targets(results, check)
    if "large_config_ready_s" in results:
        value = results["large_config_ready_s"]
        check("10k routes: time to ready (s)", value, "< 3", value < 3)
    # Alternating small/large runs against two gateways, ratio of the medians.
    ratio = results.get("large_config_throughput_ratio")
    if ratio is not None:
        check("10k routes: throughput vs small", round(ratio, 3), ">= 0.95", ratio >= 0.95)
    tracing_targets(results, check)
    adaptive_targets(results, check)
    endpoint_targets(results, check)
    messages_targets(results, check)
    cache_targets(results, check)
    provider_targets(results, check)
    if "soak_rss_growth_pct" in results:
        value = results["soak_rss_growth_pct"]
        check("soak RSS growth (%)", value, "< 5", value < 5)
    triage_targets(results, check)
    return out


def render_table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}",
        "",
        "| target | connections | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in results["runs"].items():
        lines.append(
            f"| {name} | {run['connections']} | {run['rps']:,.1f} | {run['p50_ms']:.3f} | "
            f"{run['p99_ms']:.3f} | {run['errors'] + run['non_2xx']} |"
        )
    lines += ["", "| spec §9 target | value | goal | met |", "|---|---:|---|---|"]
    for row in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
        lines.append(f"| {row['target']} | {row['value']} | {row['goal']} | {met} |")
    return "\n".join(lines)
