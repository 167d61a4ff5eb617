"""The ``openai`` provider kind."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.http import transport_for, upstream_headers
from gateway.providers.openai import api, errors, request


class OpenAIProvider(Provider):
    kind = "openai"

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._url = api.chat_url(section.base_url)
        self._headers = api.build_headers(section)
        self._transport = transport_for(section)

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = upstream_headers(self._headers, upstream)
        return await self._transport.post(self._url, headers, request.encode_request(upstream.body))

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
