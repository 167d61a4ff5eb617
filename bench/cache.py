"""Response cache rows: on each backend, one gateway with a cached route and the plain
route, loaded in alternating runs seconds apart (pass-through, then hits; three rounds).

A memory hit must serve at least 1.3 times the pass-through's requests per second, a
Redis hit at least as many: the ratio is the median of the rounds' ratios (a hit row
divided by a pass-through row measured minutes earlier, on another gateway, measured the
machine's drift), with each side's CPU time per request for context.
"""

from __future__ import annotations

import copy
import json
import statistics
import urllib.request
from typing import TYPE_CHECKING, Any

from bench.harness import LoadResult
from bench.rounds import measured

if TYPE_CHECKING:
    from bench.run import Bench

CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
CHAT_PATH = "/v1/chat/completions"
CACHED = {
    "model": "bench-cached",
    "temperature": 0,
    "messages": [{"role": "user", "content": "Say hello."}],
}


def cached_config(base: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(base)
    config["routes"]["bench-cached"] = {"pool": ["bench-model"], "cache": {"ttl_s": 3600}}
    return config


def _prime(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(CACHED).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer bench-client-key"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["x-gateway-cache"] in ("miss", "hit"), response.headers


def cache_hits(bench: Bench, base: dict[str, Any], backend: str) -> None:
    """Row ``gateway_{backend}_cache_hit_c64`` (the median of the rounds' hit runs) and
    ``results["cache"][backend]``: the median of the rounds' ratios to the pass-through
    and the CPU per request of both."""
    service = bench.start_gateway(f"gateway-{backend}-cache", cached_config(base))
    rounds = 1 if bench.smoke else 3
    duration = max(2.0, bench.duration * 0.6)
    hits: list[LoadResult] = []
    plain: list[LoadResult] = []
    hit_cpu: list[float] = []
    plain_cpu: list[float] = []
    try:
        _prime(service.port)
        bench.warm_up(service.port, CHAT, 64)
        bench.warm_up(service.port, CACHED, 64)
        for i in range(1, rounds + 1):
            name = f"cache_{backend}"
            run, cpu = measured(bench, f"{name}_pass_{i}", service, CHAT_PATH, CHAT, duration)
            plain.append(run)
            plain_cpu.append(cpu)
            run, cpu = measured(bench, f"{name}_hit_{i}", service, CHAT_PATH, CACHED, duration)
            hits.append(run)
            hit_cpu.append(cpu)
    finally:
        service.stop()
    by_rps = sorted(hits, key=lambda run: run.rps)
    bench.results["runs"][f"gateway_{backend}_cache_hit_c64"] = by_rps[
        (len(by_rps) - 1) // 2
    ].as_dict()
    ratio = statistics.median(h.rps / p.rps for h, p in zip(hits, plain, strict=True) if p.rps)
    summary = {
        "throughput_ratio": round(ratio, 3),
        "hit_cpu_us_per_request": round(statistics.median(hit_cpu), 1),
        "pass_cpu_us_per_request": round(statistics.median(plain_cpu), 1),
    }
    bench.results.setdefault("cache", {})[backend] = summary
    print(
        f"  {backend} hit / pass-through: median of the rounds' ratios {ratio:.3f}; gateway "
        f"CPU per request {summary['hit_cpu_us_per_request']} us vs "
        f"{summary['pass_cpu_us_per_request']} us",
        flush=True,
    )


def cache_targets(results: dict[str, Any], check: Any) -> None:
    summary = results.get("cache") or {}
    for backend, goal in (("memory", 1.3), ("redis", 1.0)):
        found = summary.get(backend)
        if not found:
            continue
        ratio = found["throughput_ratio"]
        check(f"cache hit / pass-through, {backend}", ratio, f">= {goal}", ratio >= goal)
        if found["pass_cpu_us_per_request"]:
            cpu = round(found["hit_cpu_us_per_request"] / found["pass_cpu_us_per_request"], 3)
            check(
                f"cache hit / pass-through CPU per request, {backend} (context)",
                cpu,
                "(no goal)",
                None,
            )
