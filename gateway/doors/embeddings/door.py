"""The OpenAI embeddings door: the body is checked and routed, the answer's bytes
forwarded unchanged (float or base64 vectors alike)."""

from __future__ import annotations

from typing import Any, NoReturn

from gateway.doors.embeddings.cache import EmbeddingsAnswerCodec
from gateway.doors.embeddings.request import parse_embeddings_body
from gateway.doors.embeddings.response import embeddings_usage
from gateway.errors import GatewayError
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door
from gateway.resilience.served import Served


class EmbeddingsDoor(Door):
    operation = "embeddings"
    gen_ai_operation = "embeddings"
    api = "embeddings"
    model_type = "embeddings"
    cache_codec = EmbeddingsAnswerCodec()
    repeatable = True

    def parse(self, raw: bytes, route_header: str | None) -> Call:
        payload, largest_input = parse_embeddings_body(raw, route_header is not None)
        return Call(
            model=route_header or payload["model"],
            stream=False,
            body=payload,
            # A model's context window bounds each input, not the batch.
            prompt_estimate=largest_input,
        )

    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        content_type = served.headers.get("Content-Type", "application/json")
        usage = embeddings_usage(served.body) if metered and served.status < 400 else None
        return Answer(served.body, content_type.encode("latin-1", "replace"), usage)

    def relay(self, served: Served, call: Call) -> NoReturn:
        raise AssertionError("embeddings never stream: parse refuses 'stream'")

    def stream_error(self, message: str, code: str) -> bytes:
        raise AssertionError("embeddings never stream")

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()

    def content(self, call: Call) -> Any:
        return call.body.get("input")
