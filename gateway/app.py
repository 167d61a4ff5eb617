"""Assembling the ASGI application from a config file and settings."""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.accounting.ledger import UsageLedger
from gateway.api.admin import AdminEndpoints, error_response
from gateway.api.cache import CacheEndpoints
from gateway.api.cooldowns import CooldownsEndpoint
from gateway.api.dispatch import ASGIApp, HotPathDispatcher
from gateway.api.usage import UsageEndpoints
from gateway.cache.stage import ResponseCacheStage
from gateway.config.loader import ConfigError, load_config_file
from gateway.config.schema import CacheStoreSection, GatewayConfig
from gateway.doors.chat import ChatDoor
from gateway.doors.embeddings import EmbeddingsDoor
from gateway.doors.messages import MessagesDoor
from gateway.doors.messages.count_tokens import CountTokensEndpoint
from gateway.doors.responses import ResponsesDoor, StoredResponseDoor
from gateway.doors.responses.stored import STORED_RESPONSE_CALLS
from gateway.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound
from gateway.governance.admin import KeysEndpoints
from gateway.governance.governor import Governor
from gateway.governance.stage import AdmissionStage
from gateway.lifecycle.config_watch import ConfigWatcher
from gateway.lifecycle.shutdown import GracefulShutdown
from gateway.observability.exposition import metrics_endpoint
from gateway.observability.logging import RequestLogger, configure_logging
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.record import RequestObserver
from gateway.observability.tracing.settings import tracing_settings
from gateway.pipeline.affinity import AffinityRecorder
from gateway.pipeline.door import Door
from gateway.pipeline.endpoint import DoorEndpoint
from gateway.pipeline.pipeline import RequestPipeline, Stage
from gateway.reload import Reloader
from gateway.resilience.health import HealthChecker
from gateway.routing.recorder import SignalRecorder
from gateway.runtime import Gateway, build_snapshot
from gateway.state.base import StateStore
from gateway.state.memory import MemoryStateStore

if TYPE_CHECKING:
    from gateway.observability.tracing.runtime import Tracing

log = structlog.get_logger("gateway")


@dataclass(frozen=True, slots=True)
class AppOptions:
    """What the CLI and environment decide on top of the config file."""

    config_path: str | None = None
    redis_url: str | None = None
    profile: str | None = None
    log_level: str | None = None
    # Of the text the given config was built from (see Reloader).
    config_digest: str | None = None
    api_keys: str | None = None
    admin_keys: str | None = None


def _keys(inline: str | None, env_name: str | None, listed: list[str]) -> frozenset[str]:
    raw = inline if inline is not None else (os.environ.get(env_name) if env_name else None)
    keys = {k.strip() for k in (raw or "").split(",") if k.strip()}
    return frozenset(keys | set(listed))


def build_state(config: GatewayConfig, options: AppOptions) -> StateStore:
    redis_url = options.redis_url or (
        config.state.redis_url if config.state.backend == "redis" else None
    )
    if redis_url:
        from gateway.state.redis import RedisStateStore

        return RedisStateStore(redis_url, config.state.key_prefix, cluster=config.state.cluster)
    return MemoryStateStore()


def build_tracing(config: GatewayConfig) -> Tracing | None:
    """The tracing stage, or None when off; OpenTelemetry is imported only when on."""
    settings = tracing_settings(
        config.tracing, os.environ, include_content=config.logging.include_content
    )
    if settings is None:
        return None
    try:
        from gateway.observability.tracing.runtime import Tracing
    except ImportError as exc:
        problem = (
            f"tracing: tracing is on but OpenTelemetry is missing ({exc.name}); "
            "install the extra: pip install 'llm-gateway[otel]'"
        )
        raise ConfigError("tracing", [problem]) from None
    return Tracing(settings)


def build_gateway(config: GatewayConfig, options: AppOptions) -> Gateway:
    state = build_state(config, options)
    profile = options.profile or os.environ.get("GATEWAY_PROFILE") or None
    server = config.server
    env_keys = _keys(options.api_keys, server.api_keys_env, [])
    governor = Governor(config, state, env_keys | frozenset(server.api_keys))
    tracing = build_tracing(config)
    make_runner = tracing.attempt_runner if tracing is not None else None
    snapshot = build_snapshot(
        config, state, profile, make_runner=make_runner, quotas=governor.provider_quotas
    )
    observers: list[RequestObserver] = [
        governor,
        RequestLogger(config.logging.include_content),
        GatewayMetrics(state, snapshot),
        UsageLedger(state),
        SignalRecorder(state.signals),
        AffinityRecorder(state, config.state.response_ttl_s),
    ]
    if tracing is not None:
        observers.append(tracing.requests)
    bounds = config.cache or CacheStoreSection(enabled=False)
    return Gateway(
        snapshot=snapshot,
        state=state,
        observers=observers,
        api_keys=env_keys | frozenset(server.api_keys),
        env_api_keys=env_keys,
        admin_keys=_keys(options.admin_keys, server.admin_keys_env, []),
        tracing=tracing,
        governor=governor,
        response_cache=state.response_cache(bounds.max_entries, bounds.max_bytes),
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"no such endpoint: {request.url.path}"))
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here"))
    error = GatewayError(str(exc.detail))
    error.status = exc.status_code
    return error_response(error)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(InvalidRequest(str(exc)))


