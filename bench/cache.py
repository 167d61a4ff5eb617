"""Response cache rows: the same gateway, every request a hit, on each backend.

The goals compare with the plain pass-through of the same backend in the same run: a
memory hit must serve at least 1.3 times its requests per second, a Redis hit at least
as many.
"""

from __future__ import annotations

import copy
import json
import urllib.request
from typing import Any, Protocol

CACHED = {
    "model": "bench-cached",
    "temperature": 0,
    "messages": [{"role": "user", "content": "Say hello."}],
}


class CacheBench(Protocol):
    def start_gateway(self, name: str, config: dict[str, Any]) -> Any: ...

    def load(self, name: str, port: int, body: dict[str, Any], connections: int) -> Any: ...


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


def cache_hits(bench: CacheBench, base: dict[str, Any], backend: str) -> None:
    service = bench.start_gateway(f"gateway-{backend}-cache", cached_config(base))
    try:
        _prime(service.port)
        bench.load(f"gateway_{backend}_cache_hit_c64", service.port, CACHED, 64)
    finally:
        service.stop()


def cache_targets(results: dict[str, Any], check: Any) -> None:
    runs = results["runs"]
    for backend, goal in (("memory", 1.3), ("redis", 1.0)):
        hit = runs.get(f"gateway_{backend}_cache_hit_c64")
        plain = runs.get(f"gateway_{backend}_c64")
        if hit and plain:
            ratio = hit["rps"] / plain["rps"]
            check(
                f"cache hit / pass-through, {backend}", round(ratio, 3), f">= {goal}", ratio >= goal
            )
