"""`make bench`: the gateway against an instant mock upstream, the mock reached directly,
and a no-op FastAPI handler, on this machine (spec §9). Prints one table and writes
bench/results/latest.json.

Layout on a 2-core machine: the server under test (gateway or no-op) is pinned to
CPU 0; the mock upstream and wrk share CPU 1; Redis is left unpinned.

The 10k-routes throughput is compared with a small config by alternating runs against
two gateways started side by side (ratio of medians), so the VM's drift cancels out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.adaptive import compare_policies
from bench.cache import cache_hits
from bench.endpoints import endpoints_config, load_endpoints
from bench.governance import run_governance, start_redis
from bench.harness import (
    PYTHON,
    ROOT,
    LoadResult,
    Service,
    free_port,
    machine_info,
    redis_commands,
    run_wrk,
    start_mock,
)
from bench.messages import run_messages
from bench.providers import provider_kinds
from bench.report import render_table, targets
from bench.rounds import median_run, round_ratio
from bench.streams import held_streams
from bench.tracing import tracing_runs
from bench.triage import run_triage

SERVER_CPU = 0
LOAD_CPU = 1
CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
STREAM = {**CHAT, "stream": True}
SLOW_STREAM = {**CHAT, "model": "bench-slow", "stream": True}
# The mock paces a stream only for an upstream model named "slow…"; the gateway rewrites
# the model, the bare pass-through forwards the body as is.
SLOW_STREAM_UPSTREAM = {**SLOW_STREAM, "model": "slow-upstream"}
STREAMS = 5000


def gateway_config(
    upstream_port: int, *, redis_port: int | None = None, extra_routes: int = 0
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{upstream_port}/v1"
    config: dict[str, Any] = {
        "state": (
            {
                "backend": "redis",
                "redis_url": f"redis://127.0.0.1:{redis_port}/0",
                "key_prefix": "bench",
            }
            if redis_port
            else {"backend": "memory"}
        ),
        "server": {"api_keys": ["bench-client-key"], "api_keys_env": None},
        "providers": {
            "up": {
                "kind": "openai",
                "base_url": base,
                "api_key_env": "BENCH_KEY",
                "max_connections": 10000,
                "timeout_s": 60,
            }
        },
        "models": {
            "bench-model": {
                "provider": "up",
                "model": "bench-upstream",
                "context_window": 128000,
                "price": {"input": 0.15, "output": 0.6, "cached_input": 0.075},
            },
            "bench-slow-model": {"provider": "up", "model": "slow-upstream"},
        },
        "routes": {
            "bench": {"pool": ["bench-model"], "options": {"temperature": 0.2}},
            "bench-slow": {"pool": ["bench-slow-model"]},
        },
        "resilience": {"ttft_timeout_s": 30},
    }
    for i in range(extra_routes):
        config["models"][f"model-{i}"] = {
            "provider": "up",
            "model": f"upstream-{i}",
            "context_window": 8192,
        }
        config["routes"][f"route-{i}"] = {"pool": [f"model-{i}", "bench-model"]}
    return config


def start_upstream(workdir: Path) -> Service:
    return start_mock("upstream", "bench.mock_upstream", workdir, LOAD_CPU)


class Bench:
    def __init__(self, workdir: Path, duration: float, smoke: bool) -> None:
        self.workdir = workdir
        self.duration = duration
        self.smoke = smoke
        self.results: dict[str, Any] = {"machine": machine_info(), "runs": {}}
        self.services: list[Service] = []  # every server started, stopped at the end

    def load(
        self,
        name: str,
        port: int,
        body: dict[str, Any],
        connections: int,
        duration: float | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/v1/chat/completions",
        warm_up: bool = True,
        cpu: int = LOAD_CPU,
    ) -> LoadResult:
        """``cpu``: where wrk runs (with the mocks, unless a run measures from elsewhere)."""
        if warm_up:
            self.warm_up(port, body, connections, headers, path, cpu)
        url = f"http://127.0.0.1:{port}{path}"
        result = run_wrk(
            url,
            body,
            connections=connections,
            duration_s=duration or self.duration,
            cpu=cpu,
            workdir=self.workdir,
            headers=headers,
        )
        self.results["runs"][name] = result.as_dict()
        print(
            f"  {name:<28} {result.rps:>10.1f} req/s  p50 {result.p50_ms:.3f} ms  "
            f"p99 {result.p99_ms:.3f} ms  errors {result.errors} non-2xx {result.non_2xx}",
            flush=True,
        )
        return result

    def warm_up(
        self,
        port: int,
        body: dict[str, Any],
        connections: int,
        headers: dict[str, str] | None = None,
        path: str = "/v1/chat/completions",
        cpu: int = LOAD_CPU,
    ) -> None:
        """One second of load, unmeasured: connections, caches, lazy imports."""
        run_wrk(
            f"http://127.0.0.1:{port}{path}",
            body,
            connections=connections,
            duration_s=1,
            cpu=cpu,
            workdir=self.workdir,
            headers=headers,
        )

    def start_gateway(self, name: str, config: dict[str, Any]) -> Service:
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        service = Service(
            name,
            [PYTHON, "-m", "gateway.cli", "serve", "--config", str(path), "--port", str(port)],
            port,
            cpu=SERVER_CPU,
            env={"BENCH_KEY": "sk-bench-upstream"},
            log=self.workdir / f"{name}.log",
        )
        self.services.append(service)
        service.wait_ready()
        return service

    def start_app(self, name: str, app: str, env: dict[str, str]) -> Service:
        """A plain uvicorn app on the gateway's CPU, served like the gateway."""
        port = free_port()
        cmd = [PYTHON, "-m", "uvicorn", app, "--port", str(port), "--loop", "uvloop"]
        cmd += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
        service = Service(
            name, cmd, port, cpu=SERVER_CPU, env=env, log=self.workdir / f"{name}.log"
        )
        self.services.append(service)
        service.wait_ready()
        return service

    def compare_app(self, name: str, app: str, env: dict[str, str]) -> None:
        """A plain uvicorn app, loaded like the gateway."""
        service = self.start_app(name, app, env)
        try:
            self.load(f"{name}_c1", service.port, CHAT, 1)
            self.load(f"{name}_c64", service.port, CHAT, 64)
        finally:
            service.stop()

    def run(self) -> dict[str, Any]:
        upstream = start_upstream(self.workdir)
        upstream_port = upstream.port
        redis = None
        try:
            print("direct: wrk -> mock upstream", flush=True)
            self.load("direct_c1", upstream_port, CHAT, 1)
            self.load("direct_c64", upstream_port, CHAT, 64)

            print("no-op FastAPI handler", flush=True)
            self.compare_app("noop", "bench.noop_app:app", {})

            print("bare FastAPI + aiohttp pass-through", flush=True)
            upstream_env = {"BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}/v1"}
            self.compare_app("passthrough", "bench.passthrough_app:app", upstream_env)

            print("gateway, memory state", flush=True)
            gw = self.start_gateway(
                "gateway-memory", endpoints_config(gateway_config(upstream_port))
            )
            self.results["ready_s"] = round(gw.ready_s, 3)
            time.sleep(0.5)
            self.results["rss_idle_mb"] = round(gw.rss_mb(), 1)
            self.load("gateway_memory_c1", gw.port, CHAT, 1)
            self.load("gateway_memory_c64", gw.port, CHAT, 64)
            self.load("gateway_memory_stream_c64", gw.port, STREAM, 64)
            load_endpoints(self, gw)
            self.results["rss_after_load_mb"] = round(gw.rss_mb(), 1)
            if not self.smoke:
                self.concurrent_streams(gw)
            gw.stop()
            if not self.smoke:
                self.passthrough_streams(upstream_env)
            run_triage(self, upstream_port, gateway_config(upstream_port))
            compare_policies(self, gateway_config(upstream_port), CHAT)
            run_messages(self, gateway_config(upstream_port), LOAD_CPU)

            print("gateway, memory state, response cache hits", flush=True)
            cache_hits(self, gateway_config(upstream_port), "memory")

            print("gateway, redis state", flush=True)
            redis = start_redis(self.workdir)
            redis_port = redis.port
            self.compare_state(upstream_port, redis_port)
            print("gateway, redis state, response cache hits", flush=True)
            cache_hits(self, gateway_config(upstream_port, redis_port=redis_port), "redis")
            run_governance(
                self,
                gateway_config(upstream_port),
                gateway_config(upstream_port, redis_port=redis_port),
                redis_port,
                CHAT,
            )

            provider_kinds(self, upstream_port)
            tracing_runs(self, gateway_config(upstream_port), LOAD_CPU)

            if not self.smoke:
                print("gateway, 10,000 routes and models", flush=True)
                self.large_config(upstream_port)
        finally:
            for service in self.services:
                service.stop()
            upstream.stop()
            if redis is not None:
                redis.stop()
        return self.results

    def compare_state(self, upstream_port: int, redis_port: int) -> None:
        """Redis state against memory state: both gateways up at once, loaded in
        alternating runs seconds apart (memory, then Redis; three rounds). Row
        ``gateway_redis_c64`` is the median Redis run, ``redis_throughput_ratio`` the
        median of the rounds' ratios (a Redis run divided by the memory run of minutes
        earlier measured the machine's drift), and ``redis_commands_per_s`` what the
        Redis runs sent."""
        redis_gw = self.start_gateway(
            "gateway-redis", gateway_config(upstream_port, redis_port=redis_port)
        )
        memory_gw = self.start_gateway("gateway-memory-pair", gateway_config(upstream_port))
        rounds = 1 if self.smoke else 3
        duration = max(2.0, self.duration * 0.6)
        runs: dict[str, list[LoadResult]] = {"memory": [], "redis": []}
        commands, elapsed = 0, 0.0
        try:
            self.load("gateway_redis_c1", redis_gw.port, CHAT, 1)
            self.warm_up(memory_gw.port, CHAT, 64)
            self.warm_up(redis_gw.port, CHAT, 64)
            for i in range(1, rounds + 1):
                runs["memory"].append(
                    self.load(
                        f"state_memory_{i}", memory_gw.port, CHAT, 64, duration, warm_up=False
                    )
                )
                before, started = redis_commands(redis_port), time.monotonic()
                runs["redis"].append(
                    self.load(f"state_redis_{i}", redis_gw.port, CHAT, 64, duration, warm_up=False)
                )
                elapsed += time.monotonic() - started
                commands += redis_commands(redis_port) - before - 1  # INFO itself
        finally:
            redis_gw.stop()
            memory_gw.stop()
        self.results["runs"]["gateway_redis_c64"] = median_run(runs["redis"]).as_dict()
        ratio = round_ratio(runs["redis"], runs["memory"])
        self.results["redis_throughput_ratio"] = round(ratio, 3)
        self.results["redis_commands_per_s"] = round(commands / elapsed, 1)
        print(f"  redis / memory: median of the rounds' ratios {ratio:.3f}", flush=True)

    def large_config(self, upstream_port: int) -> None:
        """10k routes vs a small config: both gateways up at once (only one loaded at a
        time), alternating runs in four rounds, each round starting with the other
        gateway (so neither always runs first), and the median of the rounds' ratios."""
        large = self.start_gateway(
            "gateway-large", gateway_config(upstream_port, extra_routes=10_000)
        )
        self.results["large_config_ready_s"] = round(large.ready_s, 3)
        small = self.start_gateway("gateway-small", gateway_config(upstream_port))
        rounds = 1 if self.smoke else 4
        duration = max(2.0, self.duration * 0.6)
        runs: dict[str, list[LoadResult]] = {"small": [], "large": []}
        pair = (("small", small), ("large", large))
        try:
            for i in range(1, rounds + 1):
                for kind, gw in pair if i % 2 else pair[::-1]:
                    name = f"large_compare_{kind}_{i}"
                    runs[kind].append(self.load(name, gw.port, CHAT, 64, duration))
        finally:
            small.stop()
            large.stop()
        self.results["runs"]["gateway_large_config_c64"] = median_run(runs["large"]).as_dict()
        ratio = round_ratio(runs["large"], runs["small"])
        self.results["large_config_throughput_ratio"] = round(ratio, 3)
        print(
            f"  10k routes vs small: alternating runs ({rounds} rounds of {round(duration)} s,"
            f" 64 connections), median of the rounds' ratios {ratio:.3f}",
            flush=True,
        )

    def streams(self, name: str, server: Service, body: dict[str, Any]) -> float:
        """5,000 streams held open at once against a slow upstream (20 events, 0.25 s
        apart); records the run and returns the server's peak RSS (MB)."""
        result, peak = held_streams(
            server,
            body,
            connections=STREAMS,
            duration_s=12,
            cpu=LOAD_CPU,
            workdir=self.workdir,
        )
        self.results["runs"][name] = result.as_dict()
        print(
            f"  {STREAMS:,} concurrent streams: {result.requests} completed, "
            f"errors {result.errors}, non-2xx {result.non_2xx}, peak RSS {peak:.1f} MB",
            flush=True,
        )
        return round(peak, 1)

    def concurrent_streams(self, gw: Service) -> None:
        peak = self.streams("gateway_5000_streams", gw, SLOW_STREAM)
        self.results["streams_5000_peak_rss_mb"] = peak

    def passthrough_streams(self, upstream_env: dict[str, str]) -> None:
        """The same 5,000 streams through the bare pass-through: the stack's own RSS."""
        print("bare FastAPI + aiohttp streaming pass-through, 5,000 streams", flush=True)
        app = self.start_app("passthrough-streams", "bench.passthrough_app:app", upstream_env)
        try:
            peak = self.streams("passthrough_5000_streams", app, SLOW_STREAM_UPSTREAM)
        finally:
            app.stop()
        self.results["passthrough_streams_5000_peak_rss_mb"] = peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick pass over the harness (short runs, no big scenarios)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        bench = Bench(Path(tmp), 1.0 if args.smoke else args.duration, args.smoke)
        results = bench.run()
    soak = Path(args.out).parent / "soak.json"
    if soak.exists():  # `make soak` takes 10 minutes, so it is run on its own
        results["soak_rss_growth_pct"] = json.loads(soak.read_text())["soak_rss_growth_pct"]
    results["targets"] = targets(results)
    results["command"] = "make bench"
    text = render_table(results)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
