"""The ``azure`` provider kind. Bodies and streams are OpenAI's, so the request,
response, stream and error parts are the ``openai`` kind's own."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.azure import api
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.http import request_headers, transport_for
from gateway.providers.openai import errors, request
from gateway.providers.openai.api import OPERATIONS


class AzureOpenAIProvider(Provider):
    kind = "azure"
    operations = OPERATIONS

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._base_url = section.base_url
        self._api_version = section.api_version or api.DEFAULT_API_VERSION
        self._responses_url = api.responses_url(section.base_url, self._api_version)
        self._headers = api.build_headers(section)
        self._urls: dict[tuple[str, str], str] = {}  # per operation and deployment
        self._transport = transport_for(section)

    def url_for(self, deployment: str, operation: str = "chat") -> str:
        key = (operation, deployment)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = api.deployment_url(
                self._base_url, deployment, self._api_version, operation
            )
        return url

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        headers = request_headers(self._headers, upstream, "api-key")
        operation = upstream.operation
        if operation in api.DEPLOYMENT_PATHS:
            # The catalog's upstream model name is the deployment's name; Azure ignores
            # the body's `model`, so the body goes as the openai kind sends it.
            url = self.url_for(str(upstream.body.get("model", "")), operation)
        elif operation == "responses":
            url = self._responses_url
        else:
            return await request.send_stored_response_operation(
                self._transport, self._responses_url, headers, upstream
            )
        return await self._transport.post(
            url, headers, request.encode_request(upstream.body, self.kind)
        )

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
