"""The ``openai`` provider kind."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.openai import api, errors, request
from gateway.transport import HttpTransport


class OpenAIProvider(Provider):
    kind = "openai"

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._url = api.chat_url(section.base_url)
        self._headers = api.build_headers(section)
        self._transport = HttpTransport(
            timeout_s=section.timeout_s,
            connect_timeout_s=section.connect_timeout_s,
            max_connections=section.max_connections,
        )

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = self._headers
        if upstream.request_id:
            headers = {**headers, "X-Request-Id": upstream.request_id}
        return await self._transport.post(self._url, headers, request.encode_request(upstream.body))

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
