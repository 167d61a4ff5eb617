"""A deterministic chat completion."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from gateway.providers.mock.request import estimate_tokens, prompt_tokens


def completion_id(body: dict[str, Any]) -> str:
    digest = hashlib.sha1(orjson.dumps(body.get("messages"))).hexdigest()[:24]
    return f"chatcmpl-mock-{digest}"


def usage(body: dict[str, Any], reply: str) -> dict[str, int]:
    prompt = prompt_tokens(body)
    completion = estimate_tokens(reply)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(body: dict[str, Any], reply: str) -> bytes:
    return orjson.dumps(
        {
            "id": completion_id(body),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage(body, reply),
        }
    )
