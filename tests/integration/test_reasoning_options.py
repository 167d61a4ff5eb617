"""Reasoning options over real sockets: one route option, each kind's own field upstream,
and thinking back as ``reasoning_content`` in answers and streams."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_anthropic_provider import sdk
from tests.support.fake_anthropic import FakeAnthropic, message
from tests.support.fake_gemini import GATEWAY_KEY, FakeGemini, parts
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

HI: Any = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture
def gw(
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> InProcessGateway:
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", "sk-ant-test")
    monkeypatch.setenv("GEMINI_TEST_KEY", GATEWAY_KEY)
    effort = {"reasoning_effort": "medium"}
    return inprocess_gateway(
        {
            "server": {"api_keys_env": None},
            "providers": {
                "claude": {
                    "kind": "anthropic",
                    "base_url": fake_anthropic.base_url,
                    "api_key_env": "ANTHROPIC_TEST_KEY",
                },
                "google": {
                    "kind": "gemini",
                    "base_url": fake_gemini.base_url,
                    "api_key_env": "GEMINI_TEST_KEY",
                },
                "openai": {"kind": "openai", "base_url": fake_upstream.base_url},
            },
            "models": {
                "sonnet": {"provider": "claude", "model": "claude-sonnet"},
                "flash": {"provider": "google", "model": "gemini-flash"},
                "gpt": {"provider": "openai", "model": "o4-mini"},
            },
            "routes": {
                "think-claude": {"pool": ["sonnet"], "options": effort},
                "think-gemini": {"pool": ["flash"], "options": effort},
                "think-openai": {"pool": ["gpt"], "options": effort},
            },
        }
    )


def test_one_route_option_becomes_each_kinds_field(
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    fake_upstream: FakeUpstream,
    gw: InProcessGateway,
) -> None:
    client = sdk(gw)
    for route in ("think-claude", "think-gemini", "think-openai"):
        # The client's own fields go with it: Anthropic's rules drop temperature.
        client.chat.completions.create(model=route, messages=HI, temperature=0.2, max_tokens=500)

    claude = fake_anthropic.hits()[0].body
    assert claude["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert claude["max_tokens"] == 8192 + 500
    assert "temperature" not in claude
    gemini = fake_gemini.hits()[0].body
    assert gemini["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 500,
        "thinkingConfig": {"thinkingBudget": 8192},
    }
    openai_body = fake_upstream.hits("o4-mini")[0].body
    assert openai_body["reasoning_effort"] == "medium"


def test_anthropic_thinking_comes_back_as_reasoning_content(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    behavior = message("Rayleigh scattering.", thinking="Short wavelengths scatter more.")
    fake_anthropic.set("claude-sonnet", behavior, behavior)
    client = sdk(gw)

    answer = client.chat.completions.create(model="think-claude", messages=HI)
    chunks = list(client.chat.completions.create(model="think-claude", messages=HI, stream=True))

    assert answer.choices[0].message.content == "Rayleigh scattering."
    assert answer.choices[0].message.model_extra == {
        "reasoning_content": "Short wavelengths scatter more."
    }
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas)
    assert reasoning == "Short wavelengths scatter more."
    assert "".join(d.content or "" for d in deltas) == "Rayleigh scattering."


def test_gemini_thoughts_come_back_when_asked(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    fake_gemini.set(
        "gemini-flash", parts({"text": "Light scatters.", "thought": True}, {"text": "Blue."})
    )

    chunks = list(
        sdk(gw).chat.completions.create(
            model="think-gemini",
            messages=HI,
            stream=True,
            extra_body={"thinking": {"budget_tokens": 2000, "include_thoughts": True}},
        )
    )

    config = fake_gemini.hits()[0].body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 2000, "includeThoughts": True}
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas)
    assert reasoning == "Light scatters."
    assert "".join(d.content or "" for d in deltas) == "Blue."
