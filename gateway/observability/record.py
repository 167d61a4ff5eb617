"""What one request did, filled in along the way and handed to observers at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class AttemptRecord:
    alias: str
    provider: str
    model: str
    outcome: str
    status: int | None
    duration_s: float


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    started: float
    client_request_id: str | None = None
    # The GenAI operation (``chat``, ``embeddings``) and the door it came through.
    operation: str = "chat"
    api: str = "chat"
    route: str | None = None
    route_label: str = "unknown"
    profile: str | None = None
    stream: bool = False
    status: int = 0
    error_type: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    alias: str | None = None
    ttft_s: float | None = None
    latency_s: float = 0.0
    upstream_s: float = 0.0
    usage: Usage | None = None
    cost_usd: float | None = None
    cost_micro_usd: int = 0
    api_key_id: str | None = None
    # The response cache: off (not configured), bypass, miss or hit.
    cache: str = "off"
    cache_age_s: float = 0.0
    saved_cost_micro_usd: int = 0
    # Governance: the key's name and team (usage dimensions), what admission took (given
    # back at the end), the x-ratelimit-* headers of a limited key, provider quota charges.
    key_name: str | None = None
    team: str | None = None
    admission: Any = None
    limit_headers: list[tuple[bytes, bytes]] | None = None
    quota_charges: list[Any] | None = None
    response_started: bool = False
    # Only with logging.include_content: the request's messages and the non-stream answer.
    messages: Any = None
    response_body: bytes | None = None


class RequestObserver(Protocol):
    """Told when a chat request starts and when it is done; must not block or raise."""

    def on_request_start(self, record: RequestRecord) -> None: ...

    def on_request_done(self, record: RequestRecord) -> None: ...
