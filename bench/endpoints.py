"""Embeddings and Responses API rows, each against the chat path on the same mock.

One gateway, memory state, the bench's mock upstream: a 16-input embeddings batch
(16 base64 vectors of 256 floats back) vs non-streaming chat, and a Responses stream
(20 text deltas, usage in response.completed) vs the 20-chunk chat stream.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bench.harness import LoadResult, Service, run_wrk

EMBED = {"model": "bench-embed", "input": [f"document number {i}" for i in range(16)]}
EMBED["encoding_format"] = "base64"
RESPONSES_STREAM = {"model": "bench", "input": "Say hello.", "stream": True}
ROWS = {
    # row: (path, body, the chat row it is compared with)
    "gateway_embeddings16_c64": ("/v1/embeddings", EMBED, "gateway_memory_c64"),
    "gateway_responses_stream_c64": (
        "/v1/responses",
        RESPONSES_STREAM,
        "gateway_memory_stream_c64",
    ),
}


def endpoints_config(config: dict[str, Any]) -> dict[str, Any]:
    """The bench config plus an embeddings model and route on the same provider."""
    config = copy.deepcopy(config)
    config["models"]["bench-embed-model"] = {
        "provider": "up",
        "model": "bench-embed-upstream",
        "type": "embeddings",
        "price": {"input": 0.02},
    }
    config["routes"]["bench-embed"] = {"pool": ["bench-embed-model"]}
    return config


def load_endpoints(
    gateway: Service, workdir: Path, *, duration_s: float, cpu: int | None
) -> dict[str, LoadResult]:
    out = {}
    for name, (path, body, _) in ROWS.items():
        url = f"http://127.0.0.1:{gateway.port}{path}"
        run_wrk(url, body, connections=64, duration_s=1, cpu=cpu, workdir=workdir)  # warm-up
        result = run_wrk(url, body, connections=64, duration_s=duration_s, cpu=cpu, workdir=workdir)
        print(
            f"  {name:<28} {result.rps:>10.1f} req/s  p50 {result.p50_ms:.3f} ms  "
            f"p99 {result.p99_ms:.3f} ms  errors {result.errors} non-2xx {result.non_2xx}",
            flush=True,
        )
        out[name] = result
    return out


def endpoint_targets(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """Each row's throughput against its chat row's: within 10%."""
    runs = results["runs"]
    out = []
    for name, (_, _, chat) in ROWS.items():
        if name in runs and chat in runs and runs[chat]["rps"]:
            ratio = runs[name]["rps"] / runs[chat]["rps"]
            out.append((f"{name} / {chat}", round(ratio, 3), ">= 0.90", ratio >= 0.90))
    return out
