"""Provider kinds under load: the gemini kind (every body and stream event translated
both ways) and BYOK (a user's key per request), against the instant mock upstream,
next to the openai kind's pass-through measured by the main run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Bench

PROMPT = [{"role": "user", "content": "Say hello."}]
GEMINI = {"model": "bench-gemini", "messages": PROMPT}
GEMINI_STREAM = {**GEMINI, "stream": True}
BYOK = {"model": "bench-byok", "messages": PROMPT}
BYOK_HEADERS = {"X-Gateway-Key-byok": "sk-user-bench-key"}


def providers_config(upstream_port: int) -> dict[str, Any]:
    host = f"http://127.0.0.1:{upstream_port}"
    price = {"input": 0.15, "output": 0.6, "cached_input": 0.075}
    return {
        "server": {"api_keys": ["bench-client-key"], "api_keys_env": None},
        "providers": {
            "gem": {
                "kind": "gemini",
                "base_url": host,
                "api_key_env": "BENCH_KEY",
                "max_connections": 10000,
                "timeout_s": 60,
            },
            "byok": {
                "kind": "openai",
                "base_url": host + "/v1",
                "api_key_env": "BENCH_KEY",
                "byok": "allowed",
                "max_connections": 10000,
                "timeout_s": 60,
            },
        },
        "models": {
            "gemini-model": {"provider": "gem", "model": "bench-upstream", "price": price},
            "byok-model": {"provider": "byok", "model": "bench-upstream", "price": price},
        },
        "routes": {
            "bench-gemini": {"pool": ["gemini-model"], "options": {"temperature": 0.2}},
            "bench-byok": {"pool": ["byok-model"], "options": {"temperature": 0.2}},
        },
    }


def provider_kinds(bench: Bench, upstream_port: int) -> None:
    print("gateway, gemini kind and BYOK", flush=True)
    gw = bench.start_gateway("gateway-providers", providers_config(upstream_port))
    try:
        bench.load("gateway_gemini_c64", gw.port, GEMINI, 64)
        bench.load("gateway_gemini_stream_c64", gw.port, GEMINI_STREAM, 64)
        bench.load("gateway_byok_c64", gw.port, BYOK, 64, headers=BYOK_HEADERS)
    finally:
        gw.stop()
