"""Request transform: the body is already OpenAI-shaped; encode it once.

Reasoning: ``reasoning_effort`` is OpenAI's own and passes through; the portable
``thinking`` has no OpenAI field (OpenAI rejects unknown parameters), so it is dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.reasoning import dropped

DROPPED_OPTIONS = ("thinking",)


def encode_request(body: dict[str, Any], kind: str = "openai") -> bytes:
    if "thinking" in body:
        body = {k: v for k, v in body.items() if k not in DROPPED_OPTIONS}
        dropped(kind, DROPPED_OPTIONS)
    return orjson.dumps(body)
