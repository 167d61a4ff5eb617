"""Tracing on and off: the same gateway config with and without ``tracing:``, at full
sampling, exporting OTLP/HTTP protobuf to a sink that counts what it receives.

Like the 10k-route comparison, the gateways are up at once and loaded in alternating
runs; the ratio to tracing off is the median of each round's ratio, which cancels the
machine's drift. Beside throughput, each gateway's CPU time per request served (process
CPU time over its own ``gateway_requests_total``, measured around each run and the
export that follows it) says what tracing costs in work, which a busy machine blurs
less than it blurs requests per second. ``python -m bench.tracing --sink PORT`` is the
sink (a stand-in for a collector).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web

from bench.harness import PYTHON, LoadResult, Service, free_port
from bench.rounds import median_run, round_ratio
from bench.triage import routed

if TYPE_CHECKING:
    from bench.run import Bench

CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}


def traced(config: dict[str, Any], sink_port: int, ratio: float) -> dict[str, Any]:
    return {
        **config,
        "tracing": {
            "enabled": True,
            "endpoint": f"http://127.0.0.1:{sink_port}",
            "sample_ratio": ratio,
            "max_queue_size": 65536,
        },
    }


def start_sink(workdir: Path, cpu: int | None) -> Service:
    """The local OTLP/HTTP collector the traced gateways export to (``sink`` below)."""
    port = free_port()
    sink = Service(
        "otlp-sink",
        [PYTHON, "-m", "bench.tracing", "--sink", str(port)],
        port,
        cpu=cpu,
        ready_path="/",
        log=workdir / "otlp-sink.log",
    )
    sink.wait_ready(method="TCP")
    return sink


def tracing_runs(bench: Bench, config: dict[str, Any], cpu: int) -> None:
    """Rows ``gateway_tracing_{off,on,10pct}_c64`` (medians of alternating runs),
    ``gateway_tracing_on_c1``, the throughput ratios to tracing off, and the gateways'
    CPU µs per request with their ratios to tracing off."""
    print("gateway, tracing off and on (full sampling, OTLP/HTTP)", flush=True)
    sink = start_sink(bench.workdir, cpu)
    sink_port = sink.port
    bench.services.append(sink)
    gateways = {
        "off": bench.start_gateway("gateway-tracing-off", config),
        "on": bench.start_gateway("gateway-tracing-on", traced(config, sink_port, 1.0)),
        "10pct": bench.start_gateway("gateway-tracing-10pct", traced(config, sink_port, 0.1)),
    }
    rounds = 1 if bench.smoke else 3
    duration = max(2.0, bench.duration * 0.6)
    runs: dict[str, list[LoadResult]] = {kind: [] for kind in gateways}
    cpu_us: dict[str, list[float]] = {kind: [] for kind in gateways}
    try:
        kinds = list(gateways)
        for i in range(1, rounds + 1):
            # Each round starts with the next gateway (a Latin square over the rounds):
            # a machine that slows down within a round then burdens each kind alike.
            for kind in kinds[i - 1 :] + kinds[: i - 1]:
                gw = gateways[kind]
                cpu, served = gw.cpu_seconds(), routed(gw.port, "bench")
                runs[kind].append(bench.load(f"tracing_{kind}_{i}", gw.port, CHAT, 64, duration))
                # All gateways share one core: a traced one's export backlog must not
                # run into the next gateway's run (and its CPU belongs to this run).
                settle(sink_port)
                served = routed(gw.port, "bench") - served
                cpu_us[kind].append((gw.cpu_seconds() - cpu) / max(served, 1.0) * 1e6)
        bench.load("gateway_tracing_on_c1", gateways["on"].port, CHAT, 1)
    finally:
        for gw in gateways.values():
            gw.stop()  # a traced one flushes what is still queued
        # What reached the collector: proof the traced gateways really exported.
        with contextlib.suppress(httpx.HTTPError):
            bench.results["tracing_spans_exported"] = exported(sink_port)
        sink.stop()
    for kind, results in runs.items():
        bench.results["runs"][f"gateway_tracing_{kind}_c64"] = median_run(results).as_dict()
    for kind, key in (("on", "tracing_throughput_ratio"), ("10pct", "tracing_10pct_ratio")):
        ratio = round_ratio(runs[kind], runs["off"])
        bench.results[key] = round(ratio, 3)
        print(f"  tracing {kind} / off: median of the rounds' ratios {ratio:.3f}", flush=True)
    bench.results["tracing_cpu_us_per_request"] = {
        kind: round(statistics.median(values), 1) for kind, values in cpu_us.items()
    }
    off = cpu_us["off"]
    bench.results["tracing_cpu_ratio"] = {
        kind: round(statistics.median(a / b for a, b in zip(cpu_us[kind], off, strict=True)), 3)
        for kind in ("on", "10pct")
    }
    print(
        f"  gateway CPU per request (us): {bench.results['tracing_cpu_us_per_request']}, "
        f"ratio to off (median of the rounds): {bench.results['tracing_cpu_ratio']}",
        flush=True,
    )


def exported(sink_port: int) -> int:
    count: int = httpx.get(f"http://127.0.0.1:{sink_port}/", timeout=5).json()["spans"]
    return count


def settle(sink_port: int, timeout_s: float = 30.0) -> None:
    """Wait until the sink has received nothing new for half a second."""
    deadline = time.monotonic() + timeout_s
    last = exported(sink_port)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = exported(sink_port)
        if now == last:
            return
        last = now


def tracing_targets(results: dict[str, Any], check: Any) -> None:
    ratio = results.get("tracing_throughput_ratio")
    if ratio is not None:
        check("tracing on / off throughput (full sampling)", ratio, ">= 0.85", ratio >= 0.85)
    sampled = results.get("tracing_10pct_ratio")
    if sampled is not None:
        check("tracing at 10% sampling / off (context)", sampled, "(no goal)", None)
    cpu = results.get("tracing_cpu_ratio")
    if cpu is not None:
        check("tracing on / off CPU per request (context)", cpu["on"], "(no goal)", None)


def sink(port: int) -> None:
    spans = 0

    async def export(request: web.Request) -> web.Response:
        nonlocal spans
        body = await request.read()
        spans += body.count(b"gen_ai.operation.name")  # one per span, cheap to count
        return web.Response(content_type="application/x-protobuf")

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"spans": spans})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/", count)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sink", type=int, required=True, help="serve the OTLP sink here")
    sink(parser.parse_args().sink)
