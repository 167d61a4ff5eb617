"""An upstream answer in another wire format, read in the one its caller speaks:
Anthropic's as OpenAI's (the ``anthropic`` kind), OpenAI's as Anthropic's (the
``/v1/messages`` door's chat bridge).

A translation supplies a ``Codec`` (whole bodies and error bodies) and, for streams, a
``StreamTranslator`` (a function of each piece of bytes plus its own state).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from gateway.providers.base import UpstreamResponse, UpstreamStreamBroken
from gateway.transport import ResponseHeaders

# Bodies are re-encoded here, so the upstream's framing and encoding no longer apply.
_DROPPED_HEADERS = frozenset(("content-type", "content-length", "content-encoding"))


class NotAnAnswer(ValueError):
    """A 2xx body that is not the upstream's answer shape."""


class Codec(Protocol):
    name: str

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        """A 2xx body in the caller's format; may turn it into a client error."""
        ...

    def error(self, status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """An error body in the caller's format, its status (a translation may correct
        it) and headers to add (a ``Retry-After`` read from the body)."""
        ...


class StreamTranslator(Protocol):
    finished: bool

    def feed(self, data: bytes) -> bytes: ...

    def end(self) -> bytes:
        """Called once the upstream body has ended: what is still owed, if anything."""
        ...


def wants_usage(body: Mapping[str, object]) -> bool:
    """Whether a stream's body asks for the final usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def transformed_headers(
    upstream: Mapping[str, str], content_type: str, extra: Mapping[str, str] | None = None
) -> ResponseHeaders:
    """The upstream's headers (Retry-After and the like matter to the attempt loop)
    under the content type of the transformed body."""
    values = {k.lower(): v for k, v in upstream.items() if k.lower() not in _DROPPED_HEADERS}
    values["content-type"] = content_type
    if extra:
        values.update((k.lower(), v) for k, v in extra.items())
    return ResponseHeaders(values)


class TranslatedResponse(UpstreamResponse):
    __slots__ = ("_codec", "_inner", "_stream", "headers", "status")

    def __init__(
        self, inner: UpstreamResponse, codec: Codec, stream: StreamTranslator | None
    ) -> None:
        self._inner = inner
        self._codec = codec
        self.status = inner.status
        # An error status is never a stream, whatever was asked for.
        self._stream = stream if inner.status < 400 else None
        content_type = "text/event-stream" if self._stream else "application/json"
        self.headers = transformed_headers(inner.headers, content_type)

    async def read(self) -> bytes:
        if self._stream is not None:
            parts = [chunk async for chunk in self.iter_chunks()]
            self.close()
            return b"".join(parts)
        body = await self._inner.read()
        if self.status >= 400:
            status, out, extra = self._codec.error(self.status, body)
            if extra:
                self.headers = transformed_headers(self.headers, "application/json", extra)
            self.status = status
            return out
        try:
            self.status, out = self._codec.answer(self.status, body)
        except NotAnAnswer as exc:
            name = self._codec.name
            raise UpstreamStreamBroken(f"{name} answered {self.status} but {exc}") from None
        return out

    async def read_chunk(self) -> bytes:
        translator = self._stream
        if translator is None:
            return await self._inner.read_chunk()
        # One upstream read may complete no event (or only a ping): keep reading until
        # there is something to hand on, so b"" still means the end.
        while not translator.finished:
            data = await self._inner.read_chunk()
            if not data:
                return translator.end()
            out = translator.feed(data)
            if out:
                return out
        return b""

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    def close(self) -> None:
        self._inner.close()
