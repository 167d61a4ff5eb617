"""The ``anthropic`` provider kind."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.anthropic import api, errors, request, response
from gateway.providers.anthropic.stream import StreamTransformer
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.http import request_headers, transport_for
from gateway.providers.translated import send_translated


class AnthropicCodec:
    name = "anthropic"

    @staticmethod
    def answer(status: int, body: bytes) -> tuple[int, bytes]:
        return status, response.transform_response(body)

    @staticmethod
    def error(status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        return status, errors.transform_error(status, body), {}


class AnthropicProvider(Provider):
    kind = "anthropic"
    codec = AnthropicCodec()

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._url = api.messages_url(section.base_url)
        self._headers = api.build_headers(section)
        self._transport = transport_for(section)

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = request_headers(self._headers, upstream, "x-api-key")
        body = request.encode_request({**upstream.body, "stream": upstream.stream})
        return await send_translated(
            self._transport, self._url, headers, body, upstream, self.codec, StreamTransformer
        )

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
