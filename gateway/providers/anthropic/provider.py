"""The ``anthropic`` provider kind: OpenAI chat bodies translated to the Messages API,
and the Messages API's own requests (``/v1/messages``, ``count_tokens``) passed
through as they are."""

from __future__ import annotations

import orjson

from gateway.config.schema import ProviderSection
from gateway.providers.anthropic import api
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.http import request_headers, transport_for, with_user_key
from gateway.providers.translated import TranslatedResponse, wants_usage
from gateway.translate.anthropic import errors
from gateway.translate.anthropic import request_to_messages as request
from gateway.translate.anthropic import response_to_chat as response
from gateway.translate.anthropic.stream_to_chat import StreamTransformer


class AnthropicCodec:
    name = "anthropic"

    @staticmethod
    def answer(status: int, body: bytes) -> tuple[int, bytes]:
        # A body that is not a message raises NotAnAnswer (the translation's own error).
        return status, response.transform_response(body)

    @staticmethod
    def error(status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        return status, errors.transform_error(status, body), {}


# The count_tokens endpoint refuses generation settings, which route options may have
# merged into the body; anything else (tools, thinking, future fields) is kept.
_NOT_COUNTED = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "service_tier",
    }
)


class AnthropicProvider(Provider):
    kind = "anthropic"
    operations = frozenset({"chat", "messages", "count_tokens"})
    codec = AnthropicCodec()

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        assert section.base_url is not None  # guaranteed by config validation
        self._urls = {
            "chat": api.messages_url(section.base_url),
            "messages": api.messages_url(section.base_url),
            "count_tokens": api.count_tokens_url(section.base_url),
        }
        self._headers = api.build_headers(section)
        self._transport = transport_for(section)

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        url = self._urls[upstream.operation]
        if upstream.operation != "chat":
            # The Messages API's own request: nothing to translate, in either direction.
            native = api.with_client_headers(self._headers, upstream.headers)
            fields = upstream.body
            if upstream.operation == "count_tokens":
                fields = {k: v for k, v in fields.items() if k not in _NOT_COUNTED}
            elif request.thinks(fields):
                fields = dict(fields)
                request.fit_sampling_to_thinking(fields)
            headers = with_user_key(native, upstream, "x-api-key")
            return await self._transport.post(url, headers, orjson.dumps(fields))
        headers = request_headers(self._headers, upstream, "x-api-key")
        body = request.encode_request({**upstream.body, "stream": upstream.stream})
        inner = await self._transport.post(url, headers, body)
        transformer = StreamTransformer(wants_usage(upstream.body)) if upstream.stream else None
        return TranslatedResponse(inner, self.codec, transformer)

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
