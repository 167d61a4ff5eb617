"""The Messages API's request rules, as the real API enforces them, for the fake
Anthropic server: a request the real API would refuse is refused here too, with its
words, so a gateway that drops, reorders or invents fields fails the tests."""

from __future__ import annotations

from typing import Any

TOP_LEVEL = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
COUNT_TOKENS_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}
)
MAX_CACHE_BREAKPOINTS = 4


def header_problem(headers: dict[str, str], key: str) -> tuple[int, str, str] | None:
    if headers.get("x-api-key") != key:
        return 401, "authentication_error", "invalid x-api-key"
    if not headers.get("anthropic-version"):
        return 400, "invalid_request_error", "anthropic-version: header is required"
    if "authorization" in headers:
        return 400, "invalid_request_error", "the client's Authorization reached the upstream"
    return None


def count_tokens_problem(body: dict[str, Any]) -> str | None:
    extra = sorted(set(body) - COUNT_TOKENS_FIELDS)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    return _messages_problem(body.get("messages"), None, set())


def request_problem(body: dict[str, Any], signatures: set[str]) -> str | None:
    """What the real API says of ``body``, or ``None`` when it would take it."""
    extra = sorted(set(body) - TOP_LEVEL)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required"
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            return "thinking: Input tag does not match any of the expected tags"
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return (
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            if budget >= max_tokens:
                return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if _cache_breakpoints(body) > MAX_CACHE_BREAKPOINTS:
        return "A maximum of 4 blocks with cache_control may be provided."
    for i, tool in enumerate(body.get("tools") or []):
        if "input_schema" not in tool and "type" not in tool:
            return f"tools.{i}.custom.input_schema: Field required"
    enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    return _messages_problem(body.get("messages"), enabled, signatures)


def _cache_breakpoints(value: Any) -> int:
    if isinstance(value, dict):
        own = 1 if isinstance(value.get("cache_control"), dict) else 0
        return own + sum(_cache_breakpoints(v) for k, v in value.items() if k != "cache_control")
    if isinstance(value, list):
        return sum(_cache_breakpoints(v) for v in value)
    return 0


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _messages_problem(messages: Any, thinking: bool | None, signatures: set[str]) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    pending: set[str] = set()  # tool_use ids the next user turn must answer
    for i, message in enumerate(messages):
        role = message.get("role")
        if i and role == messages[i - 1].get("role"):
            return 'messages: roles must alternate between "user" and "assistant"'
        blocks = _blocks(message.get("content"))
        if role == "user":
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if blocks[: len(results)] != results:
                return f"messages.{i}: tool_result blocks must come first in the user turn"
            answered = {str(b.get("tool_use_id")) for b in results}
            if pending - answered:
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {sorted(pending - answered)[0]}"
                )
            if answered - pending:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {sorted(answered - pending)[0]}"
                )
            pending = set()
        else:
            uses = [b for b in blocks if b.get("type") == "tool_use"]
            pending = {str(b.get("id")) for b in uses}
            for block in blocks:
                if block.get("type") == "thinking" and block.get("signature") not in signatures:
                    return f"messages.{i}: Invalid `signature` in `thinking` block"
            last_assistant = all(m.get("role") != "assistant" for m in messages[i + 1 :])
            if (
                thinking
                and uses
                and last_assistant
                and blocks[0].get("type")
                not in (
                    "thinking",
                    "redacted_thinking",
                )
            ):
                return (
                    f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                    f"but found `{blocks[0].get('type')}`. When `thinking` is enabled, a final "
                    "`assistant` message must start with a thinking block."
                )
    return None
