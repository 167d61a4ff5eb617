"""Stream transform: OpenAI server-sent events pass through byte for byte."""

from __future__ import annotations


def transform_event(event: bytes) -> bytes:
    return event
