"""CLI manners: a reader that goes away early (``| head``) ends a command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _big_config(tmp_path: Path) -> Path:
    # Enough routes that the output is far larger than a pipe's buffer (64 KiB): the
    # command is still writing when the reader leaves.
    routes = {f"route-{i:05d}": {"pool": ["small"]} for i in range(3000)}
    config = {
        "providers": {"mock": {"kind": "mock"}},
        "models": {"small": {"provider": "mock"}},
        "routes": routes,
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run_then_close(args: list[str]) -> tuple[int, bytes, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # what `head -1` reads, then it exits
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(60), first, stderr


def test_check_config_into_a_closed_pipe_exits_0_without_a_traceback(tmp_path: Path) -> None:
    code, first, stderr = _run_then_close(["check-config", str(_big_config(tmp_path))])
    assert first.startswith(str(tmp_path / "big.yaml").encode() + b": ok")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 0


def test_routes_table_and_json_into_a_closed_pipe(tmp_path: Path) -> None:
    path = str(_big_config(tmp_path))
    for extra in ([], ["--json"]):
        code, first, stderr = _run_then_close(["routes", "--config", path, *extra])
        assert first.strip() in (b"{",) or first.startswith(b"ROUTE")
        assert stderr == "", stderr
        assert code == 0


def test_a_bad_config_still_exits_1_when_stdout_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("routes:\n  chat:\n    pool: [nope]\n")
    code, first, stderr = _run_then_close(["check-config", str(path)])
    assert code == 1
    assert first == b""
    assert "routes.chat.pool[0]: unknown model 'nope'" in stderr
    assert "Traceback" not in stderr


def test_serve_keeps_serving_when_its_log_pipe_closes(tmp_path: Path) -> None:
    """`gateway serve 2>&1 | head -1`: the log's reader leaves at once."""
    import signal

    import httpx

    from tests.support.fake_upstream import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    command = ["serve", "--config", "config/demo.yaml", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "the gateway died with its log pipe"
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        codes = [httpx.post(url + "/v1/chat/completions", json=body).status_code for _ in range(10)]
        assert codes == [200] * 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
