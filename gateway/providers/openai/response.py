"""Response transform: an OpenAI-compatible body passes through unchanged."""

from __future__ import annotations


def transform_response(body: bytes) -> bytes:
    return body
