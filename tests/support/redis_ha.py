"""Real Redis topologies for the failover tests: a primary with a replica watched by
three sentinels, and a three-primary cluster. Every process runs on a free port in a
temporary directory and is stopped (killed if it must be) afterwards."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.fake_upstream import free_port

SERVICE = "mymaster"


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"no {binary} on this machine")
    return path


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what} (last error: {last})")


class RedisProcess:
    def __init__(self, workdir: Path, name: str, args: list[str], port: int) -> None:
        self.port = port
        self.name = name
        directory = workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "redis.log"
        base = [
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", "--appendonly", "no", "--logfile", str(self.log_path)),
        ]
        self.proc = subprocess.Popen(
            [_require("redis-server"), *args, *base],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2, **options)

    def wait_ready(self) -> RedisProcess:
        def ping() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()}")
            with self.client() as client:
                return bool(client.ping())

        poll(ping, 10, f"{self.name} answers PING")
        return self

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(workdir: Path, name: str, *args: str) -> RedisProcess:
    return RedisProcess(workdir, name, list(args), free_port()).wait_ready()


class SentinelSetup:
    """A primary, one replica and three sentinels (quorum 2), tuned to fail over fast."""

    def __init__(self, workdir: Path) -> None:
        self.processes: list[RedisProcess] = []
        self.primary = self._add(start_server(workdir, "primary"))
        self.replica = self._add(
            start_server(workdir, "replica", "--replicaof", "127.0.0.1", str(self.primary.port))
        )
        poll(
            lambda: self.replica.client().info("replication")["master_link_status"] == "up",
            15,
            "the replica is in sync",
        )
        self.sentinels = [self._add(self._sentinel(workdir, i)) for i in range(3)]
        for sentinel in self.sentinels:
            poll(lambda s=sentinel: self._knows_everyone(s), 20, "each sentinel knows the others")

    def _add(self, process: RedisProcess) -> RedisProcess:
        self.processes.append(process)
        return process

    def _sentinel(self, workdir: Path, index: int) -> RedisProcess:
        port = free_port()
        conf = workdir / f"sentinel-{index}.conf"
        conf.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 800\n"
            f"sentinel failover-timeout {SERVICE} 4000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        # Sentinel rewrites its config file, so each has its own.
        process = RedisProcess(workdir, f"sentinel-{index}", [str(conf), "--sentinel"], port)
        return process.wait_ready()

    def _knows_everyone(self, sentinel: RedisProcess) -> bool:
        with sentinel.client() as client:
            replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE)
            others = client.execute_command("SENTINEL", "SENTINELS", SERVICE)
        return len(replicas) == 1 and len(others) == 2

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def primary_port(self) -> int:
        with self.sentinels[0].client() as client:
            _host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


class ClusterSetup:
    """Three primaries, no replicas, all 16384 slots assigned."""

    def __init__(self, workdir: Path) -> None:
        self.nodes: list[RedisProcess] = []
        for index in range(3):
            port = free_port()
            args = [
                *("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"),
                # The bus port would be port + 10000, which may not exist for a free port.
                *("--cluster-port", str(free_port())),
                *("--cluster-config-file", f"nodes-{port}.conf"),
            ]
            self.nodes.append(RedisProcess(workdir, f"node-{index}", args, port).wait_ready())
        subprocess.run(
            [
                _require("redis-cli"),
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for node in self.nodes:
            poll(
                lambda n=node: n.client().cluster("info")["cluster_state"] == "ok",
                20,
                "the cluster is ok on every node",
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
