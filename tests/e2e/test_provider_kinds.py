"""The real ``openai`` SDK against ``gateway serve`` in front of the translating kinds:
a Gemini stream of text and tool calls assembled by the SDK, and a mixed pool (Gemini,
then Anthropic, then OpenAI) falling over in order with exact usage and cost."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_logs import request_lines
from tests.support.fake_anthropic import FakeAnthropic, message, overloaded
from tests.support.fake_gemini import FakeGemini, call, parts, unavailable
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.gateway_process import GatewayProcess

KEYS = {"GEMINI_KEY": "gemini-test-key", "ANTHROPIC_KEY": "sk-ant-test"}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "candidatesTokenCount": 20,
    "thoughtsTokenCount": 80,
    "totalTokenCount": 1100,
}
CLAUDE_USAGE = {
    "input_tokens": 20,
    "output_tokens": 9,
    "cache_read_input_tokens": 10,
    "cache_creation_input_tokens": 3,
}


def mixed_config(
    gemini: FakeGemini, anthropic: FakeAnthropic, fake: FakeUpstream
) -> dict[str, Any]:
    return {
        "server": {"api_keys_env": None},
        "providers": {
            "google": {"kind": "gemini", "base_url": gemini.base_url, "api_key_env": "GEMINI_KEY"},
            # The form the Anthropic SDK and ANTHROPIC_BASE_URL use: no /v1.
            "claude": {
                "kind": "anthropic",
                "base_url": anthropic.base_url.removesuffix("/v1"),
                "api_key_env": "ANTHROPIC_KEY",
            },
            "openai": {"kind": "openai", "base_url": fake.base_url},
        },
        "models": {
            "gem": {
                "provider": "google",
                "model": "gemini-flash",
                "price": {"input": 0.30, "output": 2.50, "cached_input": 0.075},
            },
            "sonnet": {
                "provider": "claude",
                "model": "claude-sonnet",
                "price": {"input": 3, "output": 15, "cached_input": 0.30},
            },
            "gpt": {
                "provider": "openai",
                "model": "gpt-mini",
                "price": {"input": 2, "output": 4, "cached_input": 1},
            },
        },
        "routes": {"mixed": {"pool": ["gem", "sonnet", "gpt"]}},
        # Nothing parks without a Retry-After, so every request walks the pool in order.
        "resilience": {"cooldown_s": 0, "max_cooldown_s": 300},
    }


@pytest.fixture
def gw(
    fake_gemini: FakeGemini,
    fake_anthropic: FakeAnthropic,
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
) -> GatewayProcess:
    return gateway_factory(mixed_config(fake_gemini, fake_anthropic, fake_upstream), env=KEYS)


def sdk(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="client", max_retries=0, timeout=10)


def test_a_gemini_stream_of_text_and_tool_calls_assembles_in_the_sdk(
    fake_gemini: FakeGemini, gw: GatewayProcess
) -> None:
    fake_gemini.set(
        "gemini-flash",
        parts(
            {"text": "Checking both cities."},
            call("get_weather", {"city": "Paris"}),
            call("get_weather", {"city": "Oslo"}),
            usage=GEMINI_USAGE,
            piece_size=7,  # every event, and most lines, split across reads
        ),
    )

    with sdk(gw).chat.completions.stream(
        model="mixed",
        messages=[{"role": "user", "content": "Weather in Paris and Oslo?"}],
        tools=[WEATHER_TOOL],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()

    choice = final.choices[0]
    assert choice.message.content == "Checking both cities."
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert len({c.id for c in calls}) == 2
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (1000, 100)
    (hit,) = fake_gemini.hits()
    assert hit.path == "/v1beta/models/gemini-flash:streamGenerateContent"
    assert hit.query == "alt=sse"

    plain = list(
        sdk(gw).chat.completions.create(
            model="mixed", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in plain if c.choices) == (
        "Checking both cities."
    )
    assert all(c.usage is None for c in plain)  # not asked for: none shown


def usage_by_model(gw: GatewayProcess, requests: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        body = httpx.get(gw.base_url + "/gateway/usage", params={"group_by": "model"}).json()
        rows = {row["model"]: row for row in body["data"]}
        if sum(r["requests"] for r in rows.values()) >= requests or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_mixed_pool_falls_over_in_order_with_exact_usage_and_cost(
    fake_gemini: FakeGemini,
    fake_anthropic: FakeAnthropic,
    fake_upstream: FakeUpstream,
    gw: GatewayProcess,
) -> None:
    client = sdk(gw)
    hi: Any = [{"role": "user", "content": "hi"}]
    fake_gemini.set(
        "gemini-flash", parts({"text": "from gemini"}, usage=GEMINI_USAGE), unavailable()
    )
    fake_anthropic.set("claude-sonnet", message("from claude", usage=CLAUDE_USAGE), overloaded())
    fake_upstream.set("gpt-mini", ok("from openai"))

    first = client.chat.completions.with_raw_response.create(model="mixed", messages=hi)
    # Gemini's 503 moves on to Anthropic, which answers as a stream.
    second = client.chat.completions.create(model="mixed", messages=hi, stream=True)
    second_text = "".join(c.choices[0].delta.content or "" for c in second if c.choices)
    # Gemini's 503, then Anthropic's 529, move on to OpenAI.
    third = client.chat.completions.with_raw_response.create(model="mixed", messages=hi)

    assert first.parse().choices[0].message.content == "from gemini"
    assert first.headers["x-gateway-attempts"] == "1"
    assert second_text == "from claude"
    assert third.parse().choices[0].message.content == "from openai"
    assert third.headers["x-gateway-provider"] == "openai"
    assert third.headers["x-gateway-attempts"] == "3"
    lines = request_lines(gw, 3)
    assert [[(a["model"], a["outcome"]) for a in ln["attempts"]] for ln in lines] == [
        [("gem", "success")],
        [("gem", "upstream_5xx"), ("sonnet", "success")],
        [("gem", "upstream_5xx"), ("sonnet", "upstream_5xx"), ("gpt", "success")],
    ]

    rows = usage_by_model(gw, 3)
    got = {
        model: (
            r["requests"],
            r["input_tokens"],
            r["output_tokens"],
            r["cached_tokens"],
            r["cost_micro_usd"],
        )
        for model, r in rows.items()
    }
    assert got == {
        # 600 × 0.30 + 400 × 0.075 + 100 × 2.50 (thought tokens billed as output)
        "gem": (1, 1000, 100, 400, 460),
        # prompt = 20 + 10 read + 3 written; 23 × 3 + 10 × 0.30 + 9 × 15
        "sonnet": (1, 33, 9, 10, 207),
        # 8 × 2 + 3 × 1 + 7 × 4
        "gpt": (1, 11, 7, 3, 47),
    }
    # The Anthropic SDK's base-URL form reached /v1/messages.
    assert {hit.path for hit in fake_anthropic.hits()} == {"/v1/messages"}
