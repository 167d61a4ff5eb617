"""The gateway app served in-process by uvicorn on an ephemeral port, in a thread.

Faster than a ``gateway serve`` subprocess and it still speaks real HTTP over a real
socket. ``records`` holds every finished request's ``RequestRecord`` (through the
gateway's own observer hook), so a test can wait until a request is really over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
import yaml

from gateway.app import create_app
from gateway.config.loader import load_config_text
from gateway.observability.record import RequestRecord
from gateway.runtime import Gateway
from tests.support.fake_upstream import free_port


class RecordingObserver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done: list[RequestRecord] = []

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        with self._lock:
            self.done.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.done)


class InProcessGateway:
    def __init__(self, config: dict[str, Any]) -> None:
        parsed = load_config_text(yaml.safe_dump(config, sort_keys=False), "<test>")
        self.app = create_app(parsed)
        self.gateway: Gateway = self.app.state.gateway
        self.observer = RecordingObserver()
        self.gateway.observers.append(self.observer)
        self.port = free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                loop="asyncio",
                http="httptools",
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self, timeout: float = 10.0) -> InProcessGateway:
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("in-process gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def records(self) -> list[RequestRecord]:
        return self.observer.records()

    def wait_for_records(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Poll until ``count`` requests have finished (the plan and relay are over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.records()
            if len(done) >= count:
                return done
            time.sleep(0.01)
        raise AssertionError(f"expected {count} finished requests, got {len(self.records())}")


InProcessFactory = Callable[[dict[str, Any]], InProcessGateway]


@pytest.fixture
def inprocess_gateway() -> Iterator[InProcessFactory]:
    started: list[InProcessGateway] = []

    def start(config: dict[str, Any]) -> InProcessGateway:
        gw = InProcessGateway(config)
        started.append(gw)
        return gw.start()

    yield start
    for gw in started:
        gw.stop()
