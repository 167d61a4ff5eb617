"""Processes and load generation for the benchmark: pinned subprocesses and wrk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None or cpu_count() < 2:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is missing; installing it from Debian's packages", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk could not be installed")
    return path


class Service:
    """A subprocess serving HTTP on a port, optionally pinned to one CPU."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        port: int,
        *,
        cpu: int | None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        self.name = name
        self.port = port
        self.ready_path = ready_path
        self.log = log
        out = log.open("ab") if log else subprocess.DEVNULL
        full_env = {**os.environ, **(env or {})}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            pinned(cmd, cpu), stdout=out, stderr=out, env=full_env, cwd=ROOT
        )
        self.ready_s = 0.0

    def wait_ready(self, timeout: float = 30.0, method: str = "GET") -> float:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log else ""
                raise RuntimeError(f"{self.name} exited early:\n{tail}")
            try:
                if method == "GET":
                    ok = httpx.get(url, timeout=0.5).status_code < 500
                else:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        ok = True
                if ok:
                    self.ready_s = time.perf_counter() - self.started
                    return self.ready_s
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} not ready in {timeout}s")

    def rss_mb(self) -> float:
        """RSS of the serving process (the leaf, when wrapped by taskset/uvicorn)."""
        pid = self.proc.pid
        total = 0
        for candidate in [pid, *self._children(pid)]:
            try:
                for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total = max(total, int(line.split()[1]))
            except OSError:
                continue
        return total / 1024

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = []
        try:
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                out.append(int(child))
                out.extend(Service._children(int(child)))
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-client-key"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"connect\\":%%d,\\"read\\":%%d,\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(
    url: str,
    body: dict[str, Any],
    *,
    connections: int,
    duration_s: float,
    cpu: int | None,
    workdir: Path,
    timeout_s: float = 10.0,
) -> LoadResult:
    wrk = ensure_wrk()
    script = workdir / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    script.write_text(WRK_SCRIPT % json.dumps(body, separators=(",", ":")))
    cmd = pinned(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(script),
            url,
        ],
        cpu,
    )
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=duration_s + timeout_s + 30
    )
    script.unlink(missing_ok=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len("WRKJSON ") :])
    seconds = data["duration_us"] / 1e6
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return LoadResult(
        connections=connections,
        duration_s=round(seconds, 2),
        requests=data["requests"],
        rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=round(data["p50_us"] / 1000, 3),
        p99_ms=round(data["p99_us"] / 1000, 3),
        errors=errors,
        non_2xx=data["status"],
    )


def redis_commands(port: int) -> int:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "stats"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    raise RuntimeError("no total_commands_processed in INFO stats")


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": sys.version.split()[0]}


def start_mock(workdir: Path, module: str, cpu: int | None) -> Service:
    """An instant mock upstream (``python -m <module> --port N``) on a free port."""
    port = free_port()
    name = module.rsplit(".", 1)[-1]
    mock = Service(
        name,
        [PYTHON, "-m", module, "--port", str(port)],
        port,
        cpu=cpu,
        ready_path="/",
        log=workdir / f"{name}.log",
    )
    mock.wait_ready(method="TCP")
    return mock
