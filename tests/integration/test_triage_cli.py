"""``gateway triage`` (a real classification from the command line) and the explain
view of a triage route (``GET /v1/gateway/routes`` and ``gateway routes``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.fake_upstream import FakeUpstream, error, ok
from tests.support.inprocess import (
    InProcessFactory,
    inprocess_gateway,  # noqa: F401  (fixture)
)
from tests.support.triage_configs import QUESTION, triage_config


def gateway_cli(
    config: dict[str, Any], tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", args[0], "--config", str(path), *args[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        input=stdin,
    )


def test_triage_command_runs_the_real_classification(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = triage_config(fake_upstream.base_url)
    fake_upstream.set("judge", error(503))
    fake_upstream.set("judge-backup", ok('{"tier": "expert"}'))
    done = gateway_cli(config, tmp_path, "triage", "--json", QUESTION)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["route"] == "assistant"
    assert (report["tier"], report["reason"]) == ("expert", "classifier")
    assert report["raw"] == '{"tier": "expert"}'
    call = report["classifier"]
    assert call["model"] == "judge-backup" and call["latency_ms"] > 0
    assert [(a["model"], a["outcome"]) for a in call["attempts"]] == [
        ("judge", "upstream_5xx"),
        ("judge-backup", "success"),
    ]
    assert (call["input_tokens"], call["output_tokens"]) == (11, 7)
    assert fake_upstream.order() == ["judge", "judge-backup"]
    asked = fake_upstream.hits("judge-backup")[0].body
    assert asked["messages"][1]["content"] == f"user: {QUESTION}"

    # A short prompt is decided by the heuristic; --no-heuristics asks anyway.
    fake_upstream.reset()
    fake_upstream.set("judge", ok("Definitely a complex one."))
    done = gateway_cli(config, tmp_path, "triage", "hello!")
    assert done.returncode == 0, done.stderr
    assert "tier      simple" in done.stdout and "reason    heuristic" in done.stdout
    assert "classifier not asked" in done.stdout
    assert fake_upstream.order() == []
    done = gateway_cli(config, tmp_path, "triage", "--no-heuristics", "hello!")
    assert done.returncode == 0, done.stderr
    assert "tier      complex" in done.stdout and "reason    regex" in done.stdout
    assert "raw       'Definitely a complex one.'" in done.stdout
    assert "ms (classifier), attempts: judge → success" in done.stdout
    assert fake_upstream.order() == ["judge"]
    # `-` reads the prompt from stdin (a long one from a file, say).
    done = gateway_cli(config, tmp_path, "triage", "--json", "-", stdin=QUESTION * 3)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reason"] == "regex"
    assert fake_upstream.hits("judge")[1].body["messages"][1]["content"] == f"user: {QUESTION * 3}"


def test_triage_command_refuses_a_route_without_triage(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    done = gateway_cli(
        triage_config(fake_upstream.base_url), tmp_path, "triage", "--route", "judges", "hi"
    )
    assert done.returncode == 1
    assert "--route: 'judges' is not a triage route (known: assistant)" in done.stderr
    assert fake_upstream.order() == []


def test_explain_view_shows_the_classifier_and_each_tier(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    config = triage_config(fake_upstream.base_url)
    gw = inprocess_gateway(config)
    rows = httpx.get(gw.url + "/v1/gateway/routes", timeout=5).json()["data"]
    row = next(r for r in rows if r["route"] == "assistant")
    triage = row["triage"]
    assert triage["classifier"]["name"] == "judges"
    assert [m["model"] for m in triage["classifier"]["members"]] == ["judge", "judge-backup"]
    assert triage["default_tier"] == "medium"
    assert [
        (t["tier"], t["route"], [m["model"] for m in t["members"]]) for t in triage["tiers"]
    ] == [
        ("simple", None, ["flash"]),
        ("medium", None, ["mini"]),
        ("complex", None, ["sonnet", "sonnet-b"]),
        ("expert", "chat-expert", ["opus"]),
    ]
    done = gateway_cli(config, tmp_path, "routes")
    assert done.returncode == 0, done.stderr
    assert "    classifier judges: judge (fake:judge, w=1), judge-backup" in done.stdout
    assert "    tier expert (route chat-expert): opus (fake:opus, w=1)" in done.stdout
    assert "    tier medium [default]: mini (fake:mini, w=1)" in done.stdout
    assert fake_upstream.order() == []
