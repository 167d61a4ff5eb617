"""Error mapping for OpenAI-compatible upstreams."""

from __future__ import annotations

_CONTEXT_MARKERS = (
    b"context_length_exceeded",
    b"maximum context length",
    b"context window",
    b"too many tokens",
    b"prompt is too long",
)


def is_context_length_error(status: int, body: bytes) -> bool:
    if status not in (400, 413, 422):
        return False
    lowered = body[:4096].lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)
