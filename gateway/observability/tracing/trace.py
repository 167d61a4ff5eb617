"""What one request's trace carries between its spans, and what goes upstream."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.observability.tracing.spans import INTERNAL, AnySpan, Recorder

# The gateway's provider kinds as gen_ai.provider.name's well-known values.
PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic"}
_FINISH_REASON = re.compile(rb'"finish_reason"\s*:\s*"([^"\\]{1,64})"')
# Anthropic's, where a member answers the Messages door natively (message_start's null
# stop_reason is not a string: not matched). Looked for only where the first finds
# nothing and the key is there: one pattern with both names scans every body slower.
_STOP_REASON = re.compile(rb'"stop_reason"\s*:\s*"([^"\\]{1,64})"')
# Longer than any finish_reason field, so one split across two reads is still found.
_OVERLAP = 96


def provider_name(kind: str) -> str:
    return PROVIDER_NAMES.get(kind, kind)


class RequestTrace:
    """The request's SERVER span (the parent of the spans below it), and what the
    attempt that answered found out."""

    __slots__ = ("finish_reasons", "provider_kind", "recorder", "span")

    def __init__(self, span: AnySpan, recorder: Recorder) -> None:
        self.span = span
        self.recorder = recorder
        self.finish_reasons: list[str] = []
        self.provider_kind: str | None = None

    def child(self, name: str, attributes: Mapping[str, Any], kind: int = INTERNAL) -> AnySpan:
        """A span under the request's, for a stage's own work (see ``stage_span``)."""
        return self.recorder.child(self.span, name, kind, dict(attributes))


def finish_reasons(body: bytes) -> list[str]:
    found = _FINISH_REASON.findall(body)
    if not found and b'"stop_reason"' in body:
        found = _STOP_REASON.findall(body)
    if len(found) == 1:  # the usual answer: one choice, no comprehension's frame
        return [found[0].decode("ascii", "replace")]
    return [m.decode("ascii", "replace") for m in found]


class FinishReasonScanner:
    """Finds ``finish_reason`` (or Anthropic's ``stop_reason``) values in a stream read
    piece by piece, without parsing its events: each piece is searched with the end of
    the one before."""

    __slots__ = ("_pattern", "_tail", "reasons")

    def __init__(self) -> None:
        self._tail = b""
        self.reasons: list[str] = []
        self._pattern: re.Pattern[bytes] | None = None

    def feed(self, piece: bytes) -> None:
        if not piece:
            return
        pattern = self._pattern
        if pattern is None:
            # The first piece tells the wire: Anthropic's message_start carries a
            # (null) stop_reason; an OpenAI chunk does not.
            pattern = _STOP_REASON if b'"stop_reason"' in piece else _FINISH_REASON
            self._pattern = pattern
        tail = self._tail
        window = tail + piece
        for match in pattern.finditer(window):
            if match.end() > len(tail):  # not already found in the piece before
                self.reasons.append(match.group(1).decode("ascii", "replace"))
        self._tail = window[-_OVERLAP:]