def front_doors() -> dict[str, Door]:
    """Every wire format the gateway serves, by the path it is served on."""
    return {
        "/v1/chat/completions": ChatDoor(),
        "/v1/embeddings": EmbeddingsDoor(),
        "/v1/responses": ResponsesDoor(),
        "/v1/messages": MessagesDoor(),
    }


def resource_doors() -> dict[tuple[str, str], Door]:
    """Doors on a resource the path names, by method and path template."""
    return {key: StoredResponseDoor(op) for key, op in STORED_RESPONSE_CALLS.items()}


def create_app(
    config: GatewayConfig | None = None, options: AppOptions | None = None
) -> HotPathDispatcher:
    options = options or AppOptions()
    if config is None:
        path = options.config_path or os.environ.get("GATEWAY_CONFIG") or "config/demo.yaml"
        config, digest = load_config_file(path)
        options = dataclasses.replace(options, config_path=path, config_digest=digest)
    configure_logging(options.log_level or config.logging.level)
    gateway = build_gateway(config, options)
    profile = options.profile or os.environ.get("GATEWAY_PROFILE") or None
    reloader = Reloader(gateway, options.config_path, profile, options.config_digest)
    metrics = next(o for o in gateway.observers if isinstance(o, GatewayMetrics))
    health = HealthChecker(
        lambda: gateway.snapshot.health_scope(), gateway.state, metrics.count_health_check
    )
    shutdown = GracefulShutdown(gateway)
    watcher = ConfigWatcher(gateway, reloader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.state.start()
        health.start()
        await gateway.governor.start()
        if gateway.response_cache is not None:
            await gateway.response_cache.start()
        reloader.install()
        shutdown.install()
        watcher.start()
        # Config, route table and imports live for the whole process: moving them out
        # of the collector's reach keeps GC pauses (and so tail latency) short.
        gc.collect()
        gc.freeze()
        if gateway.governor.ring.open:
            log.warning("no inbound API keys configured: the gateway is open to any caller")
        log.info(
            "gateway ready",
            routes=len(gateway.snapshot.table.routes),
            models=len(gateway.snapshot.table.aliases),
            state=gateway.state.backend,
            profile=gateway.snapshot.profile,
        )
        try:
            yield
        finally:
            gateway.draining = True
            shutdown.aclose()
            await watcher.aclose()
            await reloader.aclose()
            await health.aclose()
            await gateway.aclose()

    admin = AdminEndpoints(gateway)
    # Admission first: a cached answer is still a request the key is counted for.
    stages: list[Stage] = [AdmissionStage(gateway.governor)]
    if gateway.response_cache is not None:
        stages.append(ResponseCacheStage(gateway.response_cache))
    served_on: dict[str, str] = {}
    for path, door in front_doors().items():
        served_on.setdefault(door.model_type, path)
    pipeline = RequestPipeline(gateway, stages, served_on=served_on)
    doors: dict[str, ASGIApp] = {
        path: DoorEndpoint(gateway, door, pipeline) for path, door in front_doors().items()
    }
    doors["/v1/messages/count_tokens"] = CountTokensEndpoint(gateway)
    resources = {
        key: DoorEndpoint(gateway, door, pipeline) for key, door in resource_doors().items()
    }
    app = FastAPI(
        title="LLM gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.gateway = gateway
    app.router.routes.extend(
        [
            *(Route(path, endpoint, methods=["POST"]) for path, endpoint in doors.items()),
            *(Route(path, endpoint, methods=[m]) for (m, path), endpoint in resources.items()),
            Route("/v1/models", admin.models, methods=["GET"]),
            Route("/v1/gateway/routes", admin.routes, methods=["GET"]),
            Route("/v1/gateway/reload", reloader.post, methods=["POST"]),
            Route("/v1/gateway/reload", reloader.get, methods=["GET"]),
            Route("/v1/gateway/cooldowns", CooldownsEndpoint(gateway).list, methods=["GET"]),
            Route("/v1/gateway/usage", UsageEndpoints(gateway).read, methods=["GET"]),
            Route("/v1/gateway/usage", UsageEndpoints(gateway).reset, methods=["DELETE"]),
            *KeysEndpoints(gateway).routes(),
            Route("/v1/gateway/cache", CacheEndpoints(gateway).purge, methods=["DELETE"]),
            Route("/healthz", admin.healthz, methods=["GET"]),
            Route("/readyz", admin.readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint(gateway), methods=["GET"]),
        ]
    )
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return HotPathDispatcher(app, {("POST", path): endpoint for path, endpoint in doors.items()})


def app_from_env() -> HotPathDispatcher:
    """Factory for ``uvicorn --factory`` and for ``--workers N`` (each worker builds its own)."""
    return create_app(
        options=AppOptions(
            config_path=os.environ.get("GATEWAY_CONFIG"),
            redis_url=os.environ.get("GATEWAY_REDIS_URL"),
            profile=os.environ.get("GATEWAY_PROFILE"),
            log_level=os.environ.get("GATEWAY_LOG_LEVEL"),
        )
    )
