"""Instructions per request of a running gateway, counted by valgrind's callgrind.

Requests per second on a shared VM drift by tens of percent between runs; an
instruction count does not. This runs ``gateway serve`` under callgrind with
instrumentation off, warms it up, switches instrumentation on, drives a fixed number
of chat requests against the bench's mock upstream, dumps the counts, and prints
instructions per request (traced gateways export to a local OTLP sink). It measures
CPU work, not time: cache misses and waits are not in it.

    python -m bench.instructions off on 10pct --requests 1500

Needs ``valgrind`` (with ``callgrind_control``) on the PATH; it is not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.harness import PYTHON, free_port, start_mock
from bench.run import CHAT, LOAD_CPU, gateway_config
from bench.tracing import start_sink, traced

CONCURRENCY = 16
KINDS = ("off", "on", "10pct")


def config_for(kind: str, upstream_port: int, sink_port: int) -> dict[str, Any]:
    config = gateway_config(upstream_port)
    if kind == "off":
        return config
    return traced(config, sink_port, 1.0 if kind == "on" else 0.1)


async def drive(port: int, requests: int) -> None:
    headers = {"Authorization": "Bearer bench-client-key"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate:
                reply = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)
                reply.raise_for_status()

        await asyncio.gather(*(one() for _ in range(requests)))


def wait_healthy(port: int, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(1)
    raise RuntimeError("the gateway under callgrind did not become healthy")


def total_instructions(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(kind: str, requests: int, workdir: Path, upstream_port: int, sink_port: int) -> int:
    config_path = workdir / f"{kind}.yaml"
    config_path.write_text(yaml.safe_dump(config_for(kind, upstream_port, sink_port)))
    port = free_port()
    out = workdir / f"callgrind-{kind}.out"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    cmd += [PYTHON, "-m", "gateway.cli", "serve", "--config", str(config_path)]
    cmd += ["--port", str(port)]
    env = {**os.environ, "BENCH_KEY": "sk-bench-upstream"}
    with (workdir / f"{kind}.log").open("w") as log:
        gateway = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        try:
            wait_healthy(port)
            asyncio.run(drive(port, 300))  # connections, caches, lazy imports
            pid = str(gateway.pid)
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            asyncio.run(drive(port, requests))
            time.sleep(6)  # a traced gateway exports what is queued (the schedule delay)
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        finally:
            gateway.terminate()
            gateway.wait(60)
    dumps = sorted(workdir.glob(f"callgrind-{kind}.out.*"))
    return total_instructions(dumps[0]) // requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Checked here, not by ``choices``: argparse holds an empty list against them.
    parser.add_argument("kinds", nargs="*", help=f"of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        upstream = start_mock("upstream", "bench.mock_upstream", workdir, LOAD_CPU)
        sink = start_sink(workdir, LOAD_CPU)
        try:
            counts = {}
            for kind in args.kinds or KINDS:
                counts[kind] = measure(kind, args.requests, workdir, upstream.port, sink.port)
                print(f"{kind:>6}: {counts[kind]:,} instructions per request", flush=True)
            if "off" in counts:
                for kind, count in counts.items():
                    if kind != "off":
                        print(f"{kind:>6} / off: {count / counts['off']:.3f}")
        finally:
            sink.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
