"""The typed schema of the config file (spec §3).

Every model forbids unknown keys. Rules that span several sections (references
between routes, models and providers) live in ``gateway.config.validate``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator, model_validator

from gateway.accounting.pricing import pico_per_token
from gateway.config.base import PoolEntry as PoolEntry
from gateway.config.base import Strict as Strict
from gateway.config.base import normalise_pool
from gateway.config.triage import TriageSection
from gateway.governance.config import GovernanceSection, KeySection, ModelLimits, TeamSection
from gateway.transport.proxy import parse_proxy
from gateway.transport.target import parse_target

POLICIES = ("priority", "weighted", "latency", "least_busy", "cost")
# Policies that order members by live signals (gateway.routing.signals).
ADAPTIVE_POLICIES = frozenset(("latency", "least_busy", "cost"))
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# How a body is framed is the HTTP client's business: a configured value would corrupt it.
FRAMING_HEADERS = frozenset(
    ("content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer")
)
PROVIDER_KINDS = ("openai", "azure", "anthropic", "gemini", "mock")
# Kinds whose API has one well-known address: base_url may be left out.
DEFAULT_BASE_URLS = {"gemini": "https://generativelanguage.googleapis.com"}
MAX_PRICE = 10_000.0  # USD per 1M tokens


def _json_options(value: dict[str, Any]) -> dict[str, Any]:
    """Options are merged into request bodies: they must encode as JSON (no YAML
    ``!!binary`` bytes), or every request on the route would fail."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValueError(f"not JSON data: {exc}") from None
    return value


def _sendable_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name '{name}' is not a valid HTTP token")
        if name.lower() in FRAMING_HEADERS:
            raise ValueError(f"header '{name}' is set by the gateway's HTTP client")
        if "\r" in text or "\n" in text:
            raise ValueError(f"header '{name}' has a line break in its value")
    return value


class StateSection(Strict):
    backend: Literal["memory", "redis"] = "memory"
    # redis:// | rediss:// | unix:// | redis+sentinel:// | redis+cluster://
    redis_url: str = "redis://127.0.0.1:6379/0"
    cluster: bool = False  # the redis:// URL names a Cluster node
    key_prefix: str = Field(default="gw", min_length=1)
    # How long the gateway remembers which member made a stored Responses answer.
    response_ttl_s: float = Field(default=30 * 86_400, gt=0)

    @field_validator("key_prefix")
    @classmethod
    def _one_hash_tag(cls, value: str) -> str:
        # The prefix becomes the keys' hash tag ({gw}:...): braces inside would split it.
        if "{" in value or "}" in value:
            raise ValueError("must not contain '{' or '}' (it becomes the keys' hash tag)")
        return value


class ServerSection(Strict):
    max_body_bytes: int = Field(default=20_000_000, gt=0)
    api_keys_env: str | None = "GATEWAY_API_KEYS"
    api_keys: list[str] = Field(default_factory=list)
    admin_keys_env: str | None = "GATEWAY_ADMIN_KEYS"
    allow_direct_models: bool = True
    allow_profile_header: bool = True
    # Graceful shutdown (gateway.lifecycle.shutdown): how long the listener stays open
    # after SIGTERM, then how long requests in flight have to finish.
    drain_s: float = Field(default=0.0, ge=0)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    watch_config: bool = False
    trust_env_proxy: bool = False

    @field_validator("api_keys")
    @classmethod
    def _drop_blank_keys(cls, value: list[str]) -> list[str]:
        # `${VAR:-}` with VAR unset yields "": a blank key would close an open gateway
        # without giving anyone a usable key.
        return [key.strip() for key in value if key.strip()]


class MockFailure(Strict):
    """A failure the mock provider injects instead of answering."""

    status: int = Field(default=503, ge=400, le=599)
    retry_after_s: float | None = None
    message: str = "injected failure"
    every: int = Field(default=1, ge=1)  # fail on every Nth call; 1 = always


class MockSection(Strict):
    latency_ms: float = Field(default=0.0, ge=0)
    chunk_delay_ms: float = Field(default=0.0, ge=0)
    chunks: int = Field(default=8, ge=1)
    reply: str = "This is a deterministic answer from the mock provider."
    failure: MockFailure | None = None
    break_stream_after: int | None = Field(default=None, ge=0)


