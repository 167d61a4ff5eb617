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
        "gateway_redis_c64",
        "gateway_redis_limited_c64",
    ):
        assert runs[name]["requests"] > 0, name
        assert runs[name]["errors"] == 0 and runs[name]["non_2xx"] == 0, (name, runs[name])
    assert results["ready_s"] > 0
    assert results["redis_commands_per_s"] >= 0
    assert results["governance_redis_commands_per_s"] >= 0
    assert {t["target"] for t in results["targets"]} >= {
        "non-streaming req/s, 64 connections",
        "redis / memory throughput",
        "redis + limited key / memory",
        "Redis commands/s, limited key",
    }
    assert "| gateway_memory_c64 |" in proc.stdout
