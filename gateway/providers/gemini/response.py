"""Response transform: a Gemini ``GenerateContentResponse`` becomes an OpenAI chat
completion. The stream transform builds its chunks from the same pieces."""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from gateway.errors import error_body
from gateway.providers.chat_parts import assistant_message
from gateway.providers.gemini.request import SIGNATURE_MARK
from gateway.providers.translated import NotAnAnswer

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "OTHER": "stop",
}
BLOCKED_STATUS = 400


def finish_reason(raw: Any, has_calls: bool) -> str | None:
    if raw is None or raw == "FINISH_REASON_UNSPECIFIED":
        return None
    reason = FINISH_REASONS.get(str(raw), "stop")
    # Gemini says STOP after a function call; OpenAI clients look for tool_calls.
    return "tool_calls" if has_calls and reason == "stop" else reason


def openai_usage(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, dict):
        return None

    def count(name: str) -> int:
        value = meta.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    # Thinking is billed as output: it is part of completion_tokens, and also shown apart.
    completion = count("candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": count("cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def new_completion_id() -> str:
    # Gemini's older API versions send no responseId; OpenAI clients expect an id.
    return "chatcmpl-" + os.urandom(12).hex()


def new_call_id(part: dict[str, Any]) -> str:
    call = part.get("functionCall")
    given = call.get("id") if isinstance(call, dict) else None
    call_id = given if isinstance(given, str) and given else "call_" + os.urandom(12).hex()
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        call_id += SIGNATURE_MARK + signature
    return call_id


def tool_call(part: dict[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    return {
        "id": new_call_id(part),
        "type": "function",
        "function": {
            "name": call.get("name"),
            "arguments": orjson.dumps(call.get("args") or {}).decode(),
        },
    }


def candidate_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _choice(candidate: dict[str, Any], position: int) -> dict[str, Any]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in candidate_parts(candidate):
        if isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
    message = assistant_message(texts, thoughts, calls)
    index = candidate.get("index")
    return {
        "index": index if isinstance(index, int) else position,
        "message": message,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)) or "stop",
        "logprobs": None,
    }


def blocked_prompt(answer: dict[str, Any]) -> str | None:
    """The block reason when Gemini refused the prompt itself (no candidates)."""
    feedback = answer.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason and not answer.get("candidates"):
        return str(reason)
    return None


def blocked_error(reason: str) -> bytes:
    return error_body(
        f"the prompt was blocked by the provider ({reason})",
        "invalid_request_error",
        "messages",
        "content_filter",
    )


def transform_response(status: int, body: bytes) -> tuple[int, bytes]:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotAnAnswer("the body is not JSON") from exc
    if not isinstance(answer, dict):
        raise NotAnAnswer("the body is not an object")
    reason = blocked_prompt(answer)
    if reason is not None:
        return BLOCKED_STATUS, blocked_error(reason)
    candidates = answer.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise NotAnAnswer("the body has no candidates")
    choices = [_choice(c, i) for i, c in enumerate(candidates) if isinstance(c, dict)]
    completion: dict[str, Any] = {
        "id": str(answer.get("responseId") or new_completion_id()),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(answer.get("modelVersion") or ""),
        "choices": choices,
    }
    usage = openai_usage(answer.get("usageMetadata"))
    if usage is not None:
        completion["usage"] = usage
    return status, orjson.dumps(completion)
