"""What the classifier is asked: the documented prompt and a compact transcript.

The transcript is the system message and the last turns, newest kept first, cut to
``max_classifier_tokens`` (at four characters a token, the gateway's estimate
everywhere). Images, audio and tool calls appear as short placeholders.
"""

from __future__ import annotations

from typing import Any

DEFAULT_PROMPT = """\
You route requests to language models of four strengths. Read the conversation \
below and judge how capable a model must be to answer its last message well.
- simple: greetings, small talk, short factual lookups, rewording or translating a short text.
- medium: explanations, summaries, ordinary writing and everyday code questions.
- complex: multi-step reasoning, careful analysis, non-trivial code, long or precise documents.
- expert: research-grade problems, hard mathematics or proofs, intricate system design, \
high-stakes specialist advice.
Answer with only a JSON object, for example {"tier": "medium"}."""

CHARS_PER_TOKEN = 4
SYSTEM_ROLES = ("system", "developer")  # a tuple: a role may be any JSON value
CUT = " […]"
# The system message may take at most this share of the budget: the last turns matter more.
SYSTEM_SHARE = 0.25
# The classifier answers with a few tokens; a cap keeps a chatty model cheap.
CLASSIFIER_MAX_TOKENS = 20


def content_text(content: Any) -> str:
    """A message's content as plain text, with placeholders for what is not text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind in ("image_url", "image", "input_image"):
            parts.append("[image]")
        elif kind in ("input_audio", "audio"):
            parts.append("[audio]")
        elif kind == "file":
            parts.append("[file]")
    return "\n".join(parts)


def _message_line(message: dict[str, Any]) -> str:
    role = message.get("role")
    content = message.get("content")
    text = content if isinstance(content, str) else content_text(content)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        names = [
            str(c.get("function", {}).get("name", "?"))
            for c in calls
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        ]
        text = (text + " " if text else "") + f"[tool calls: {', '.join(names)}]"
    return (role if isinstance(role, str) else "user") + ": " + text


def _cut(text: str, budget: int) -> str:
    return text if len(text) <= budget else text[: max(0, budget - len(CUT))] + CUT


def transcript(messages: list[Any], max_tokens: int) -> str:
    """The conversation as the classifier sees it, at most ``max_tokens`` long."""
    budget = max_tokens * CHARS_PER_TOKEN
    head = ""
    for message in messages:  # the first system message, usually the first message
        if isinstance(message, dict) and message.get("role") in SYSTEM_ROLES:
            head = _cut(_message_line(message), int(budget * SYSTEM_SHARE))
            budget -= len(head) + 1
            break
    kept: list[str] = []
    for message in reversed(messages):  # the latest turns first, while the budget lasts
        if budget <= len(CUT):
            break
        if not isinstance(message, dict) or message.get("role") in SYSTEM_ROLES:
            continue
        line = _message_line(message)
        if len(line) > budget:
            line = _cut(line, budget)
        kept.append(line)
        budget -= len(line) + 1
    if head:
        kept.append(head)
    kept.reverse()
    return "\n".join(kept)


def classifier_body(prompt: str, conversation: str, json_mode: bool) -> dict[str, Any]:
    """The chat body sent to the classifier's plan (its members' options merge in)."""
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": prompt},
            {"role": "user", "content": conversation},
        ],
        "temperature": 0,
        "max_tokens": CLASSIFIER_MAX_TOKENS,
    }
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    return body
