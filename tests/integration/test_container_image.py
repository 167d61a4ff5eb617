"""The container image without a Docker engine: the Dockerfile's own ENTRYPOINT, ENV,
HEALTHCHECK and COPY'd config, read from the file and run here, so the image cannot
drift from what is tested."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.fake_upstream import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FinalStage:
    env: dict[str, str] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)  # destination -> repo source
    user: str | None = None
    healthcheck: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(dockerfile: Path) -> FinalStage:
    steps = instructions(dockerfile.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    stage = FinalStage()
    for word, rest in steps[last_from + 1 :]:
        if word == "ENV":
            stage.env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        elif word == "COPY" and not rest.startswith("--from"):
            source, destination = shlex.split(rest)
            stage.copies[destination] = source
        elif word == "USER":
            stage.user = rest
        elif word == "HEALTHCHECK":
            stage.healthcheck = json.loads(rest.split("CMD", 1)[1])
        elif word == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
        elif word == "EXPOSE":
            stage.exposed += rest.split()
    return stage


def test_the_dockerfile_runs_non_root_with_a_healthcheck_and_gateway_serve() -> None:
    stage = final_stage(ROOT / "Dockerfile")
    assert stage.user is not None and stage.user not in ("root", "0")
    assert stage.entrypoint == ["gateway", "serve"]
    assert stage.healthcheck[:3] == ["python", "-m", "gateway.healthcheck"]
    assert stage.exposed == [stage.env["GATEWAY_PORT"]]
    assert stage.env["GATEWAY_CONFIG"] in stage.copies
    for source in stage.copies.values():
        assert (ROOT / source).exists()


def test_the_image_command_line_serves_answers_its_healthcheck_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    stage = final_stage(ROOT / "Dockerfile")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(stage.env)
    # The two things a machine without Docker must map: the files the image COPYs in,
    # and a free port in place of the image's fixed one.
    env["GATEWAY_CONFIG"] = str(ROOT / stage.copies[stage.env["GATEWAY_CONFIG"]])
    env["GATEWAY_PORT"] = str(free_port())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    log = (tmp_path / "image.log").open("wb")
    proc = subprocess.Popen(stage.entrypoint, env=env, cwd=tmp_path, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    healthcheck = [sys.executable if stage.healthcheck[0] == "python" else stage.healthcheck[0]]
    healthcheck += stage.healthcheck[1:]
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "image.log").read_text()
            if subprocess.run(healthcheck, env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the HEALTHCHECK never passed")
        answer = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        # GATEWAY_HOST from the image: every interface, not just the loopback.
        assert stage.env["GATEWAY_HOST"] == "0.0.0.0"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "image.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert subprocess.run(healthcheck, env=env, capture_output=True).returncode == 1
