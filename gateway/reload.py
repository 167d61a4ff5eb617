"""Hot reload: SIGHUP or ``POST /v1/gateway/reload`` swaps in a new config snapshot.

The new file is validated first; an invalid one is logged (and returned by the
endpoint) and the running snapshot stays. A valid one becomes ``gateway.snapshot``
for new requests, while requests in flight finish on the snapshot they started
with: each holds a lease on it, and the old snapshot's providers are closed only
when its last lease is released. Providers whose section did not change are reused.

With ``--workers N`` every worker is its own process with its own snapshot. The
CLI runs uvicorn's supervisor with SIGHUP forwarded to every worker (uvicorn would
otherwise restart them all), and a worker that took ``POST /v1/gateway/reload``
signals the supervisor, so the reload reaches its siblings too. A worker that gets
the same file twice keeps its snapshot (the file's digest is unchanged).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from gateway.api.admin import error_response, json_response
from gateway.config.loader import (
    ConfigError,
    config_digest,
    load_config_text,
    read_config_file,
)
from gateway.errors import GatewayError, InvalidRequest
from gateway.governance.audit import audit
from gateway.runtime import Gateway, Snapshot, build_snapshot

log = structlog.get_logger("gateway.reload")

SUPERVISOR_ENV = "GATEWAY_SUPERVISOR_PID"
# A request still running this long after a reload no longer holds up the old
# providers' shutdown (longer than any sensible upstream timeout).
RETIRE_GRACE_S = 900.0


@dataclass(frozen=True, slots=True)
class ReloadResult:
    changed: bool
    generation: int
    digest: str


class Reloader:
    def __init__(
        self,
        gateway: Gateway,
        config_path: str | None,
        profile: str | None,
        digest: str | None = None,
    ) -> None:
        """``digest``: of the text the running config was built from; without it the
        file is read now, and an edit made since the config was loaded looks unchanged."""
        self.gateway = gateway
        self.path = config_path
        self.profile = profile
        self.generation = 0
        self.loaded_at = time.time()
        if digest is None:
            digest = config_digest(read_config_file(config_path)) if config_path else ""
        self.digest = digest
        supervisor = os.environ.get(SUPERVISOR_ENV)
        self.supervisor_pid = int(supervisor) if supervisor and supervisor.isdigit() else None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retired: list[Snapshot] = []

    def install(self) -> None:
        """Reload on SIGHUP (call from the running event loop, main thread)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (ValueError, RuntimeError, NotImplementedError):
            log.info("SIGHUP reload unavailable here (not the main thread)")

    def _on_sighup(self) -> None:
        self._spawn(self.reload_logged())

    async def reload_logged(self) -> None:
        try:
            await self.reload()
        except ConfigError as exc:
            log.error("config reload rejected", source=exc.source, problems=exc.problems)
        except Exception:
            log.exception("config reload failed; the running config stays")

    async def reload(self) -> ReloadResult:
        """Load, validate and swap in the config file; raises ``ConfigError`` when invalid."""
        if self.path is None:
            raise ConfigError("(none)", ["(file): the gateway was started without a config file"])
        async with self._lock:
            path = self.path
            text = await asyncio.to_thread(read_config_file, path)
            digest = config_digest(text)
            if digest == self.digest:
                return ReloadResult(False, self.generation, digest)
            config = await asyncio.to_thread(load_config_text, text, path)
            gateway = self.gateway
            old = gateway.snapshot
            if config.state != old.config.state:
                log.warning("the state section changes only on restart")
            snapshot = build_snapshot(config, gateway.state, self.profile, previous=old)
            gateway.swap(snapshot)
            self.generation += 1
            self.digest = digest
            self.loaded_at = time.time()
            self._spawn(self._retire(old))
            log.info(
                "config reloaded",
                generation=self.generation,
                routes=len(snapshot.table.routes),
                in_flight_on_old=old.leases.count,
            )
            return ReloadResult(True, self.generation, digest)

    async def _retire(self, old: Snapshot) -> None:
        self._retired.append(old)
        try:
            async with asyncio.timeout(RETIRE_GRACE_S):
                await old.leases.wait_idle()
        except TimeoutError:
            log.warning("closing a retired config with requests still running")
        finally:
            # Close what no live snapshot (current, or retired but busy) still uses.
            self._retired.remove(old)
            live = [self.gateway.snapshot, *self._retired]
            in_use = {id(p) for s in live for p in s.providers.values()}
            for provider in old.providers.values():
                if id(provider) not in in_use:
                    await provider.aclose()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """At shutdown: stop waiting for retired snapshots and close their providers."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "digest": self.digest,
            "loaded_at": self.loaded_at,
            "worker_pid": os.getpid(),
        }

    async def post(self, request: Request) -> Response:
        gateway = self.gateway
        try:
            actor = gateway.authorize_admin(dict(request.scope["headers"]))
            result = await self.reload()
            audit(actor, "config.reload", "changed" if result.changed else "unchanged")
        except GatewayError as exc:
            return error_response(exc)
        except ConfigError as exc:
            audit(actor, "config.reload", "rejected")
            log.error("config reload rejected", source=exc.source, problems=exc.problems)
            return error_response(
                InvalidRequest(
                    "config reload rejected, the running config stays: " + "; ".join(exc.problems),
                    param="config",
                    code="invalid_config",
                )
            )
        if self.supervisor_pid is not None:
            os.kill(self.supervisor_pid, signal.SIGHUP)  # the supervisor tells every worker
        return json_response(
            {"status": "reloaded" if result.changed else "unchanged"} | self.status()
        )

    async def get(self, request: Request) -> Response:
        gateway = self.gateway
        try:
            actor = gateway.authorize_admin(dict(request.scope["headers"]))
        except GatewayError as exc:
            return error_response(exc)
        audit(actor, "config.read", "reload")
        return json_response(self.status())


class ForwardingSupervisor(Multiprocess):
    """uvicorn's worker supervisor, but SIGHUP reloads workers instead of restarting them."""

    def handle_term(self) -> None:
        # The workers keep the listener open for their drain; once they close their
        # copies, the supervisor's must not keep it accepting into a backlog nobody reads.
        for sock in self.sockets:
            sock.close()
        super().handle_term()

    def handle_int(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().handle_int()

    def handle_hup(self) -> None:
        for process in self.processes:
            if process.pid is not None and process.process.is_alive():
                os.kill(process.pid, signal.SIGHUP)


def run_server(config: uvicorn.Config) -> None:
    if config.workers <= 1:
        # Until the app installs its handler, a SIGHUP must not end the process.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise SystemExit(STARTUP_FAILURE)
        return
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    sock = config.bind_socket()
    ForwardingSupervisor(config, sockets=[sock]).run()
