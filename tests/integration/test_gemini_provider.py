"""The ``gemini`` kind over real sockets, with the OpenAI SDK as the client: the gateway
speaks OpenAI to the client and ``generateContent`` to a fake Gemini that enforces the
real API's rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.integration.test_anthropic_provider import sdk
from tests.integration.test_fallback import cooldowns, outcomes
from tests.support.fake_gemini import (
    FakeGemini,
    blocked,
    call,
    parts,
    resource_exhausted,
    text,
    too_many_tokens,
    unavailable,
)
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)
from tests.support.tools import WEATHER_TOOL

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello"},
]
USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "candidatesTokenCount": 20,
    "thoughtsTokenCount": 80,
    "totalTokenCount": 1100,
}


@pytest.fixture(autouse=True)
def _gemini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_TEST_KEY", "gemini-test-key\n")


def gemini_config(gemini: FakeGemini, openai_base: str) -> dict[str, Any]:
    return {
        "server": {"api_keys_env": None},
        "providers": {
            "google": {
                "kind": "gemini",
                "base_url": gemini.base_url,
                "api_key_env": "GEMINI_TEST_KEY",
                "timeout_s": 5,
                "connect_timeout_s": 1,
            },
            "fake": {"kind": "openai", "base_url": openai_base, "timeout_s": 5},
        },
        "models": {
            "flash": {
                "provider": "google",
                "model": "gemini-flash",
                "context_window": 8192,
                "price": {"input": 0.30, "output": 2.50, "cached_input": 0.075},
            },
            "pro": {"provider": "google", "model": "gemini-pro", "context_window": 1_000_000},
            "gpt": {"provider": "fake", "model": "gpt-backup"},
        },
        "routes": {
            "chat": {"pool": ["flash", "gpt"]},
            "long": {"pool": ["flash", "pro"]},
        },
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300, "ttft_timeout_s": 2},
    }


@pytest.fixture
def gw(
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> InProcessGateway:
    return inprocess_gateway(gemini_config(fake_gemini, fake_upstream.base_url))


def test_completion_with_system_instruction_usage_and_cost(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    fake_gemini.set(
        "gemini-flash",
        parts({"text": "Thinking it over.", "thought": True}, {"text": "Hi!"}, usage=USAGE),
    )

    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, temperature=0.1, max_tokens=64
    )
    completion = raw.parse()

    message = completion.choices[0].message
    assert message.content == "Hi!"
    assert message.model_extra == {"reasoning_content": "Thinking it over."}
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1000, 100)
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 400
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 80
    # 600 × 0.30 + 400 × 0.075 + 100 × 2.50 per million = 460 micro-USD, exactly
    assert raw.headers["x-gateway-cost-usd"] == "0.000460"
    record = gw.wait_for_records(1)[0]
    assert record.usage is not None
    assert (record.usage.input_tokens, record.usage.output_tokens) == (1000, 100)
    assert record.cost_pico_usd == 460 * 1_000_000

    (hit,) = fake_gemini.hits()
    assert hit.path == "/v1beta/models/gemini-flash:generateContent"
    assert hit.headers["x-goog-api-key"] == "gemini-test-key"
    assert "authorization" not in hit.headers
    assert hit.body == {
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.1, "maxOutputTokens": 64},
    }


def test_tool_calls_round_trip(fake_gemini: FakeGemini, gw: InProcessGateway) -> None:
    fake_gemini.set("gemini-flash", parts(call("get_weather", {"city": "Paris"})))
    client = sdk(gw)

    completion = client.chat.completions.create(
        model="chat", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (tool_call,) = choice.message.tool_calls or []
    assert tool_call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    first = fake_gemini.hits()[0].body
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert first["tools"][0]["functionDeclarations"][0]["parameters"] == {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
        "required": ["city"],
    }

    fake_gemini.set("gemini-flash", text("Sunny in Paris."))
    follow_up: list[Any] = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tool_call.id, "content": '{"sky": "clear"}'},
    ]
    answer = client.chat.completions.create(model="chat", messages=follow_up, tools=[WEATHER_TOOL])

    assert answer.choices[0].message.content == "Sunny in Paris."
    assert fake_gemini.hits()[1].body["contents"][1:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}}],
        },
    ]


def test_images_and_json_schema_output(fake_gemini: FakeGemini, gw: InProcessGateway) -> None:
    fake_gemini.set("gemini-flash", text('{"animal": "cat"}'))
    schema = {
        "type": "object",
        "properties": {"animal": {"type": "string"}},
        "required": ["animal"],
        "additionalProperties": False,
    }

    completion = sdk(gw).chat.completions.create(
        model="chat",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What animal?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            }
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "animal", "schema": schema, "strict": True},
        },
    )

    assert json.loads(completion.choices[0].message.content or "") == {"animal": "cat"}
    body = fake_gemini.hits()[0].body
    assert body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}
    }
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"animal": {"type": "STRING"}},
            "required": ["animal"],
        },
    }


@pytest.mark.parametrize(
    ("finish", "expected"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter")]
)
def test_finish_reasons_reach_the_client(
    fake_gemini: FakeGemini, gw: InProcessGateway, finish: str, expected: str
) -> None:
    fake_gemini.set("gemini-flash", text("cut", finish_reason=finish))
    completion = sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)
    assert completion.choices[0].finish_reason == expected


@pytest.mark.parametrize(
    ("failure", "outcome", "parked_s"),
    [(resource_exhausted("7s"), "rate_limited", 7), (unavailable(), "upstream_5xx", 30)],
)
def test_429_and_503_fall_over_to_another_kind_and_park(
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    gw: InProcessGateway,
    failure: Any,
    outcome: str,
    parked_s: float,
) -> None:
    fake_gemini.set("gemini-flash", failure)
    fake_upstream.set("gpt-backup", ok("from openai"))

    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from openai"
    assert response.headers["x-gateway-provider"] == "fake"
    assert outcomes(gw) == [("flash", outcome), ("gpt", "success")]
    # A RetryInfo delay in Gemini's body parks the member that long.
    assert cooldowns(gw)["google/gemini-flash"] == pytest.approx(parked_s, abs=1.5)


def test_a_context_length_error_escalates_to_a_larger_member(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    fake_gemini.set("gemini-flash", too_many_tokens())
    fake_gemini.set("gemini-pro", text("from pro"))

    completion = sdk(gw).chat.completions.create(model="long", messages=MESSAGES)

    assert completion.choices[0].message.content == "from pro"
    assert outcomes(gw) == [("flash", "context_length"), ("pro", "success")]
    assert "google/gemini-flash" not in cooldowns(gw)  # the client's prompt, not an outage


def test_a_blocked_prompt_is_a_client_error_without_fallback(
    fake_gemini: FakeGemini, fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    fake_gemini.set("gemini-flash", blocked("PROHIBITED_CONTENT"))

    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)

    assert caught.value.code == "content_filter"
    assert "PROHIBITED_CONTENT" in caught.value.message
    # Streaming, the refusal arrives as the first event: still a 400, before any byte.
    with pytest.raises(openai.BadRequestError) as streamed:
        list(sdk(gw).chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    assert streamed.value.code == "content_filter"
    assert fake_upstream.hits() == []
    assert [r.status for r in gw.wait_for_records(2)] == [400, 400]


def test_a_bad_gateway_key_is_a_credential_failure_that_falls_over(
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    gw: InProcessGateway,
) -> None:
    fake_gemini.keys = {"another-key"}  # Gemini answers 400 API_KEY_INVALID
    completion = sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert outcomes(gw) == [("flash", "bad_credentials"), ("gpt", "success")]
    assert cooldowns(gw)["google/gemini-flash"] == pytest.approx(300, abs=1.5)
