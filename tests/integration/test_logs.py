"""Request logs and secrets: one JSON line per request with the documented fields;
no key and no prompt text in the logs or in ``/metrics`` unless content logging is on."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error
from tests.support.gateway_process import GatewayProcess

INBOUND_KEY = "gw-inbound-key-7f3a9c"
UPSTREAM_KEY = "sk-upstream-secret-b81d2e"
PROMPT = "the zebra-42 secret prompt"
MESSAGES = [{"role": "user", "content": PROMPT}]
FIELDS = {
    "request_id",
    "route",
    "profile",
    "attempts",
    "provider",
    "model",
    "status",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_pico_usd",
}


def start(fake: FakeUpstream, factory: GatewayFactory, **extra: Any) -> GatewayProcess:
    config = upstream_config(fake.base_url, ["m1", "m2"], **extra)
    config["models"]["m2"]["price"] = {"input": 1.0, "output": 2.0}
    return factory(config, env={"GATEWAY_API_KEYS": INBOUND_KEY, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY})


def request_lines(gw: GatewayProcess, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in gw.log_lines() if line.get("event") == "request"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def traffic(gw: GatewayProcess) -> dict[str, str]:
    """Sends five requests; returns each one's ``x-request-id`` by what it was."""
    sdk = openai.OpenAI(base_url=gw.base_url, api_key=INBOUND_KEY, max_retries=0)
    ids: dict[str, str] = {}
    # m1 fails, m2 answers: a fallback, with the prompt echoed back in the reply.
    raw = sdk.chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, extra_headers={"x-request-id": "client-req-1"}
    )
    assert PROMPT in (raw.parse().choices[0].message.content or "")
    ids["fallback"] = raw.headers["x-request-id"]
    assert ids["fallback"] == "client-req-1"
    raw_stream = sdk.chat.completions.with_raw_response.create(
        model="m2", messages=MESSAGES, stream=True
    )
    ids["stream"] = raw_stream.headers["x-request-id"]
    assert "".join(c.choices[0].delta.content or "" for c in raw_stream.parse() if c.choices)
    bad = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": MESSAGES},
        headers={"Authorization": "Bearer wrong-key-not-logged"},
        timeout=5,
    )
    assert bad.status_code == 401
    ids["unauthorized"] = bad.headers["x-request-id"]
    missing = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "nope", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {INBOUND_KEY}"},
        timeout=5,
    )
    assert missing.status_code == 404
    ids["unknown"] = missing.headers["x-request-id"]
    direct = sdk.chat.completions.with_raw_response.create(model="fake/m2", messages=MESSAGES)
    ids["direct"] = direct.headers["x-request-id"]
    return ids


def test_one_line_per_request_without_secrets(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", error(500, "boom"))
    gw = start(fake_upstream, gateway_factory)
    ids = traffic(gw)
    lines = request_lines(gw, len(ids))
    metrics = httpx.get(gw.url + "/metrics", timeout=5).text

    assert len(lines) == len(ids)
    by_id = {line["request_id"]: line for line in lines}
    assert set(by_id) == set(ids.values())
    for line in lines:
        assert FIELDS <= set(line), FIELDS - set(line)
        assert line["level"] == "info" and "timestamp" in line

    fallback = by_id[ids["fallback"]]
    assert fallback["client_request_id"] == "client-req-1"
    assert fallback["route"] == "chat" and fallback["profile"] is None
    assert [(a["model"], a["outcome"]) for a in fallback["attempts"]] == [
        ("m1", "upstream_5xx"),
        ("m2", "success"),
    ]
    assert fallback["provider"] == "fake" and fallback["model"] == "m2"
    assert fallback["status"] == 200 and fallback["latency_ms"] > 0
    assert (fallback["input_tokens"], fallback["output_tokens"]) == (11, 7)
    assert fallback["cached_tokens"] == 3
    assert fallback["cost_usd"] == pytest.approx(25e-6)
    assert fallback["cost_pico_usd"] == (11 * 1 + 7 * 2) * 10**6
    assert fallback["ttft_ms"] is None

    stream = by_id[ids["stream"]]
    assert stream["stream"] is True and stream["ttft_ms"] > 0
    assert stream["output_tokens"] == 7 and "client_request_id" not in stream
    assert by_id[ids["unauthorized"]]["status"] == 401
    assert by_id[ids["unauthorized"]]["route"] is None
    assert by_id[ids["unknown"]]["status"] == 404
    assert by_id[ids["unknown"]]["error_type"] == "model_not_found"
    assert by_id[ids["direct"]]["route"] == "fake/m2"

    everything = gw.logs() + metrics
    for secret in (INBOUND_KEY, UPSTREAM_KEY, "wrong-key-not-logged", "zebra-42"):
        assert secret not in everything, secret
    assert "gateway_requests_total" in metrics


def test_include_content_logs_messages_and_reply(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = start(fake_upstream, gateway_factory, logging={"include_content": True})
    sdk = openai.OpenAI(base_url=gw.base_url, api_key=INBOUND_KEY, max_retries=0)
    sdk.chat.completions.create(model="chat", messages=MESSAGES)
    [line] = request_lines(gw, 1)
    assert line["messages"] == MESSAGES
    assert line["reply"] == [f"echo: {PROMPT}"]
    logs = gw.logs()
    assert INBOUND_KEY not in logs and UPSTREAM_KEY not in logs
    assert "zebra-42" not in httpx.get(gw.url + "/metrics", timeout=5).text
