"""The ``gemini`` provider kind."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.providers.gemini import api, embeddings, errors, request, response
from gateway.providers.gemini.stream import StreamTransformer
from gateway.providers.http import request_headers, transport_for
from gateway.providers.translated import TranslatedResponse, send_translated


class GeminiCodec:
    name = "gemini"

    @staticmethod
    def answer(status: int, body: bytes) -> tuple[int, bytes]:
        return response.transform_response(status, body)

    @staticmethod
    def error(status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        return errors.transform_error(status, body)


class GeminiProvider(Provider):
    kind = "gemini"
    operations = frozenset({"chat", "embeddings"})
    codec = GeminiCodec()

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        self._base = api.versioned_base(section.base_url)
        self._headers = api.build_headers(section)
        self._urls: dict[tuple[str, bool], str] = {}  # per model and mode, built once
        self._transport = transport_for(section)

    def url_for(self, model: str, stream: bool) -> str:
        url = self._urls.get((model, stream))
        if url is None:
            url = api.model_url(self._base, model, stream)
            if len(self._urls) < 4096:  # direct `provider/model` names come from clients
                self._urls[(model, stream)] = url
        return url

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        if upstream.operation == "embeddings":
            return await self._embed(upstream)
        url = self.url_for(str(upstream.body.get("model", "")), upstream.stream)
        headers = request_headers(self._headers, upstream, api.KEY_HEADER)
        body = request.encode_request(upstream.body)
        return await send_translated(
            self._transport, url, headers, body, upstream, self.codec, StreamTransformer
        )

    async def _embed(self, upstream: UpstreamRequest) -> UpstreamResponse:
        body = upstream.body
        try:
            texts = embeddings.texts_of(body)
        except embeddings.TextOnly as exc:
            return embeddings.Refusal(str(exc))
        model = str(body.get("model", ""))
        headers = request_headers(self._headers, upstream, api.KEY_HEADER)
        inner = await self._transport.post(
            embeddings.embed_url(self._base, model),
            headers,
            embeddings.encode_request(body, texts),
        )
        codec = embeddings.EmbeddingsCodec(
            model, body.get("encoding_format") == "base64", embeddings.estimate_tokens(texts)
        )
        return TranslatedResponse(inner, codec, None)

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return errors.is_context_length_error(status, body)

    async def aclose(self) -> None:
        await self._transport.aclose()
