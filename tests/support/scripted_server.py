"""What the fake upstreams share: an aiohttp app on a real port in its own thread, and
behaviours scripted per model name (used in order, the last one repeating)."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from typing import Any, Generic, Self, TypeVar

from aiohttp import web

B = TypeVar("B")


class ScriptedServer(Generic[B]):
    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._behaviors: dict[str, list[B]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.scheme = "http"

    # -- what each fake supplies --------------------------------------------
    def default_behavior(self) -> B:
        raise NotImplementedError

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def app_options(self) -> dict[str, Any]:
        return {}

    # -- scripting ---------------------------------------------------------
    def set(self, model: str, *behaviors: B) -> None:
        """Behaviours for ``model``, used in order; the last one repeats."""
        with self._lock:
            self._behaviors[model] = list(behaviors) or [self.default_behavior()]

    def _next(self, model: str) -> B:
        with self._lock:
            queue = self._behaviors.get(model)
            if not queue:
                return self.default_behavior()
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return bool(predicate())

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    # -- server ------------------------------------------------------------
    def start(self, tls: ssl.SSLContext | None = None) -> Self:
        from tests.support.fake_upstream import free_port

        ready = threading.Event()
        self.port = free_port()
        self.scheme = "https" if tls is not None else "http"

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application(**self.app_options())
            self.add_routes(app)
            runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(
                web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=tls).start()
            )
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
