"""One gateway in front of a fake Anthropic and a fake OpenAI-compatible upstream, for
the ``/v1/messages`` tests: routes with an Anthropic member, an OpenAI-compatible one,
both (for fallback), and two Anthropic members that tests overload."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.support.fake_anthropic import FakeAnthropic, providers_section
from tests.support.gateway_process import GatewayProcess

CLIENT_KEY = "client-key-123"
ANTHROPIC_KEY = "sk-ant-test"
CLAUDE_PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.4, "cache_write_input": 4.0}
GPT_PRICE = {"input": 1.0, "output": 2.0, "cached_input": 1.0}


def messages_config(anthropic: FakeAnthropic, openai_base: str) -> dict[str, Any]:
    def claude(model: str) -> dict[str, Any]:
        return {"provider": "claude", "model": model, "price": CLAUDE_PRICE}

    return {
        "server": {"api_keys_env": None, "api_keys": [CLIENT_KEY]},
        "providers": providers_section(anthropic, openai_base),
        "models": {
            "claude": claude("claude-sonnet-4-5"),
            "claude-flaky": claude("claude-flaky"),
            "claude-busy-1": claude("claude-busy-1"),
            "claude-busy-2": claude("claude-busy-2"),
            "gpt": {"provider": "fake", "model": "gpt-x", "price": GPT_PRICE},
            "gpt-backup": {"provider": "fake", "model": "gpt-backup", "price": GPT_PRICE},
        },
        "routes": {
            "sonnet": {"pool": ["claude"], "options": {"temperature": 0.5}},
            # A chat-only option: merged after the translation, so it reaches the member.
            "gpt-route": {"pool": ["gpt"], "options": {"seed": 7}},
            "resilient": {"pool": ["claude-flaky", "gpt-backup"]},
            "busy": {"pool": ["claude-busy-1", "claude-busy-2"]},
            # Claude Code asks for a dated model name: a route by that name serves it.
            "claude-haiku-4-5-20251001": {"pool": ["claude"]},
        },
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300, "ttft_timeout_s": 3},
    }


def expected_micro_usd(price: dict[str, float], usage: dict[str, int]) -> int:
    """The cost of a usage in Anthropic's terms, worked out independently of the
    gateway: each kind of input token at its own price."""
    micro = (
        usage.get("input_tokens", 0) * price["input"]
        + usage.get("cache_read_input_tokens", 0) * price["cached_input"]
        + usage.get("cache_creation_input_tokens", 0)
        * price.get("cache_write_input", price["input"])
        + usage.get("output_tokens", 0) * price["output"]
    )
    return round(micro)


def sdk(gateway: GatewayProcess, **kw: Any) -> anthropic.Anthropic:
    # The SDK's base URL is the gateway's root: it appends /v1/messages itself.
    kw.setdefault("api_key", CLIENT_KEY)
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0, **kw)
