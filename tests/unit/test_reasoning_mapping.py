"""Reasoning options, one spelling, mapped per kind (README, the options mapping table)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.providers.gemini import request as gemini_request
from gateway.providers.openai import request as openai_request
from gateway.translate.anthropic import request_to_messages as anthropic_request
from gateway.translate.anthropic.response_to_chat import transform_response
from gateway.translate.anthropic.stream_to_chat import StreamTransformer
from tests.support.fake_anthropic import message, stream_events, thinking_problem
from tests.support.gemini_rules import check_request

USER = [{"role": "user", "content": "Why is the sky blue?"}]


def openai_body(body: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(openai_request.encode_request(body))
    return parsed


def test_openai_passes_reasoning_effort_through_and_drops_portable_thinking() -> None:
    body = {"model": "o4-mini", "messages": USER, "reasoning_effort": "high"}
    assert openai_body(body) == body
    with_thinking = {**body, "thinking": {"budget_tokens": 2048}}
    assert openai_body(with_thinking) == body


@pytest.mark.parametrize(
    ("options", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "low"}, {"type": "enabled", "budget_tokens": 2048}, 2048 + 4096),
        (
            {"reasoning_effort": "high", "max_tokens": 1000},
            {"type": "enabled", "budget_tokens": 24576},
            25576,
        ),
        (
            {"thinking": {"budget_tokens": 3000}, "max_tokens": 8000},
            {"type": "enabled", "budget_tokens": 3000},
            8000,
        ),
        (
            {"thinking": {"budget_tokens": 100}, "max_tokens": 5000},
            {"type": "enabled", "budget_tokens": 1024},
            5000,
        ),
        ({"reasoning_effort": "minimal"}, {"type": "enabled", "budget_tokens": 1024}, 1024 + 4096),
    ],
)
def test_anthropic_maps_to_thinking_under_the_api_rules(
    options: dict[str, Any], thinking: dict[str, Any], max_tokens: int
) -> None:
    body = {
        "model": "claude",
        "messages": USER,
        "temperature": 0.3,
        "top_k": 5,
        "top_p": 0.5,
        **options,
    }
    out = anthropic_request.to_anthropic(body)
    assert out["thinking"] == thinking
    assert out["max_tokens"] == max_tokens
    assert "temperature" not in out and "top_k" not in out and "top_p" not in out
    assert "reasoning_effort" not in out
    assert thinking_problem(out) is None  # what the real API would refuse


@pytest.mark.parametrize(
    "options", [{"reasoning_effort": "none"}, {"thinking": {"budget_tokens": 0}}, {}]
)
def test_anthropic_without_a_budget_sends_no_thinking(options: dict[str, Any]) -> None:
    out = anthropic_request.to_anthropic(
        {"model": "c", "messages": USER, "temperature": 0.3, **options}
    )
    assert "thinking" not in out
    assert out["temperature"] == 0.3


def test_a_request_breaking_the_thinking_rules_is_what_the_fake_refuses() -> None:
    # The fake's rules are not vacuous: the body the mapping avoids is refused.
    bad = {"max_tokens": 1000, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert thinking_problem(bad) == "`max_tokens` must be greater than `thinking.budget_tokens`"
    assert thinking_problem({**bad, "max_tokens": 4096, "temperature": 0.5}) is not None


@pytest.mark.parametrize(
    ("options", "config"),
    [
        ({"reasoning_effort": "low"}, {"thinkingBudget": 1024}),
        ({"reasoning_effort": "medium"}, {"thinkingBudget": 8192}),
        ({"reasoning_effort": "high"}, {"thinkingBudget": 24576}),
        ({"reasoning_effort": "minimal"}, {"thinkingBudget": 512}),
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        (
            {"thinking": {"budget_tokens": 3000, "include_thoughts": True}},
            {"thinkingBudget": 3000, "includeThoughts": True},
        ),
        ({"reasoning_effort": "low", "thinking": {"budget_tokens": 700}}, {"thinkingBudget": 700}),
        ({"thinking": {"include_thoughts": True}}, {"includeThoughts": True}),
    ],
)
def test_gemini_maps_to_thinking_config(options: dict[str, Any], config: dict[str, Any]) -> None:
    out = gemini_request.to_gemini({"model": "g", "messages": USER, **options})
    check_request(out)
    assert out["generationConfig"]["thinkingConfig"] == config


def test_an_unknown_effort_is_dropped_everywhere_but_openai() -> None:
    body = {"model": "m", "messages": USER, "reasoning_effort": "extreme"}
    assert "generationConfig" not in gemini_request.to_gemini(body)
    assert "thinking" not in anthropic_request.to_anthropic(body)
    assert openai_body(body)["reasoning_effort"] == "extreme"  # OpenAI judges its own field


def test_anthropic_thinking_blocks_come_back_as_reasoning_content() -> None:
    body = orjson.dumps(
        {
            "id": "msg_1",
            "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "Rayleigh scattering.", "signature": "s"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "text", "text": "Scattering."},
            ],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 9},
        }
    )
    reply = orjson.loads(transform_response(body))["choices"][0]["message"]
    assert reply == {
        "role": "assistant",
        "content": "Scattering.",
        "reasoning_content": "Rayleigh scattering.",
    }


def test_anthropic_thinking_deltas_stream_as_reasoning_content() -> None:
    events = stream_events("claude", message("Blue light.", thinking="Short waves scatter."))
    translator = StreamTransformer(include_usage=False)
    out = b"".join(translator.feed(e) for e in events)
    deltas = [
        orjson.loads(line[6:])["choices"][0]["delta"]
        for line in out.split(b"\n\n")
        if line.startswith(b"data: {")
    ]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    content = "".join(d.get("content") or "" for d in deltas)
    assert reasoning == "Short waves scatter."
    assert content == "Blue light."
    assert out.endswith(b"data: [DONE]\n\n")
