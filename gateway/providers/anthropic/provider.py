"""The ``anthropic`` provider kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from gateway.config.schema import ProviderSection
from gateway.providers.anthropic import api
from gateway.providers.base import (
    Provider,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamStreamBroken,
)
from gateway.providers.http import transport_for, with_request_id
from gateway.translate.anthropic import errors
from gateway.translate.anthropic import request_to_messages as request
from gateway.translate.anthropic import response_to_chat as response
from gateway.translate.anthropic.stream_to_chat import StreamTransformer
from gateway.transport import ResponseHeaders

# Bodies are re-encoded here, so the upstream's framing and encoding no longer apply.
_DROPPED_HEADERS = frozenset(("content-type", "content-length", "content-encoding"))


def transformed_headers(upstream: Mapping[str, str], content_type: str) -> ResponseHeaders:
    """The upstream's headers (Retry-After and the like matter to the attempt loop)
    under the content type of the transformed body."""
    values = {k.lower(): v for k, v in upstream.items() if k.lower() not in _DROPPED_HEADERS}
    values["content-type"] = content_type
    return ResponseHeaders(values)


class AnthropicResponse(UpstreamResponse):
    """An Anthropic answer that reads as an OpenAI one."""

    __slots__ = ("_inner", "_stream", "headers", "status")

    def __init__(self, inner: UpstreamResponse, stream: StreamTransformer | None) -> None:
        self._inner = inner
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
            return errors.transform_error(self.status, body)
        try:
            return response.transform_response(body)
        except response.NotAMessage as exc:
            raise UpstreamStreamBroken(f"anthropic answered {self.status} but {exc}") from None

    async def read_chunk(self) -> bytes:
        transformer = self._stream
        if transformer is None:
            return await self._inner.read_chunk()
        # One upstream read may complete no event (or only a ping): keep reading until
        # there is something to hand on, so b"" still means the end.
        while not transformer.finished:
            data = await self._inner.read_chunk()
            if not data:
                return b""
            out = transformer.feed(data)
            if out:
                return out
        return b""

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    def close(self) -> None:
        self._inner.close()


class AnthropicProvider(Provider):
    kind = "anthropic"

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._url = api.messages_url(section.base_url)
        self._headers = api.build_headers(section)
        self._transport = transport_for(section)

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = with_request_id(self._headers, upstream.request_id)
        body = request.encode_request({**upstream.body, "stream": upstream.stream})
        inner = await self._transport.post(self._url, headers, body)
        transformer = None
        if upstream.stream:
            options = upstream.body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            transformer = StreamTransformer(include_usage)
        return AnthropicResponse(inner, transformer)

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
