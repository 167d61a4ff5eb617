"""Hot reload: SIGHUP and POST /v1/gateway/reload, validation first, in-flight safety,
and every worker under ``--workers N``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.gateway_process import GatewayProcess

MESSAGES = [{"role": "user", "content": "hi"}]


def ask(gw: GatewayProcess, route: str = "chat") -> httpx.Response:
    # A fresh connection each time, so that with several workers any of them may answer.
    with httpx.Client(timeout=10) as client:
        return client.post(
            gw.base_url + "/chat/completions", json={"model": route, "messages": MESSAGES}
        )


def served_by(gw: GatewayProcess, route: str = "chat") -> str:
    response = ask(gw, route)
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-model"]


def eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def config_for(upstream: FakeUpstream, member: str, **extra: Any) -> dict[str, Any]:
    return upstream_config(upstream.base_url, ["m1", "m2"], **extra) | {
        "routes": {"chat": {"pool": [member]}}
    }


INVALID = {"routes": {"chat": {"pool": ["gtp-4o"]}}}


def test_invalid_file_is_rejected_and_old_routes_keep_serving(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(config_for(fake_upstream, "m1"))
    assert served_by(gw) == "m1"
    gw.write_config(config_for(fake_upstream, "m1") | INVALID)

    response = httpx.post(gw.base_url + "/gateway/reload", timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert error["type"] == "invalid_request_error"
    assert "routes.chat.pool[0]: unknown model 'gtp-4o'" in error["message"]
    assert served_by(gw) == "m1"

    gw.signal(signal.SIGHUP)
    assert eventually(
        lambda: any(line.get("event") == "config reload rejected" for line in gw.log_lines()),
        5,
    ), gw.logs()
    assert gw.proc is not None and gw.proc.poll() is None
    assert served_by(gw) == "m1"
    status = httpx.get(gw.base_url + "/gateway/reload", timeout=10).json()
    assert status["generation"] == 0


def test_a_file_that_is_not_utf8_is_rejected_and_old_routes_keep_serving(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(config_for(fake_upstream, "m1"))
    assert served_by(gw) == "m1"
    gw.config_path.write_bytes(b"routes:\n  chat: \xff\xfe\n")

    response = httpx.post(gw.base_url + "/gateway/reload", timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert "not UTF-8" in error["message"]
    assert served_by(gw) == "m1"


def test_sighup_applies_a_valid_file(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(config_for(fake_upstream, "m1"))
    assert served_by(gw) == "m1"
    gw.write_config(config_for(fake_upstream, "m2"))
    gw.signal(signal.SIGHUP)
    assert eventually(lambda: served_by(gw) == "m2", 2.0)
    assert fake_upstream.order()[-1] == "m2"


def test_reload_endpoint_applies_a_valid_file(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(config_for(fake_upstream, "m1"))
    assert served_by(gw) == "m1"
    gw.write_config(config_for(fake_upstream, "m2"))
    response = httpx.post(gw.base_url + "/gateway/reload", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "reloaded"
    assert response.json()["generation"] == 1
    assert eventually(lambda: served_by(gw) == "m2", 2.0)
    again = httpx.post(gw.base_url + "/gateway/reload", timeout=10).json()
    assert again["status"] == "unchanged" and again["generation"] == 1


def test_reload_endpoint_needs_an_admin_key(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(
        config_for(fake_upstream, "m1"),
        env={"GATEWAY_API_KEYS": "user-key", "GATEWAY_ADMIN_KEYS": "admin-key"},
    )
    gw.write_config(config_for(fake_upstream, "m2"))
    url = gw.base_url + "/gateway/reload"
    denied = httpx.post(url, headers={"Authorization": "Bearer user-key"}, timeout=10)
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "authentication_error"
    allowed = httpx.post(url, headers={"Authorization": "Bearer admin-key"}, timeout=10)
    assert allowed.status_code == 200


def test_reload_applies_inbound_keys_from_the_file(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # Keys written in the file are part of the config and reload with it (only keys
    # from the environment need a restart): revoking a leaked key must not need one.
    def keyed(*file_keys: str) -> dict[str, Any]:
        return config_for(fake_upstream, "m1", server={"api_keys": list(file_keys)})

    gw = gateway_factory(keyed("old-key"), env={"GATEWAY_API_KEYS": "env-key"})

    def status(key: str) -> int:
        with httpx.Client(timeout=10) as client:
            return client.post(
                gw.base_url + "/chat/completions",
                json={"model": "chat", "messages": MESSAGES},
                headers={"Authorization": f"Bearer {key}"},
            ).status_code

    assert (status("old-key"), status("new-key"), status("env-key")) == (200, 401, 200)
    gw.write_config(keyed("new-key"))
    reload = httpx.post(
        gw.base_url + "/gateway/reload", headers={"Authorization": "Bearer env-key"}, timeout=10
    )
    assert reload.status_code == 200 and reload.json()["status"] == "reloaded"
    assert (status("old-key"), status("new-key"), status("env-key")) == (401, 200, 200)


def test_stream_in_flight_completes_across_a_reload(
    fake_upstream: FakeUpstream,
    second_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
) -> None:
    words = " ".join(f"w{i}" for i in range(8))
    fake_upstream.set("m1", ok(words, chunks=8, chunk_delay_s=0.25))
    gw = gateway_factory(config_for(fake_upstream, "m1"))
    received: list[bytes] = []
    first_chunk = threading.Event()
    failure: list[BaseException] = []

    def stream() -> None:
        try:
            body = {"model": "chat", "messages": MESSAGES, "stream": True}
            with httpx.stream(
                "POST", gw.base_url + "/chat/completions", json=body, timeout=20
            ) as response:
                for chunk in response.iter_bytes():
                    received.append(chunk)
                    first_chunk.set()
        except BaseException as exc:  # reported by the test thread below
            failure.append(exc)
            first_chunk.set()

    thread = threading.Thread(target=stream)
    thread.start()
    assert first_chunk.wait(10)
    # The new file moves the provider to another backend: the old provider's
    # connection must stay open until the stream above is done.
    gw.write_config(config_for(second_upstream, "m2"))
    reloaded = httpx.post(gw.base_url + "/gateway/reload", timeout=10)
    assert reloaded.status_code == 200 and reloaded.json()["status"] == "reloaded"
    assert served_by(gw) == "m2"
    assert [h.model for h in second_upstream.hits()] == ["m2"]
    thread.join(20)
    assert not thread.is_alive() and not failure
    text = b"".join(received).decode()
    assert text.rstrip().endswith("data: [DONE]")
    assert '"error"' not in text
    for i in range(8):
        assert f"w{i}" in text
    # The fake notes a stream complete after its last write, which the client may read first.
    assert eventually(lambda: fake_upstream.completed == ["m1"], 5), fake_upstream.completed


@pytest.mark.parametrize("trigger", ["sighup", "endpoint"])
def test_reload_reaches_every_worker(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, trigger: str
) -> None:
    gw = gateway_factory(config_for(fake_upstream, "m1"), workers=2)
    reload_url = gw.base_url + "/gateway/reload"

    def worker_status() -> dict[str, Any]:
        with httpx.Client(timeout=10) as client:
            status: dict[str, Any] = client.get(reload_url).json()
            return status

    # Both workers take connections (each builds its own snapshot).
    pids: dict[int, str] = {}

    def both_workers_seen() -> bool:
        status = worker_status()
        pids[status["worker_pid"]] = status["digest"]
        return len(pids) == 2

    assert eventually(both_workers_seen, 15), pids
    old_digest = next(iter(pids.values()))
    assert set(pids.values()) == {old_digest}

    gw.write_config(config_for(fake_upstream, "m2"))
    if trigger == "sighup":
        gw.signal(signal.SIGHUP)
    else:
        assert httpx.post(reload_url, timeout=10).status_code == 200

    new: dict[int, str] = {}

    def all_workers_new() -> bool:
        status = worker_status()
        if status["digest"] != old_digest:
            new[status["worker_pid"]] = status["digest"]
        return set(new) == set(pids)

    assert eventually(all_workers_new, 10), (pids, new)
    # The same processes, reloaded in place (not restarted), and every answer is new.
    assert gw.proc is not None and gw.proc.poll() is None
    assert [served_by(gw) for _ in range(30)] == ["m2"] * 30
