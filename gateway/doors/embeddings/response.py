"""Reading usage from an embeddings answer without decoding its vectors.

A batch answer is mostly numbers (or base64 text); its ``usage`` object comes last
in OpenAI's answers. Only that object is parsed; the whole body only when it is not
where expected.
"""

from __future__ import annotations

import orjson

from gateway.accounting.usage import usage_from_body, usage_from_mapping
from gateway.observability.record import Usage

_USAGE_KEY = b'"usage"'


def embeddings_usage(body: bytes) -> Usage | None:
    at = body.rfind(_USAGE_KEY)
    if at < 0:
        return None
    start = body.find(b"{", at)
    end = body.find(b"}", start)
    if start >= 0 and end > start:
        try:
            found = usage_from_mapping(orjson.loads(body[start : end + 1]))
        except orjson.JSONDecodeError:
            found = None
        if found is not None:
            return found
    return usage_from_body(body)
