"""The benchmark harness runs end to end, so it cannot rot. Not a performance test:
nothing here asserts a speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_bench_harness_smoke(tmp_path: Path, redis_url: str) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is required for the bench smoke test (.ci/run installs it)")
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    runs = results["runs"]
    for name in (
        "direct_c64",
        "noop_c64",
        "gateway_memory_c1",
        "gateway_memory_c64",
        "gateway_memory_stream_c64",
        "gateway_embeddings16_c64",
        "gateway_responses_stream_c64",
        "gateway_redis_c64",
        "triage_bench-triage_c1",
        "triage_bench-triage-heuristic_c1",
        "triage_bench-triage-cache_c1",
        "gateway_gemini_c64",
        "gateway_gemini_stream_c64",
        "gateway_byok_c64",
        "gateway_tracing_off_c64",
        "gateway_tracing_on_c64",
        "gateway_tracing_10pct_c64",
        "gateway_tracing_on_c1",
        "gateway_redis_limited_c64",
    ):
        assert runs[name]["requests"] > 0, name
        assert runs[name]["errors"] == 0 and runs[name]["non_2xx"] == 0, (name, runs[name])
    assert results["ready_s"] > 0
    assert results["redis_commands_per_s"] >= 0
    assert results["tracing_throughput_ratio"] > 0
    for row in ("gateway_embeddings16_c64", "gateway_responses_stream_c64"):
        compared = results["endpoints"][row]
        assert compared["throughput_ratio"] > 0, row
        assert compared["cpu_us_per_request"] > 0 and compared["chat_cpu_us_per_request"] > 0
    # The traced runs exported to the bench's OTLP sink: at least the c1 run's spans.
    assert results["tracing_spans_exported"] >= results["runs"]["gateway_tracing_on_c1"]["requests"]
    assert results["governance_redis_commands_per_s"] >= 0
    assert {t["target"] for t in results["targets"]} >= {
        "non-streaming req/s, 64 connections",
        "redis / memory throughput",
        "redis + limited key / memory",
        "Redis commands/s, limited key",
        "triage overhead vs plain route, classifier decision",
        "triage overhead vs plain route, cache decision",
        "gateway_embeddings16_c64 / chat (alternating rounds)",
        "gateway_responses_stream_c64 / chat (alternating rounds)",
    }
    assert "| gateway_memory_c64 |" in proc.stdout
