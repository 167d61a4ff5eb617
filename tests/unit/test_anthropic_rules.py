"""The fake Anthropic's rules refuse what the real API refuses: each broken variant
of a valid conversation is caught, so the replay tests can fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.anthropic_rules import count_tokens_problem, request_problem

SIGNED = "sig_ok"


def valid() -> dict[str, Any]:
    return {
        "model": "m",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "do it"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": SIGNED},
                    {"type": "tool_use", "id": "tu1", "name": "f", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1"}]},
        ],
    }


def broken(change: str) -> dict[str, Any]:
    body = copy.deepcopy(valid())
    messages = body["messages"]
    if change == "no max_tokens":
        del body["max_tokens"]
    elif change == "an OpenAI field":
        body["stream_options"] = {"include_usage": True}
    elif change == "roles repeat":
        messages.insert(1, {"role": "user", "content": "again"})
    elif change == "tool_result missing":
        messages[2]["content"] = "no result"
    elif change == "tool_result for no call":
        messages[2]["content"][0]["tool_use_id"] = "other"
    elif change == "tool_result after text":
        messages[2]["content"].insert(0, {"type": "text", "text": "x"})
    elif change == "signature lost":
        messages[1]["content"][0]["signature"] = ""
    elif change == "thinking block dropped":
        del messages[1]["content"][0]
    elif change == "five cache breakpoints":
        body["system"] = [
            {"type": "text", "text": str(i), "cache_control": {"type": "ephemeral"}}
            for i in range(5)
        ]
    elif change == "budget over max_tokens":
        body["thinking"]["budget_tokens"] = 5000
    return body


def test_the_valid_conversation_passes() -> None:
    assert request_problem(valid(), {SIGNED}) is None


@pytest.mark.parametrize(
    "change",
    [
        "no max_tokens",
        "an OpenAI field",
        "roles repeat",
        "tool_result missing",
        "tool_result for no call",
        "tool_result after text",
        "signature lost",
        "thinking block dropped",
        "five cache breakpoints",
        "budget over max_tokens",
    ],
)
def test_each_broken_rule_is_refused(change: str) -> None:
    assert request_problem(broken(change), {SIGNED}) is not None


def test_count_tokens_refuses_generation_fields() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert count_tokens_problem(body) is None
    assert count_tokens_problem({**body, "max_tokens": 10}) is not None
