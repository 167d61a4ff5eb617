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
import urllib.request
from typing import TYPE_CHECKING, Any

from bench.rounds import Load, alternate, median_run

if TYPE_CHECKING:
    from bench.run import Bench

CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
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
    try:
        _prime(service.port)
        bench.warm_up(service.port, CHAT, 64)
        bench.warm_up(service.port, CACHED, 64)
        name = f"cache_{backend}"
        found = alternate(bench, service, Load(f"{name}_pass", CHAT), Load(f"{name}_hit", CACHED))
    finally:
        service.stop()
    bench.results["runs"][f"gateway_{backend}_cache_hit_c64"] = median_run(found.runs).as_dict()
    summary = {
        "throughput_ratio": round(found.ratio, 3),
        "hit_cpu_us_per_request": found.cpu_us,
        "pass_cpu_us_per_request": found.base_cpu_us,
    }
    bench.results.setdefault("cache", {})[backend] = summary
    print(
        f"  {backend} hit / pass-through: median of the rounds' ratios {found.ratio:.3f}; "
        f"gateway CPU per request {found.cpu_us} us vs {found.base_cpu_us} us",
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
