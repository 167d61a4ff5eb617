"""What the attempt loop hands back (``Served``, one attempt's ``AttemptResult``) and
whom it tells of each upstream call (``AttemptHook``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.observability.record import RequestRecord
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.resilience.classify import Outcome
from gateway.routing.table import Member


@dataclass(slots=True)
class Served:
    """The answer the client gets: a buffered body, or a committed stream."""

    member: Member
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    response: UpstreamResponse | None = None
    first_chunk: bytes = b""


@dataclass(slots=True)
class AttemptResult:
    outcome: Outcome
    served: Served | None = None
    status: int | None = None
    retry_after: float | None = None


class AttemptHook(Protocol):
    """Told of every upstream call (tracing's CLIENT spans): ``begin`` just before it,
    with the request still open to headers; ``end`` with its result; ``abandon`` when
    the call raised (``reason``: the outcome, or the exception's type). Plain calls, no
    coroutine of their own: a wrapper around the call would be resumed each time the
    call is."""

    def begin(
        self, provider: Provider, member: Member, request: UpstreamRequest, record: RequestRecord
    ) -> Any: ...

    def end(
        self,
        token: Any,
        provider: Provider,
        member: Member,
        record: RequestRecord,
        result: AttemptResult,
    ) -> None: ...

    def abandon(
        self, token: Any, provider: Provider, member: Member, record: RequestRecord, reason: str
    ) -> None: ...
