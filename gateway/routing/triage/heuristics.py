"""The rules that need no classifier (README, Complexity routing: Heuristics).

- A short, plain-text request (no tools, images or code) goes straight to `simple`.
- A request with tools or images, or over `large_prompt_tokens`, never goes below
  `floor_tier`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.config.triage import TriageHeuristics

_MEDIA_PARTS = frozenset(("image_url", "image", "input_image", "input_audio", "audio", "file"))
# Code: a fenced block, or a line that starts or ends the way source code does.
_CODE = re.compile(
    r"```|^\s*(?:def|class|import|from\s+\S+\s+import|#include|function|const|let|var|"
    r"public|private|fn|func|package|SELECT|INSERT|UPDATE|CREATE)\b|[;{}]\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Signals:
    tools: bool
    media: bool
    code: bool
    text_chars: int
    large: bool


def _has_tools(payload: dict[str, Any], messages: list[Any]) -> bool:
    if payload.get("tools") or payload.get("functions"):
        return True
    return any(
        isinstance(m, dict) and (m.get("role") in ("tool", "function") or m.get("tool_calls"))
        for m in messages
    )


def read_signals(payload: dict[str, Any], prompt_estimate: int, rules: TriageHeuristics) -> Signals:
    messages = payload.get("messages")
    messages = messages if isinstance(messages, list) else []
    media = False
    chars = 0
    texts: list[str] = []
    for message in messages:
        # An app's system prompt is the same for every request: only the turns count.
        if not isinstance(message, dict) or message.get("role") in ("system", "developer"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") in _MEDIA_PARTS:
                    media = True
                elif isinstance(text := part.get("text"), str):
                    texts.append(text)
                    chars += len(text)
    # Code matters only to the short-request rule: a long prompt is never scanned.
    code = chars <= rules.simple_max_chars and any(_CODE.search(t) for t in texts)
    return Signals(
        tools=_has_tools(payload, messages),
        media=media,
        code=code,
        text_chars=chars,
        large=prompt_estimate > rules.large_prompt_tokens,
    )


def heuristic_verdict(rules: TriageHeuristics, signals: Signals) -> str | None:
    """``simple`` when the short-request rule decides; else ``None`` (ask the classifier)."""
    if rules.simple_max_chars <= 0:
        return None
    if signals.tools or signals.media or signals.code or signals.large:
        return None
    return "simple" if signals.text_chars <= rules.simple_max_chars else None


def floor_tier(rules: TriageHeuristics, signals: Signals) -> str | None:
    """The lowest tier this request may get, or ``None`` when no floor applies."""
    if rules.floor_tier is None:
        return None
    if signals.tools or signals.media or signals.large:
        return rules.floor_tier
    return None
