"""The ``openai`` provider kind."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.http import request_headers, transport_for
from gateway.providers.openai import api, errors, request


class OpenAIProvider(Provider):
    kind = "openai"
    operations = api.OPERATIONS

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._urls = api.operation_urls(section.base_url)
        self._headers = api.build_headers(section)
        self._transport = transport_for(section)

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = request_headers(self._headers, upstream, "Authorization", "Bearer ")
        url = self._urls.get(upstream.operation)
        if url is None:
            return await request.send_stored_response_operation(
                self._transport, self._urls["responses"], headers, upstream
            )
        return await self._transport.post(url, headers, request.encode_request(upstream.body))

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
