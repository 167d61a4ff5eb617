"""OpenAI embeddings ↔ Gemini's ``batchEmbedContents``.

Each input string becomes one request of the batch (``dimensions`` as
``outputDimensionality``); the answer's ``embeddings[].values`` become OpenAI's
``data[].embedding``, as floats or, when asked, base64 little-endian float32s. Gemini
reports no token count for embeddings (``usageMetadata.promptTokenCount`` is used when
it does): the usage is estimated at four characters a token. Token arrays cannot be
sent: Gemini embeds text.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from gateway.errors import error_body
from gateway.providers.base import UpstreamResponse
from gateway.providers.gemini import errors
from gateway.providers.translated import NotAnAnswer


class TextOnly(ValueError):
    """The input holds token arrays, which Gemini cannot embed."""


def embed_url(base: str, model: str) -> str:
    name = quote(model.removeprefix("models/"), safe="-._~")
    return f"{base}/models/{name}:batchEmbedContents"


def texts_of(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TextOnly("Gemini embeds text: send strings, not token arrays")
    return texts


def encode_request(body: dict[str, Any], texts: list[str]) -> bytes:
    model = "models/" + str(body.get("model", "")).removeprefix("models/")
    dimensions = body.get("dimensions")
    requests = []
    for text in texts:
        item: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
        if isinstance(dimensions, int):
            item["outputDimensionality"] = dimensions
        requests.append(item)
    return orjson.dumps({"requests": requests})


def text_only_error(message: str) -> bytes:
    return error_body(message, "invalid_request_error", "input", "unsupported_input")


class EmbeddingsCodec:
    """Reads one batch answer as OpenAI's; built per request (model, encoding, estimate)."""

    name = "gemini"

    def __init__(self, model: str, as_base64: bool, estimated_tokens: int) -> None:
        self.model = model
        self.as_base64 = as_base64
        self.estimated_tokens = estimated_tokens

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise NotAnAnswer("the body is not JSON") from None
        embeddings = parsed.get("embeddings") if isinstance(parsed, dict) else None
        if not isinstance(embeddings, list):
            raise NotAnAnswer("the body has no embeddings")
        data = []
        for index, item in enumerate(embeddings):
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, list):
                raise NotAnAnswer(f"embeddings[{index}] has no values")
            vector: Any = values
            if self.as_base64:
                vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        metadata = parsed.get("usageMetadata")
        tokens = metadata.get("promptTokenCount") if isinstance(metadata, dict) else None
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            tokens = self.estimated_tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return status, orjson.dumps(
            {"object": "list", "data": data, "model": self.model, "usage": usage}
        )

    def error(self, status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        return errors.transform_error(status, body)


def estimate_tokens(texts: list[str]) -> int:
    return sum(max(1, (len(text) + 3) // 4) for text in texts)


class Refusal(UpstreamResponse):
    """A request the gateway can tell Gemini would refuse: answered without a call."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, message: str) -> None:
        self.status = 400
        self.headers: Mapping[str, str] = {"Content-Type": "application/json"}
        self._body = text_only_error(message)

    async def read(self) -> bytes:
        return self._body

    async def read_chunk(self) -> bytes:
        body, self._body = self._body, b""
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield await self.read_chunk()

    def close(self) -> None:
        return None
