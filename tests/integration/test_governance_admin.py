"""``/v1/gateway/keys`` and ``gateway keys``: admin-only, validated, secrets shown once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog

from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessFactory, inprocess_gateway  # noqa: F401

ADMIN = "sk-admin-1"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
MESSAGES = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gateway(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    monkeypatch.setenv("GATEWAY_ADMIN_KEYS", ADMIN)
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["routes"]["chat"]["profiles"] = {"premium": ["m1"]}
    config["server"] = {"api_keys": ["sk-flat"], "api_keys_env": None}
    config["teams"] = {"ops": {"rpm": 1000}}
    config["keys"] = {"cfg": {"secret": "sk-cfg", "rpm": 10}}
    return inprocess_gateway(config)


def chat(gw: Any, secret: str) -> httpx.Response:
    return httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {secret}"},
    )


def keys(gw: Any, method: str, path: str = "", body: Any = None, **headers: str) -> httpx.Response:
    return httpx.request(
        method, gw.url + "/v1/gateway/keys" + path, json=body, headers=headers or AS_ADMIN
    )


def test_key_management_needs_the_admin_key(gateway: Any) -> None:
    for headers in ({"Authorization": "Bearer sk-flat"}, {"Authorization": "Bearer nope"}):
        reply = keys(gateway, "GET", **headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "invalid_api_key"
    reply = keys(gateway, "POST", body={"name": "x"}, Authorization="Bearer sk-cfg")
    assert reply.status_code == 401


def test_without_admin_keys_key_management_is_refused(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_ADMIN_KEYS", raising=False)
    gw = inprocess_gateway(upstream_config(fake_upstream.base_url, ["m1"]))
    reply = httpx.post(gw.url + "/v1/gateway/keys", json={"name": "x"})
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "permission_denied"


def test_config_keys_guard_admin_endpoints_without_admin_keys(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_ADMIN_KEYS", raising=False)
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["server"] = {"api_keys_env": None}
    config["keys"] = {"only": {"secret": "sk-only", "rpm": 5}}
    gw = inprocess_gateway(config)
    usage = gw.url + "/v1/gateway/usage"
    assert httpx.delete(usage).status_code == 401
    assert httpx.delete(usage, headers={"Authorization": "Bearer nope"}).status_code == 401
    with structlog.testing.capture_logs() as logs:
        reply = httpx.delete(usage, headers={"Authorization": "Bearer sk-only"})
    assert reply.status_code == 200
    [entry] = [e for e in logs if e.get("audit")]
    assert entry["action"] == "usage.reset" and entry["actor"].startswith("key_")
    assert "sk-only" not in str(entry)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "rpm": 0}, "rpm"),
        ({"name": "x", "team": "nobody"}, "team"),
        ({"name": "x", "profiles": ["gold"]}, "profiles"),
        ({"name": "x", "budget": {"daily_usd": "lots"}}, "budget.daily_usd"),
        ({"name": "x", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"rpm": 3}, "name"),
        ([1, 2], None),
    ],
)
def test_bad_key_specs_are_400(gateway: Any, body: Any, param: str | None) -> None:
    reply = keys(gateway, "POST", body=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert (
        httpx.post(gateway.url + "/v1/gateway/keys", content=b"{", headers=AS_ADMIN).status_code
        == 400
    )


def test_create_use_patch_and_revoke(gateway: Any, fake_upstream: FakeUpstream) -> None:
    created = keys(gateway, "POST", body={"name": "bot", "team": "ops", "rpm": 5})
    assert created.status_code == 201
    body = created.json()
    secret, key_id = body["secret"], body["id"]
    assert secret.startswith("sk-gw-") and key_id.startswith("rk_")
    reply = chat(gateway, secret)
    assert reply.status_code == 200
    assert reply.headers["x-ratelimit-limit-requests"] == "5"

    listing = keys(gateway, "GET").json()["data"]
    assert {row["id"] for row in listing} >= {key_id, "cfg"}
    text = orjson.dumps(listing).decode()
    assert secret not in text and "sk-cfg" not in text and "digest" not in text
    one = keys(gateway, "GET", f"/{key_id}").json()
    assert one["team"] == "ops" and one["status"]["key"]["usage"]["requests_this_minute"] == 1
    assert one["status"]["team"]["usage"] == {
        "requests_this_minute": 1,
        "tokens_this_minute": 0,
        "in_flight_here": 0,
        "rpm": 1000,
        "tpm": None,
        "max_parallel": None,
    }

    patched = keys(gateway, "PATCH", f"/{key_id}", body={"rpm": 50, "budget": {"daily_usd": 2}})
    assert patched.status_code == 200
    assert patched.json()["limits"]["rpm"] == 50
    assert patched.json()["status"]["key"]["spend"]["daily_budget_usd"] == 2
    assert chat(gateway, secret).headers["x-ratelimit-limit-requests"] == "50"

    # null removes a limit; the key then answers without rate-limit headers of its own
    # (its team's rpm still shows).
    lifted = keys(gateway, "PATCH", f"/{key_id}", body={"rpm": None})
    assert lifted.json()["limits"]["rpm"] is None
    assert chat(gateway, secret).headers["x-ratelimit-limit-requests"] == "1000"

    # An expiry is a moment: a wall-clock time without its zone is refused, as at creation.
    naive = keys(gateway, "PATCH", f"/{key_id}", body={"expires_at": "2030-01-01T00:00:00"})
    assert naive.status_code == 400 and naive.json()["error"]["param"] == "expires_at"
    zoned = keys(gateway, "PATCH", f"/{key_id}", body={"expires_at": "2030-01-01T00:00:00+02:00"})
    assert zoned.status_code == 200, zoned.text
    assert zoned.json()["expires_at"] == 1893448800.0  # 22:00 UTC the day before
    assert keys(gateway, "PATCH", "/cfg", body={"rpm": 1}).status_code == 400
    assert keys(gateway, "DELETE", "/cfg").status_code == 400
    assert keys(gateway, "DELETE", f"/{key_id}").status_code == 200
    hits = len(fake_upstream.hits())
    refused = chat(gateway, secret)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert len(fake_upstream.hits()) == hits  # a revoked key reaches no upstream
    assert keys(gateway, "DELETE", f"/{key_id}").status_code == 404
    assert keys(gateway, "GET", "/rk_nope").status_code == 404


def gateway_cli(gw: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "--url", gw.url, "--admin-key", ADMIN, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


def test_cli_create_list_revoke(gateway: Any) -> None:
    made = gateway_cli(gateway, "create", "--name", "cli-bot", "--rpm", "7", "--daily-usd", "3")
    assert made.returncode == 0, made.stderr
    created = orjson.loads(made.stdout)
    assert created["limits"]["rpm"] == 7 and created["limits"]["budget"]["daily_usd"] == 3
    assert chat(gateway, created["secret"]).status_code == 200
    listed = gateway_cli(gateway, "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [row for row in listed.stdout.splitlines() if row.startswith(created["id"])]
    assert "cli-bot" in line and "/ 3" in line
    assert created["secret"] not in listed.stdout
    revoked = gateway_cli(gateway, "revoke", created["id"])
    assert revoked.returncode == 0 and created["id"] in revoked.stdout
    assert chat(gateway, created["secret"]).status_code == 401
    missing = gateway_cli(gateway, "revoke", created["id"])
    assert missing.returncode != 0 and "404" in missing.stderr
