"""An upstream answer in another wire format, read in the one its caller speaks:
Anthropic's and Gemini's as OpenAI's (the ``anthropic`` and ``gemini`` kinds), OpenAI's
as Anthropic's (the ``/v1/messages`` door's chat bridge).

A translation supplies a ``Codec`` (whole bodies and error bodies) and, for streams, a
``StreamTranslator`` (a function of each piece of bytes plus its own state).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import orjson

from gateway.providers.base import UpstreamRequest, UpstreamResponse, UpstreamStreamBroken
from gateway.providers.sse import EventReader, data_event, event_data
from gateway.transport import HttpTransport, ResponseHeaders

# Bodies are re-encoded here, so the upstream's framing and encoding no longer apply.
_DROPPED_HEADERS = frozenset(("content-type", "content-length", "content-encoding"))


class NotAnAnswer(ValueError):
    """A 2xx body that is not the upstream's answer shape."""


class StreamRefused(Exception):
    """Raised by a stream translator when the stream's first event refuses the request
    (Gemini's blocked prompt): the answer becomes ``status`` with an OpenAI error body."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


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
            try:
                out = translator.feed(data)
            except StreamRefused as refused:
                self.status = refused.status
                self.headers = transformed_headers(self.headers, "application/json")
                return refused.body
            if out:
                return out
        return b""

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    def close(self) -> None:
        self._inner.close()


async def send_translated(
    transport: HttpTransport,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    upstream: UpstreamRequest,
    codec: Codec,
    translator: Callable[[bool], StreamTranslator],
) -> TranslatedResponse:
    """Post an already translated body; the answer reads as OpenAI's."""
    inner = await transport.post(url, headers, body)
    stream = translator(wants_usage(upstream.body)) if upstream.stream else None
    return TranslatedResponse(inner, codec, stream)


class ChunkWriter:
    """The base of a kind's stream translator: splits the upstream's bytes into
    events, hands each to ``_event`` until the stream is finished, and writes
    OpenAI chunks under the answer's id and model."""

    __slots__ = ("_created", "_events", "_id", "_model", "finished", "include_usage")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.finished = False
        self._events = EventReader()
        self._id = ""
        self._model = ""
        self._created = int(time.time())

    def feed(self, data: bytes) -> bytes:
        if self.finished:
            return b""
        out: list[bytes] = []
        for event in self._events.feed(data):
            name, payload = event_data(event)
            try:
                parsed = orjson.loads(payload) if payload else None
            except orjson.JSONDecodeError:
                continue  # a comment, a keep-alive, or a kind's own oddity: nothing to say
            if isinstance(parsed, dict):
                self._event(name, parsed, out)
            if self.finished:
                self._events.clear()
                break
        return b"".join(out)

    def _event(self, name: str, payload: dict[str, Any], out: list[bytes]) -> None:
        raise NotImplementedError

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
            **extra,
        }
        return data_event(chunk)


def delta_choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
