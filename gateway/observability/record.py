"""What one request did, filled in along the way and handed to observers at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.routing.table import Member
    from gateway.routing.triage.outcome import TriageOutcome


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
    # Part of output_tokens (priced as output); reported on its own in the log line.
    reasoning_tokens: int = 0
    # Prompt tokens written to the provider's cache (Anthropic's cache_creation), a
    # share of input_tokens like cached_tokens, priced at the model's cache_write_input.
    cache_write_tokens: int = 0


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    started: float
    client_request_id: str | None = None
    # The operation the members serve (``chat``, ``messages``...), the GenAI operation
    # metrics report (``chat``, ``embeddings``), and the door it came through.
    operation: str = "chat"
    gen_ai_operation: str = "chat"
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
    # The exact cost (gateway.accounting.pricing); cost_usd is its rounded display form.
    cost_pico_usd: int = 0
    cost_usd: float | None = None
    api_key_id: str | None = None
    byok: bool = False  # served (or last tried) under the user's own provider key
    # The response cache: off (not configured), bypass, miss or hit.
    cache: str = "off"
    cache_age_s: float = 0.0
    saved_cost_pico_usd: int = 0  # a cache hit: what the answer cost when it was made
    # Governance: the key's name and team (usage dimensions), what admission took (given
    # back at the end), the x-ratelimit-* headers of a limited key, provider quota charges.
    key_name: str | None = None
    team: str | None = None
    admission: Any = None
    limit_headers: list[tuple[bytes, bytes]] | None = None
    quota_charges: list[Any] | None = None
    response_started: bool = False
    triage: TriageOutcome | None = None  # set on a triage route
    # The request's trace handle when tracing is on (gateway.observability.tracing).
    trace: Any = None
    # Routing: the plan in its policy's order (``policy_order`` in the log), whether
    # it explored, and the member this request keeps busy until it is done.
    plan: Sequence[Member] | None = None
    explored: bool = False
    in_flight_key: str | None = None
    # The id of upstream state the answer created (a stored response), if any, and
    # the id of the one the call named (served by the member holding it).
    created_id: str | None = None
    affinity_id: str | None = None
    # Only with logging.include_content: the request's messages and the non-stream answer.
    messages: Any = None
    response_body: bytes | None = None


class RequestObserver(Protocol):
    """Told when a chat request starts and when it is done; must not block or raise."""

    def on_request_start(self, record: RequestRecord) -> None: ...

    def on_request_done(self, record: RequestRecord) -> None: ...