class ProviderSection(Strict):
    kind: str
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=600.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    api_version: str | None = None  # kind azure: the `api-version` query parameter
    proxy: str | None = None  # http://[user:pass@]host:port (gateway.transport.proxy)
    # Whether a request may (allowed) or must (required) bring its user's own key.
    byok: Literal["off", "allowed", "required"] = "off"
    mock: MockSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, data: Any) -> Any:
        # Filled in here, so everything that reads the section (the proxy chosen from
        # the environment for its URL, check-config) sees the address really used.
        if isinstance(data, dict) and data.get("base_url") is None:
            default = DEFAULT_BASE_URLS.get(str(data.get("kind")))
            if default is not None:
                return {**data, "base_url": default}
        return data

    @field_validator("byok", mode="before")
    @classmethod
    def _unquoted_off(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as false.
        return "off" if value is False else value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            raise ValueError(
                f"unknown provider kind '{value}' (known: {', '.join(PROVIDER_KINDS)})"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_target(value)  # its ValueError names what is wrong
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value:
            parse_proxy(value)  # its ValueError never repeats the URL (credentials)
        return value or None

    _headers_are_sendable = field_validator("headers")(_sendable_headers)


class Price(Strict):
    """USD per one million tokens, with at most 6 decimals (exact in pico-USD per token)."""

    # At most MAX_PRICE: a request's cost in pico-USD then fits the int64 counters
    # (Redis HINCRBY) even at the largest token count the gateway believes (2**28 per
    # kind: 2 × 2**28 × 1e10 < 2**63).
    input: float = Field(default=0.0, ge=0, le=MAX_PRICE)
    output: float = Field(default=0.0, ge=0, le=MAX_PRICE)
    cached_input: float | None = Field(default=None, ge=0, le=MAX_PRICE)
    # Prompt tokens written to the cache (Anthropic: 1.25× input for the 5-minute
    # cache); the input price when unset.
    cache_write_input: float | None = Field(default=None, ge=0, le=MAX_PRICE)

    @field_validator("input", "output", "cached_input", "cache_write_input")
    @classmethod
    def _exact_in_pico(cls, value: float | None) -> float | None:
        if value is not None:
            pico_per_token(value)  # its ValueError says why the price is not exact
        return value


class HealthCheck(Strict):
    """Background requests to a parked member, so recovery is noticed off the user path."""

    interval_s: float = Field(default=10.0, gt=0)
    prompt: str = Field(default="ping", min_length=1)
    max_tokens: int = Field(default=1, ge=1)


class ModelSection(Strict):
    provider: str
    model: str | None = None
    type: Literal["chat", "embeddings"] = "chat"
    context_window: int | None = Field(default=None, gt=0)
    price: Price | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    health_check: HealthCheck | None = None
    limits: ModelLimits | None = None

    _options_are_json = field_validator("options")(_json_options)


class CacheSection(Strict):
    """The response cache of a route, or (top level) the default of every route.

    Fields a route leaves out come from the top-level section.
    """

    enabled: bool = True
    ttl_s: float = Field(default=300.0, gt=0)
    mode: Literal["exact"] = "exact"
    max_entry_bytes: int = Field(default=1_000_000, gt=0)
    deterministic_only: bool = True
    per_key: bool = False


class CacheStoreSection(CacheSection):
    """The top-level ``cache:``: route defaults, plus the memory backend's bounds."""

    # Off unless a route or this section turns it on: an absent section is disabled.
    max_entries: int = Field(default=10_000, gt=0)
    max_bytes: int = Field(default=64_000_000, gt=0)


def _cache_shorthand(value: Any) -> Any:
    # `cache: true` / `cache: false` turn a route's cache on or off with the defaults.
    return {"enabled": value} if isinstance(value, bool) else value


class RouteSection(Strict):
    pool: list[PoolEntry] | None = None
    profiles: dict[str, list[PoolEntry]] = Field(default_factory=dict)
    policy: str = "priority"
    # Share of requests sent to a non-best member; None = the policy's default.
    exploration: float | None = Field(default=None, ge=0, le=1)
    health_check: HealthCheck | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    force: list[str] = Field(default_factory=list)
    pinned: bool = False
    description: str | None = None
    triage: TriageSection | None = None
    # An API beyond chat completions every member must speak (checked at load).
    api: Literal["responses"] | None = None
    cache: CacheSection | None = None

    _options_are_json = field_validator("options")(_json_options)
    _cache_shorthand = field_validator("cache", mode="before")(_cache_shorthand)

    @field_validator("pool", mode="before")
    @classmethod
    def _pool_shorthand(cls, value: Any) -> Any:
        return normalise_pool(value)

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: normalise_pool(pool) for name, pool in value.items()}
        return value


class ResilienceSection(Strict):
    max_attempts: int = Field(default=4, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    max_cooldown_s: float = Field(default=300.0, ge=0)
    member_retries: int = Field(default=0, ge=0)
    retry_backoff_s: float = Field(default=0.25, ge=0)
    max_retry_wait_s: float = Field(default=2.0, ge=0)
    ttft_timeout_s: float = Field(default=30.0, gt=0)
    # After a cooldown, one probe request at a time (across replicas) until one succeeds.
    half_open: bool = True


class LoggingSection(Strict):
    level: str = "info"
    include_content: bool = False


class TracingSection(Strict):
    """OpenTelemetry traces (extra ``otel``); the standard ``OTEL_*`` variables win."""

    # None: on when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.
    enabled: bool | None = None
    # The collector's OTLP/HTTP base URL; traces go to <endpoint>/v1/traces.
    endpoint: str = "http://127.0.0.1:4318"
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "llm-gateway"
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    timeout_s: float = Field(default=10.0, gt=0)
    max_queue_size: int = Field(default=8192, ge=1)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parse_target(value)  # its ValueError names what is wrong
        return value

    _headers_are_sendable = field_validator("headers")(_sendable_headers)


class GatewayConfig(Strict):
    state: StateSection = Field(default_factory=StateSection)
    server: ServerSection = Field(default_factory=ServerSection)
    providers: dict[str, ProviderSection] = Field(default_factory=dict)
    models: dict[str, ModelSection] = Field(default_factory=dict)
    routes: dict[str, RouteSection] = Field(default_factory=dict)
    profile: str | None = None
    resilience: ResilienceSection = Field(default_factory=ResilienceSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    tracing: TracingSection = Field(default_factory=TracingSection)
    cache: CacheStoreSection | None = None
    teams: dict[str, TeamSection] = Field(default_factory=dict)
    keys: dict[str, KeySection] = Field(default_factory=dict)
    governance: GovernanceSection = Field(default_factory=GovernanceSection)

    _cache_shorthand = field_validator("cache", mode="before")(_cache_shorthand)

    def route_profiles(self) -> frozenset[str]:
        """The profiles some route has a pool for."""
        return frozenset(p for route in self.routes.values() for p in route.profiles)

    def known_profiles(self) -> frozenset[str]:
        """The profiles a request or a flag may name: the routes' and the active one."""
        return self.route_profiles() | ({self.profile} if self.profile else frozenset())
