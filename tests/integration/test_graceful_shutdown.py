"""SIGTERM: /readyz flips at once, the listener drains, streams finish, counters are
flushed, exit 0; with one process and with ``--workers 2``."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.gateway_process import GatewayProcess
from tests.support.usage import redis_usage_totals

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten"}]


def _config(upstream: FakeUpstream, redis_url: str, prefix: str, **server: Any) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1"])
    config["providers"]["fake"]["timeout_s"] = 30
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": prefix}
    config["server"] = server
    return config


class StreamReader(threading.Thread):
    """Reads one streamed completion; ``started`` is set at its first event."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.started = threading.Event()
        self.events: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        body = {"model": "chat", "messages": MESSAGES, "stream": True}
        try:
            with httpx.stream("POST", self.url, json=body, timeout=30) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[6:])
                        self.started.set()
        except BaseException as exc:  # reported by the test
            self.error = exc


def _poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def _readyz(gateway: GatewayProcess) -> httpx.Response | None:
    try:
        return httpx.get(gateway.url + "/readyz", timeout=1)
    except httpx.HTTPError:
        return None


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_finishes_the_stream_flushes_and_exits_0(
    workers: int,
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    # The stream takes about 3 s; the drain is 1 s, the grace 15 s.
    fake_upstream.set("m1", ok(chunks=12, chunk_delay_s=0.25))
    config = _config(fake_upstream, redis_url, shared_prefix, drain_s=1.0, shutdown_grace_s=15)
    gateway = gateway_factory(config, workers=workers)
    assert gateway.proc is not None
    assert httpx.get(gateway.url + "/readyz").json() == {"status": "ok", "state": "redis"}

    reader = StreamReader(gateway.base_url + "/chat/completions")
    reader.start()
    assert reader.started.wait(10), reader.error
    gateway.signal(signal.SIGTERM)
    signalled = time.monotonic()

    # 1. /readyz flips at once (the supervisor of --workers passes signals on twice a second).
    draining = _poll(
        lambda: (r := _readyz(gateway)) is not None and r.status_code == 503 and r,
        1.0,
        "/readyz says draining",
    )
    assert draining.json() == {"status": "draining", "state": "redis"}
    assert time.monotonic() - signalled < 1.0
    # 2. During the drain a request that still comes is served.
    late = httpx.post(
        gateway.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
    )
    assert late.status_code == 200
    # 3. After the drain no connection is accepted, while the stream still runs.
    _poll(lambda: _refused(gateway.port), 3.0, "the listener closes after drain_s")
    assert reader.is_alive(), "the stream ended before the listener closed"

    reader.join(20)
    assert reader.error is None, reader.error
    assert reader.events[-1] == "[DONE]"
    assert not any('"error"' in event for event in reader.events)
    text = "".join(
        choice["delta"].get("content") or ""
        for event in reader.events[:-1]
        for choice in json.loads(event)["choices"]
    )
    assert text == "echo: " + MESSAGES[0]["content"]

    assert gateway.proc.wait(20) == 0, gateway.logs()
    # 5. The counters were flushed on the way out: both requests, the stream's usage.
    totals = redis_usage_totals(redis_url, shared_prefix)
    assert totals["requests"] == 2
    assert totals["input_tokens"] == 2 * 11 and totals["output_tokens"] == 2 * 7
    assert "Traceback" not in gateway.logs()


def test_after_the_grace_a_stream_ends_with_the_error_event_and_a_wait_gets_a_503(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    fake_upstream.set("m1", ok(chunks=10, chunk_delay_s=2.0))  # about 20 s
    fake_upstream.set("m2", ok(delay_s=20))  # no answer for 20 s
    config = _config(fake_upstream, redis_url, shared_prefix, drain_s=0, shutdown_grace_s=1.0)
    config["models"]["m2"] = {"provider": "fake"}
    config["routes"]["slow"] = {"pool": ["m2"]}
    gateway = gateway_factory(config)  # the cut is per worker: one shows it
    assert gateway.proc is not None
    reader = StreamReader(gateway.base_url + "/chat/completions")
    reader.start()
    waiting: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: waiting.append(
            httpx.post(
                gateway.base_url + "/chat/completions",
                json={"model": "slow", "messages": MESSAGES},
                timeout=30,
            )
        ),
        daemon=True,
    )
    waiter.start()
    assert reader.started.wait(10), reader.error
    assert fake_upstream.wait_for(lambda: fake_upstream.hits("m2"), 10)
    gateway.signal(signal.SIGTERM)
    signalled = time.monotonic()
    reader.join(10)
    waiter.join(10)
    assert not reader.is_alive() and not waiter.is_alive()
    assert reader.error is None, reader.error
    assert reader.events[-1] == "[DONE]"
    assert '"code":"server_shutting_down"' in reader.events[-2]
    [answer] = waiting
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "server_shutting_down"
    assert gateway.proc.wait(10) == 0, gateway.logs()
    assert time.monotonic() - signalled < 6.0
    assert redis_usage_totals(redis_url, shared_prefix)["requests"] == 2
