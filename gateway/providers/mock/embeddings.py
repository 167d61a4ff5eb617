"""Deterministic embeddings: the same input gives the same vector, on every replica."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

import orjson

from gateway.providers.mock.request import estimate_tokens

DEFAULT_DIMENSIONS = 8
MAX_DIMENSIONS = 4096  # as a real model's: a larger ask is the client's error


class InvalidEmbeddingsRequest(ValueError):
    pass


def _inputs(raw: Any) -> list[Any]:
    """One entry per vector: a string, or one token array."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [raw]
    return list(raw) if isinstance(raw, list) else [raw]


def vector(item: Any, dimensions: int) -> list[float]:
    seed = orjson.dumps(item)
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        values += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _tokens(item: Any) -> int:
    return len(item) if isinstance(item, list) else estimate_tokens(str(item))


def embeddings(body: dict[str, Any]) -> bytes:
    dimensions = body.get("dimensions")
    if dimensions is None:
        dimensions = DEFAULT_DIMENSIONS
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise InvalidEmbeddingsRequest(f"dimensions must be between 1 and {MAX_DIMENSIONS}")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for index, item in enumerate(_inputs(body.get("input"))):
        values = vector(item, dimensions)
        tokens += _tokens(item)
        embedding: Any = values
        if as_base64:
            # What OpenAI sends: little-endian float32s, base64-encoded.
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": body.get("model", "mock"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
