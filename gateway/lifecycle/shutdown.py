"""Graceful shutdown on SIGTERM or SIGINT.

In order:
1. ``/readyz`` answers 503 ``draining`` at once;
2. the listener stays open for ``server.drain_s``, so a load balancer has time to
   notice and stop sending; requests that still come are served;
3. then no new connection is accepted, and requests and streams in flight have
   ``server.shutdown_grace_s`` to finish;
4. streams still open after that end with the OpenAI error event and ``[DONE]``;
   a second later uvicorn cancels what is left, and a request not yet answered gets
   a 503 ``server_shutting_down`` (``gateway.pipeline.endpoint``);
5. the app's shutdown flushes usage counters and parks (``Gateway.aclose``);
6. the process exits 0.

uvicorn handles the signals itself: it would stop listening at once, and re-raise
the signal after its shutdown (an exit status of 143). Once the loop runs, the app
takes the two signals over and tells uvicorn's server to stop only after the drain,
so the sequence is the same for one process and for each of ``--workers N``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

from gateway.runtime import Gateway

log = structlog.get_logger("gateway.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulShutdown:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._stop_server: Callable[[bool], None] | None = None
        self._signalled: int | None = None
        self._timers: list[asyncio.TimerHandle] = []

    def install(self) -> None:
        """Take over SIGTERM and SIGINT (from the running loop, in the main thread)."""
        server = _uvicorn_server(signal.getsignal(signal.SIGTERM))
        if server is None:
            return  # not under `gateway serve` (an embedding app, a test): its own rules
        try:
            loop = asyncio.get_running_loop()
            for sig in SIGNALS:
                loop.add_signal_handler(sig, self.begin, sig)
        except (ValueError, RuntimeError, NotImplementedError):
            log.info("graceful shutdown on signals unavailable here (not the main thread)")
            return

        def stop(force: bool) -> None:
            server.should_exit = True
            server.force_exit = server.force_exit or force

        self._stop_server = stop

    def begin(self, sig: int = signal.SIGTERM) -> None:
        if self._signalled is not None:
            if sig == signal.SIGINT and self._signalled == signal.SIGINT:
                log.warning("second interrupt: stopping without waiting")
                self._stop(force=True)
            return
        self._signalled = sig
        gateway = self.gateway
        gateway.draining = True
        server = gateway.snapshot.config.server
        log.info(
            "shutting down",
            signal=signal.Signals(sig).name,
            drain_s=server.drain_s,
            grace_s=server.shutdown_grace_s,
        )
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(server.drain_s, self._stop_accepting))

    def _stop_accepting(self) -> None:
        grace_s = self.gateway.snapshot.config.server.shutdown_grace_s
        log.info("no longer accepting connections", open_streams=len(self.gateway.streams))
        self._stop(force=False)
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(grace_s, self._grace_over))

    def _grace_over(self) -> None:
        cut = self.gateway.streams.cut_all()
        if cut:
            log.warning("shutdown grace over: ending open streams", streams=cut)

    def _stop(self, *, force: bool) -> None:
        if self._stop_server is not None:
            self._stop_server(force)

    def aclose(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


def _uvicorn_server(handler: Any) -> uvicorn.Server | None:
    """The server whose ``handle_exit`` is the installed signal handler, if any."""
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, uvicorn.Server) else None
