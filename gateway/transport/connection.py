"""One keep-alive connection to an upstream: writes a request, parses the answer with
httptools, and pushes the body into the ``HttpResponse`` it hands out."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStreamBroken,
    UpstreamTimeout,
)
from gateway.transport.response import HIGH_WATER, HttpResponse, ResponseHeaders

# llhttp bounds nothing: an upstream sending an endless head would grow memory until
# timeout_s. Real answers' heads are a few hundred bytes.
MAX_HEAD_BYTES = 64 * 1024

if TYPE_CHECKING:
    from gateway.transport.pool import ConnectionPool


class ClosedBeforeAnswer(UpstreamConnectError):
    """The connection closed before a single byte of the answer came back."""


class UpstreamConnection(asyncio.Protocol):
    """Serves one request at a time. Between the request and the response's end it
    belongs to that request; after a clean keep-alive end it goes back to its pool,
    and anything else (a timeout, a parse error, an abandoned body) closes it."""

    __slots__ = (
        "_head",
        "_head_bytes",
        "_headers",
        "_heard",
        "_interim",
        "_parser",
        "_paused",
        "_pool",
        "_response",
        "_timer",
        "_transport",
        "_until_eof",
        "exchanges",
        "forgotten",
        "idle_since",
        "loop",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ConnectionPool) -> None:
        self.loop = loop
        self.idle_since = 0.0
        self.forgotten = False  # the pool no longer counts it
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[HttpResponse] | None = None
        self._headers: dict[str, list[str]] = {}
        self._head_bytes = 0  # of the answer's head read so far
        self._heard = False  # any byte of the current exchange's answer
        self.exchanges = 0  # requests sent on this connection
        self._response: HttpResponse | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._interim = False
        self._until_eof = False

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, head: bytes, body: bytes, timeout_s: float) -> asyncio.Future[HttpResponse]:
        """Writes a whole request; the future resolves once the response head is in."""
        if self._transport is None:
            raise ClosedBeforeAnswer("upstream closed the connection")
        answer = self._head = self.loop.create_future()
        self.exchanges += 1
        self._heard = False
        self._head_bytes = 0
        # One deadline for the whole exchange, a streamed body included.
        self._timer = self.loop.call_later(timeout_s, self._on_timeout)
        if len(body) < 16384:
            self._transport.write(head + body)  # one segment for the common case
        else:
            self._transport.write(head)  # no copy of a big prompt
            self._transport.write(body)
        return answer

    def abort(self) -> None:
        """Drops the connection, whatever it was doing; whoever abandons it already
        knows, so the pending head or body is not failed on their behalf."""
        self._cancel_timer()
        self._head = None
        self._response = None
        if self._transport is not None:
            self._transport.abort()

    def terminate(self, reason: str) -> None:
        """Drops the connection and fails whatever waits on it."""
        self._fail(reason)
        self.abort()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def resume_reading(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._heard = True
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # Not a protocol the gateway can read: the upstream broke, not the client.
            self._fail(f"upstream sent malformed HTTP ({type(exc).__name__})")
            self.abort()
            return
        if self._head is not None:  # the head is still incomplete after these bytes
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail("upstream sent an oversized response head")
                self.abort()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost settles the response

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        response = self._response
        if response is not None and self._until_eof and exc is None:
            self._response = None
            response.end()  # a body without a length ends when the upstream closes
        else:
            head = self._head
            if head is not None and not head.done() and not self._heard:
                self._head = None
                head.set_exception(ClosedBeforeAnswer("upstream closed the connection"))
            self._fail("upstream closed the connection")
        self._transport = None
        self._pool.forget(self)
        # The parser holds this protocol for its callbacks: dropping it breaks the
        # cycle, so a closed connection is freed at once, not by the cyclic collector.
        del self._parser

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._head is None and self._response is None:
            # Bytes nobody asked for (a second answer, or noise on an idle connection).
            self.abort()
        self._headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key == "set-cookie":
            return  # one pool serves every client: nothing is remembered or relayed
        values = self._headers.get(key)
        if values is None:
            self._headers[key] = [value.decode("latin-1")]
        else:
            values.append(value.decode("latin-1"))  # joined once, not once per repeat

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue and friends: the real answer follows
            return
        if status == 101:
            # Nobody asked to switch protocols; what follows would not be HTTP.
            self._fail("upstream answered 101 Switching Protocols")
            self.abort()
            return
        headers = ResponseHeaders(
            {k: v[0] if len(v) == 1 else ", ".join(v) for k, v in self._headers.items()}
        )
        self._headers = {}
        head = self._head
        self._head = None
        if head is None or head.done():
            self.abort()
            return
        response = self._response = HttpResponse(self, status, headers)
        # Chunked framing holds only when chunked is the last coding (RFC 9112 6.3).
        codings = (headers.get("transfer-encoding") or "").rsplit(",", 1)[-1]
        self._until_eof = "content-length" not in headers and codings.strip().lower() != "chunked"
        head.set_result(response)

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is not None and response.feed(body) > HIGH_WATER and not self._paused:
            if self._transport is not None:
                self._paused = True
                self._transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._cancel_timer()
        response = self._response
        self._response = None
        if response is not None:
            response.end()
        if self._parser.should_keep_alive() and self.usable:
            self.resume_reading()
            self._pool.release(self)
        else:
            self.close()

    # failures

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail("upstream timed out", timeout=True)
        self.abort()

    def _fail(self, reason: str, *, timeout: bool = False) -> None:
        head = self._head
        response = self._response
        self._head = None
        self._response = None
        error: UpstreamError
        if head is not None and not head.done():
            error = UpstreamTimeout(reason) if timeout else UpstreamConnectError(reason)
            head.set_exception(error)
        if response is not None:
            if timeout:
                error = UpstreamTimeout(reason)
            else:
                error = UpstreamStreamBroken(f"upstream stream broke off: {reason}")
            response.fail(error)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
