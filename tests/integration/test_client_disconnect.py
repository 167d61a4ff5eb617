"""A client that goes away ends the plan and closes the upstream connection."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import Behavior, FakeUpstream, hang, ok
from tests.support.gateway_process import GatewayProcess

BODY = {"model": "chat", "messages": [{"role": "user", "content": "tell me a long story"}]}


def config(base_url: str) -> dict[str, Any]:
    cfg = upstream_config(base_url, ["m1", "m2"], resilience={"ttft_timeout_s": 60})
    # Long upstream timeouts: only the client's departure can end these requests early.
    cfg["providers"]["fake"]["timeout_s"] = 120
    return cfg


def wait_for_log(gw: GatewayProcess, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in gw.log_lines():
            if line.get("request_id") == request_id:
                return line
        time.sleep(0.02)
    raise AssertionError(f"no log line for {request_id}:\n{gw.logs()}")


def test_disconnect_mid_stream_closes_upstream(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    fake_upstream.set("m1", Behavior(kind="ok", reply=words, chunks=200, chunk_delay_s=0.05))
    gw = gateway_factory(config(fake_upstream.base_url))
    received = b""
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            gw.base_url + "/chat/completions",
            json={**BODY, "stream": True},
            headers={"x-request-id": "req-disconnect-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
            if received.count(b"data: ") >= 2:
                break
    assert b"w0" in received
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects, timeout=5)
    assert "m1" not in fake_upstream.completed
    # The plan ended: no fallback to m2 after the client left.
    assert fake_upstream.order() == ["m1"]
    line = wait_for_log(gw, "req-disconnect-stream")
    assert line["status"] == 499
    assert line["error_type"] == "client_disconnect"


def test_client_timeout_on_hanging_upstream_closes_it(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", hang(30))
    gw = gateway_factory(config(fake_upstream.base_url))
    with httpx.Client(timeout=httpx.Timeout(10, read=2.0)) as http:
        try:
            http.post(
                gw.base_url + "/chat/completions",
                json=BODY,
                headers={"x-request-id": "req-disconnect-hang"},
            )
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("the hanging upstream answered")
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects, timeout=5)
    assert fake_upstream.order() == ["m1"]
    line = wait_for_log(gw, "req-disconnect-hang")
    assert line["status"] == 499


def test_client_gives_up_before_first_byte_of_a_stream(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", hang(30))
    gw = gateway_factory(config(fake_upstream.base_url))
    with httpx.Client(timeout=httpx.Timeout(10, read=2.0)) as http:
        try:
            with http.stream(
                "POST", gw.base_url + "/chat/completions", json={**BODY, "stream": True}
            ) as response:
                response.read()
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("the hanging upstream answered")
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects, timeout=5)
    assert fake_upstream.order() == ["m1"]


def test_gateway_keeps_serving_after_disconnects(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", Behavior(kind="ok", reply="a b c d e f", chunks=6, chunk_delay_s=0.2))
    gw = gateway_factory(config(fake_upstream.base_url))
    with httpx.Client(timeout=10) as http:
        for i in range(3):
            with http.stream(
                "POST", gw.base_url + "/chat/completions", json={**BODY, "stream": True}
            ) as response:
                next(response.iter_raw())
            expected = i + 1
            assert fake_upstream.wait_for(
                lambda n=expected: len(fake_upstream.disconnects) >= n, timeout=5
            )
        # The member was not parked by the client's departures.
        fake_upstream.set("m1", ok("still here"))
        answer = http.post(gw.base_url + "/chat/completions", json=BODY)
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"] == "still here"
        assert answer.headers["x-gateway-model"] == "m1"
