"""Provider kinds under load: the gemini kind (every body and stream event translated
both ways) and BYOK (a user's key per request), against the instant mock upstream.

Each is compared with the openai kind's pass-through on the same gateway, in runs
seconds apart (the pass-through, then the kind; three rounds), and the ratio is the
median of the rounds' ratios: BYOK against the same route under the gateway's key,
the gemini kind against that route too (its streams against its streams). A row
divided by the main run's pass-through, measured minutes earlier on another gateway,
measured the machine's drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.rounds import Load, alternate, median_run

if TYPE_CHECKING:
    from bench.run import Bench

PROMPT = [{"role": "user", "content": "Say hello."}]
GEMINI = {"model": "bench-gemini", "messages": PROMPT}
GEMINI_STREAM = {**GEMINI, "stream": True}
BYOK = {"model": "bench-byok", "messages": PROMPT}
BYOK_HEADERS = {"X-Gateway-Key-byok": "sk-user-bench-key"}
# The same route without the user's key: the openai kind's pass-through, gateway key.
PLAIN = BYOK
PLAIN_STREAM = {**BYOK, "stream": True}
# row: (request, its headers, the pass-through it is compared with, target label)
PAIRS: dict[str, tuple[dict[str, Any], dict[str, str] | None, dict[str, Any], str]] = {
    "gateway_gemini_c64": (GEMINI, None, PLAIN, "gemini kind / openai pass-through"),
    "gateway_gemini_stream_c64": (
        GEMINI_STREAM,
        None,
        PLAIN_STREAM,
        "gemini streams / openai streams",
    ),
    "gateway_byok_c64": (BYOK, BYOK_HEADERS, PLAIN, "BYOK request / gateway key request"),
}
GOALS = {"gateway_byok_c64": 0.90}


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
    """Rows ``gateway_gemini_c64``, ``gateway_gemini_stream_c64`` and
    ``gateway_byok_c64`` (each the median of its rounds), and ``results["providers"]``:
    per row, the median of the rounds' ratios to the pass-through and the CPU per
    request of both."""
    print("gateway, gemini kind and BYOK", flush=True)
    gw = bench.start_gateway("gateway-providers", providers_config(upstream_port))
    summary: dict[str, Any] = {}
    try:
        for body, headers, plain, _ in PAIRS.values():
            bench.warm_up(gw.port, plain, 64)
            bench.warm_up(gw.port, body, 64, headers)
        for row, (body, headers, plain, _) in PAIRS.items():
            found = alternate(
                bench, gw, Load(f"{row}_pass", plain), Load(row, body, headers=headers)
            )
            bench.results["runs"][row] = median_run(found.runs).as_dict()
            summary[row] = {
                "throughput_ratio": round(found.ratio, 3),
                "cpu_us_per_request": found.cpu_us,
                "pass_cpu_us_per_request": found.base_cpu_us,
            }
            print(f"  {row} / pass-through: {summary[row]}", flush=True)
    finally:
        gw.stop()
    bench.results["providers"] = summary


def provider_targets(results: dict[str, Any], check: Any) -> None:
    """The translating gemini kind and BYOK next to the openai kind's pass-through."""
    summary = results.get("providers") or {}
    for row, (_, _, _, label) in PAIRS.items():
        found = summary.get(row)
        if not found:
            continue
        ratio = found["throughput_ratio"]
        goal = GOALS.get(row)
        if goal is None:
            check(f"{label} (context)", ratio, "(no goal)", None)
        else:
            check(label, ratio, f">= {goal:.2f}", ratio >= goal)
