"""The seam between a wire format and the pipeline.

A door parses and checks a request, renders answers, streams and errors in its own
shape, and knows where usage sits in its answers. It knows nothing of keys, routes,
cooldowns or metrics: those are the pipeline's stages.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.observability.record import Usage
from gateway.pipeline.call import Call
from gateway.resilience.served import Served
from gateway.resilience.wire import CHAT_WIRE, ForwardedHeaders, WireFormat

RawHeaders = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Answer:
    """A buffered answer as the client gets it, and the usage to charge for it."""

    body: bytes
    content_type: bytes
    usage: Usage | None = None
    # The id of upstream state the answer created (a stored response), which later
    # calls may name: the pipeline remembers which member holds it.
    created_id: str | None = None


class StreamRelay(Protocol):
    """Forwards an upstream stream to the client, event by event.

    ``feed`` returns the bytes to send now; ``finish`` what is left at the end.
    ``usage`` is set once a usage event went past; ``complete`` once the stream's
    own end marker did (a stream that ends without it was cut short).
    """

    usage: Usage | None

    @property
    def complete(self) -> bool: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class StreamRecorder(Protocol):
    """Collects a relayed stream's events into the door's JSON answer form."""

    def feed(self, events: bytes) -> None: ...

    def completion(self, usage: Usage | None) -> bytes | None: ...


class AnswerCodec(Protocol):
    """How a door's answers are kept by the response cache: one JSON form, from which
    a stream can be replayed."""

    def is_complete(self, body: bytes) -> bool: ...

    def recorder(self) -> StreamRecorder: ...

    def replay(self, body: bytes) -> bytes: ...


class Door(abc.ABC):
    #: The operation the plan's members must serve (``chat``, ``embeddings``, ...),
    #: natively or through one of the ``wire``'s bridges.
    operation: str
    #: The OpenTelemetry GenAI operation name metrics and spans report: a well-known
    #: value where one applies (the semantic conventions say it must be used), so
    #: Responses and Messages calls are `chat`.
    gen_ai_operation: str = "chat"
    #: The value of the ``api`` log field and metric label.
    api: str
    #: The catalog ``type`` of the models this door serves (``chat``, ``embeddings``).
    model_type: str = "chat"
    #: Where a stream's opening ends, and the bridges to members of other operations.
    wire: WireFormat = CHAT_WIRE
    #: How the response cache keeps this door's answers; ``None``: never cached.
    cache_codec: AnswerCodec | None = None
    #: The same request always gets the same answer (embeddings): cacheable under
    #: ``deterministic_only`` without a ``temperature: 0`` or ``seed``.
    repeatable: bool = False
    stream_headers: RawHeaders = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
    ]

    @abc.abstractmethod
    def parse(self, raw: bytes, route_header: str | None) -> Call:
        """Check the body just enough to route it; raise ``InvalidRequest`` if not."""

    def parse_request(self, path: str, query: bytes, raw: bytes, route_header: str | None) -> Call:
        """Like ``parse``, for a door whose path or query carries part of the request
        (a resource's id, a list's page)."""
        return self.parse(raw, route_header)

    @abc.abstractmethod
    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        """The buffered upstream answer as this door's client expects it; its usage is
        read only when ``metered`` (a cache hit is not charged)."""

    @abc.abstractmethod
    def relay(self, served: Served, call: Call) -> StreamRelay:
        """A relay for the committed stream ``served``."""

    def created_id(self, relay: StreamRelay) -> str | None:
        """The ``Answer.created_id`` of a relayed stream, once it has ended."""
        return None

    @abc.abstractmethod
    def stream_error(self, message: str, code: str) -> bytes:
        """The event that ends a stream broken after its first byte."""

    def relay_error(self, relay: StreamRelay, message: str, code: str) -> bytes:
        """``stream_error`` for a door whose error event depends on what ``relay``
        has sent (a sequence number)."""
        return self.stream_error(message, code)

    @abc.abstractmethod
    def error_body(self, error: GatewayError) -> bytes:
        """The gateway's own error in this door's error shape."""

    def error_status(self, error: GatewayError) -> int:
        return error.status

    def upstream_headers(self, headers: dict[bytes, bytes]) -> ForwardedHeaders | None:
        """Client headers to forward to members that serve the operation natively."""
        return None

    def content(self, call: Call) -> Any:
        """What ``logging.include_content`` records of the request."""
        return call.body.get("messages")
