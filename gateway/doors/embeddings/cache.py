"""How the response cache keeps embeddings answers: the answer's bytes as they came.
Embeddings never stream, so there is nothing to record or replay as events."""

from __future__ import annotations

from typing import NoReturn

from gateway.doors.embeddings.response import embeddings_usage


class EmbeddingsAnswerCodec:
    def is_complete(self, body: bytes) -> bool:
        # A list of vectors with its usage; never decoded beyond the usage object.
        return b'"embedding"' in body and embeddings_usage(body) is not None

    def recorder(self) -> NoReturn:
        raise AssertionError("embeddings never stream")

    def replay(self, body: bytes) -> NoReturn:
        raise AssertionError("embeddings never stream")
