"""Request transform: the body is already OpenAI-shaped; encode it once."""

from __future__ import annotations

from typing import Any

import orjson


def encode_request(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
