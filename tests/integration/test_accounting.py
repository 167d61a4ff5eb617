"""Usage and cost accounting across two replicas: the usage API adds up exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.api.auth import key_id
from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error, ok

MESSAGES = [{"role": "user", "content": "count me"}]
# USD per 1M tokens, so tokens × price is micro-USD.
PRICE_M1 = {"input": 2.0, "output": 8.0, "cached_input": 0.5}
PRICE_M2 = {"input": 1.0, "output": 4.0, "cached_input": 0.25}
USAGE_M1 = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "prompt_tokens_details": {"cached_tokens": 400},
}
USAGE_M2 = {
    "prompt_tokens": 2000,
    "completion_tokens": 500,
    "total_tokens": 2500,
    "prompt_tokens_details": {"cached_tokens": 1000},
}
COST_M1 = 600 * 2.0 + 400 * 0.5 + 200 * 8.0  # 3,000 micro-USD
COST_M2 = 1000 * 1.0 + 1000 * 0.25 + 500 * 4.0  # 3,250 micro-USD


def accounting_config(upstream: FakeUpstream, redis_url: str, prefix: str) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2"])
    config["models"]["m1"]["price"] = PRICE_M1
    config["models"]["m2"]["price"] = PRICE_M2
    config["routes"] = {"chat": {"pool": ["m1"]}, "summarize": {"pool": ["m2"]}}
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": prefix}
    config["server"] = {"api_keys": ["key-a", "key-b"]}
    return config


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0)


def stream(client: openai.OpenAI, route: str, include_usage: bool) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(model=route, messages=MESSAGES, stream=True, **options)
    )
    with_usage = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(with_usage) == 1 and with_usage[0].choices == []
    else:
        assert with_usage == [], "a client that did not ask saw a usage chunk"
        assert all(c.choices for c in chunks)


def read_usage(url: str, key: str, **params: str) -> dict[str, Any]:
    response = httpx.get(
        url + "/v1/gateway/usage", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_usage_and_cost_add_up_across_replicas(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
    tmp_path: Path,
) -> None:
    config = accounting_config(fake_upstream, redis_url, shared_prefix)
    a = gateway_factory(config)
    b = gateway_factory(config)
    fake_upstream.set(
        "m1", error(400, "bad request", type_="invalid_request_error"), ok(usage=USAGE_M1)
    )
    fake_upstream.set("m2", ok(usage=USAGE_M2))
    on_a, on_b = sdk(a.base_url, "key-a"), sdk(b.base_url, "key-b")

    with pytest.raises(openai.BadRequestError):  # counted as a request and an error
        on_a.chat.completions.create(model="chat", messages=MESSAGES)
    for _ in range(3):
        raw = on_a.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
        assert raw.headers["x-gateway-cost-usd"] == f"{COST_M1 / 1e6:.6f}"
    for _ in range(2):
        stream(on_a, "summarize", include_usage=True)
    for _ in range(2):
        on_b.chat.completions.create(model="summarize", messages=MESSAGES)
    for _ in range(3):
        stream(on_b, "chat", include_usage=False)

    expected_rows = [  # highest cost first
        {
            "route": "chat",
            "model": "m1",
            "requests": 7,
            "errors": 1,
            "input_tokens": 6 * 1000,
            "output_tokens": 6 * 200,
            "cached_tokens": 6 * 400,
            "cost_micro_usd": round(6 * COST_M1),
            "cost_usd": round(6 * COST_M1) / 1e6,
            "saved_cost_micro_usd": 0,
            "saved_cost_usd": 0.0,
        },
        {
            "route": "summarize",
            "model": "m2",
            "requests": 4,
            "errors": 0,
            "input_tokens": 4 * 2000,
            "output_tokens": 4 * 500,
            "cached_tokens": 4 * 1000,
            "cost_micro_usd": round(4 * COST_M2),
            "cost_usd": round(4 * COST_M2) / 1e6,
            "saved_cost_micro_usd": 0,
            "saved_cost_usd": 0.0,
        },
    ]
    # B has flushed its own counters before answering; A's arrive within its flush period.
    deadline = time.monotonic() + 5
    while True:
        report = read_usage(b.url, "key-b", window="day", last="2", group_by="route,model")
        if report["totals"]["requests"] == 11 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert report["data"] == expected_rows
    assert report["totals"]["cost_micro_usd"] == round(6 * COST_M1 + 4 * COST_M2)

    # Any replica answers for all; by inbound key.
    by_key = read_usage(a.url, "key-a", window="minute", last="10", group_by="api_key")
    assert {r["api_key"]: r["requests"] for r in by_key["data"]} == {
        key_id("key-a"): 6,
        key_id("key-b"): 5,
    }

    # The CLI reads the same counters straight from Redis.
    config_file = tmp_path / "usage.yaml"
    config_file.write_text(json.dumps(config))
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "usage",
            "--config",
            str(config_file),
            "--window",
            "day",
            "--last",
            "2",
            "--group-by",
            "route,model",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["data"] == expected_rows

    # DELETE resets for every replica.
    reset = httpx.delete(a.url + "/v1/gateway/usage", headers={"Authorization": "Bearer key-a"})
    assert reset.status_code == 200
    assert read_usage(b.url, "key-b", window="day", last="2")["totals"]["requests"] == 0


def test_usage_api_checks_its_input_and_keys(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["server"] = {"api_keys": ["key-a"]}
    gw = gateway_factory(config)
    url = gw.url + "/v1/gateway/usage"
    auth = {"Authorization": "Bearer key-a"}
    assert httpx.get(url).status_code == 401
    assert httpx.delete(url).status_code == 401
    bad = httpx.get(url, params={"group_by": "route,user"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    assert httpx.get(url, params={"window": "hour"}, headers=auth).status_code == 400
    assert (
        httpx.get(url, params={"window": "minute", "last": "999"}, headers=auth).status_code == 400
    )
    # The memory backend counts in process, with the same API.
    sdk(gw.base_url, "key-a").chat.completions.create(model="chat", messages=MESSAGES)
    # Requests rejected before routing are not counted.
    with pytest.raises(openai.NotFoundError):
        sdk(gw.base_url, "key-a").chat.completions.create(model="nope", messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        sdk(gw.base_url, "wrong").chat.completions.create(model="chat", messages=MESSAGES)
    report = read_usage(gw.url, "key-a", window="minute", last="2", group_by="model")
    assert report["state"] == "memory"
    assert report["data"][0]["model"] == "m1" and report["data"][0]["requests"] == 1
    assert report["totals"]["input_tokens"] == 11
    # The reset answers JSON, labelled as such, and the counters start over.
    reset = httpx.delete(url, headers=auth)
    assert reset.status_code == 200
    assert reset.headers["content-type"] == "application/json"
    assert reset.json() == {"object": "gateway.usage", "reset": True}
    assert read_usage(gw.url, "key-a", window="minute", last="2")["totals"]["requests"] == 0


def test_counters_pending_at_shutdown_are_flushed(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = accounting_config(fake_upstream, redis_url, shared_prefix)
    config.pop("server")
    fake_upstream.set("m1", ok(usage=USAGE_M1))
    gw = gateway_factory(config)
    client = sdk(gw.base_url, "any")
    for _ in range(5):
        client.chat.completions.create(model="chat", messages=MESSAGES)
    gw.stop()  # SIGTERM right away: the periodic flush may not have run yet
    cli = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "usage", "--config", str(gw.config_path),
         "--last", "2", "--group-by", "route"],
        capture_output=True, text=True, timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert lines[0].split() == [
        "ROUTE", "REQUESTS", "ERRORS", "INPUT_TOKENS", "OUTPUT_TOKENS", "CACHED_TOKENS",
        "COST_USD", "SAVED_USD",
    ]  # fmt: skip
    assert lines[1].split() == ["chat", "5", "0", "5000", "1000", "2000", "0.015000", "0.000000"]
    assert lines[2].split() == ["TOTAL", "5", "0", "5000", "1000", "2000", "0.015000", "0.000000"]


def test_usage_cli_asks_a_running_gateway_with_url(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["server"] = {"api_keys": ["key-a"]}
    gw = gateway_factory(config)
    for _ in range(2):
        sdk(gw.base_url, "key-a").chat.completions.create(model="chat", messages=MESSAGES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}

    def usage(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gateway.cli", "usage", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)

    asked = usage(
        "--url", gw.url, "--api-key", "key-a", "--last", "2", "--group-by", "model", "--json"
    )
    assert asked.returncode == 0, asked.stderr
    report = json.loads(asked.stdout)
    assert report["state"] == "memory"
    assert [(r["model"], r["requests"]) for r in report["data"]] == [("m1", 2)]
    # The memory backend's counters live in the gateway: without --url there is nothing to read.
    direct = usage("--config", str(gw.config_path))
    assert direct.returncode != 0 and "use --url" in direct.stderr
    refused = usage("--url", gw.url, "--api-key", "wrong")
    assert refused.returncode != 0 and "401" in refused.stderr
