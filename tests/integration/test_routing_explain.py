"""``gateway routes --json`` and ``GET /v1/gateway/routes`` show the same resolution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import GatewayFactory
from tests.support.fake_upstream import FakeUpstream, closed_port_url

ROOT = Path(__file__).resolve().parents[2]


def explain_config(primary: str, local: str) -> dict[str, Any]:
    return {
        "providers": {
            "primary": {"kind": "openai", "base_url": primary},
            "local": {"kind": "openai", "base_url": local},
        },
        "models": {
            "big": {"provider": "primary", "model": "big-2025"},
            "small": {"provider": "primary"},
            "hermes": {"provider": "local", "model": "hermes3"},
        },
        "routes": {
            "chat": {
                "policy": "weighted",
                "pool": [{"model": "big", "weight": 3}, "small", {"model": "hermes", "weight": 0}],
                "profiles": {"byok": ["hermes"]},
            },
            "complex": {"pool": ["big"], "profiles": {"premium": ["big", "small"]}},
            "moderation": {"pinned": True, "pool": ["small"]},
        },
        "profile": "premium",
    }


def cli_view(config: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "routes", "--config", str(config), "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout)
    return view


@pytest.mark.parametrize("profile", [None, "byok", "premium"])
def test_cli_and_endpoint_agree(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, profile: str | None
) -> None:
    gw = gateway_factory(explain_config(fake_upstream.base_url, closed_port_url()))
    args = ["--profile", profile] if profile else []
    params = {"profile": profile} if profile else {}
    from_cli = cli_view(gw.config_path, *args)
    response = httpx.get(gw.base_url + "/gateway/routes", params=params, timeout=10)
    assert response.status_code == 200
    assert response.json() == from_cli
    assert from_cli["profile"] == (profile or "premium")


def test_the_view_shows_members_weights_pinned_and_policy(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "explain.yaml"
    path.write_text(yaml.safe_dump(explain_config(fake_upstream.base_url, closed_port_url())))
    rows = {row["route"]: row for row in cli_view(path, "--profile", "byok")["data"]}
    assert rows["chat"] == {
        "route": "chat",
        "profile": "byok",
        "pinned": False,
        "policy": "weighted",
        "exploration": 0.0,
        "policy_order": ["hermes"],
        "members": [
            {
                "model": "hermes",
                "provider": "local",
                "upstream_model": "hermes3",
                "weight": 1.0,
                "state": "available",
                "estimates": {
                    "ttft_ms": None,
                    "ms_per_output_token": None,
                    "output_tokens": None,
                    "samples": 0,
                    "in_flight": 0,
                },
            }
        ],
    }
    assert rows["complex"]["profile"] is None  # no byok entry: the pool
    assert [m["model"] for m in rows["complex"]["members"]] == ["big"]
    assert rows["moderation"]["pinned"] is True
    default = {row["route"]: row for row in cli_view(path)["data"]}
    assert [(m["model"], m["weight"]) for m in default["chat"]["members"]] == [
        ("big", 3.0),
        ("small", 1.0),
        ("hermes", 0.0),
    ]
    assert [m["upstream_model"] for m in default["complex"]["members"]] == ["big-2025", "small"]


def test_unknown_profile_in_the_view_is_rejected(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(explain_config(fake_upstream.base_url, closed_port_url()))
    response = httpx.get(gw.base_url + "/gateway/routes", params={"profile": "gold"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_profile"
    command = ["routes", "--config", str(gw.config_path), "--profile", "gold"]
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert "unknown profile 'gold'" in done.stderr
