"""The rules that need no classifier (README, Complexity routing: Heuristics).

- A short, plain-text request (no tools, images or code) goes straight to `simple`.
- A request with tools or images, or over `large_prompt_tokens`, never goes below
  `floor_tier`.

Both rules are read in one pass over the messages, run on every request of a triage
route that has them: the pass stops at the first sign of tools or media, and the
code pattern runs only on a request short enough for the first rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.config.triage import TriageHeuristics
from gateway.routing.triage.prompt import SYSTEM_ROLES

# Tuples, not sets: a client may send any JSON as a role or a part's type, and an
# unhashable one must not fail the membership test.
_MEDIA_PARTS = ("image_url", "image", "input_image", "input_audio", "audio", "file")
_TOOL_ROLES = ("tool", "function")
# Code: a fenced block, or a line that starts or ends the way source code does. One
# pattern with all three alternatives is tried at every position of the text; these are
# tried only where they can match (a line's start, a text with one of `;{}` in it).
_KEYWORD = (
    r"\s*(?:def|class|import|from\s+\S+\s+import|#include|function|const|let|var|"
    r"public|private|fn|func|package|SELECT|INSERT|UPDATE|CREATE)\b"
)
_FIRST_LINE_CODE = re.compile(_KEYWORD)
_LATER_LINE_CODE = re.compile("\n" + _KEYWORD)
_LINE_END_CODE = re.compile(r"[;{}]\s*$", re.MULTILINE)

Judgement = tuple[str | None, str | None]
_UNDECIDED: Judgement = (None, None)


@dataclass(frozen=True, slots=True)
class Rules:
    """A route's ``TriageHeuristics`` as plain attributes, read on every request."""

    simple_max_chars: int
    large_prompt_tokens: int
    floored: Judgement  # what a request under the floor rule gets

    @classmethod
    def of(cls, section: TriageHeuristics) -> Rules:
        floor = section.floor_tier
        floored = (None, floor) if floor is not None else _UNDECIDED
        return cls(section.simple_max_chars, section.large_prompt_tokens, floored)


def looks_like_code(text: str) -> bool:
    if "```" in text or _FIRST_LINE_CODE.match(text):
        return True
    if "\n" in text and _LATER_LINE_CODE.search(text):
        return True
    return (";" in text or "{" in text or "}" in text) and bool(_LINE_END_CODE.search(text))


def judge(payload: dict[str, Any], prompt_estimate: int, rules: Rules) -> Judgement:
    """``(verdict, floor)``: ``("simple", None)`` when the short-request rule decides,
    ``(None, floor)`` when the floor applies, else ``(None, None)``: ask the classifier."""
    floored = rules.floored
    if payload.get("tools") or payload.get("functions"):
        return floored
    if prompt_estimate > rules.large_prompt_tokens:
        return floored
    messages = payload.get("messages")
    limit = rules.simple_max_chars
    chars = 0
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in _TOOL_ROLES or message.get("tool_calls"):
            return floored
        if role in SYSTEM_ROLES:
            continue  # an app's system prompt is the same for every request
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") in _MEDIA_PARTS:
                    return floored
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
                    chars += len(text)
    if chars > limit or limit <= 0:
        return _UNDECIDED
    # Code matters only to the short-request rule: a long prompt is never scanned.
    for text in texts:
        if looks_like_code(text):
            return _UNDECIDED
    return ("simple", None)
