"""Streaming through a triage route with the real ``openai`` SDK and ``gateway serve``."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.fake_upstream import FakeUpstream, break_stream, error, ok
from tests.support.gateway_process import GatewayProcess
from tests.support.triage_configs import QUESTION, triage_config

MESSAGES = [{"role": "user", "content": QUESTION}]


def sdk(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)


def test_stream_fails_over_inside_the_chosen_tier_then_errors_after_first_byte(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    fake_upstream.set("sonnet", error(503))
    fake_upstream.set("sonnet-b", ok("one two three four five six"))
    gw = gateway_factory(triage_config(fake_upstream.base_url, triage={"cache_ttl_s": 0}))
    client = sdk(gw)

    # Before the first byte: sonnet's 503 moves to sonnet-b, still the complex tier.
    raw = client.chat.completions.with_raw_response.create(
        model="assistant", messages=MESSAGES, stream=True
    )
    assert raw.headers["x-gateway-tier"] == "complex"
    assert raw.headers["x-gateway-tier-reason"] == "classifier"
    assert raw.headers["x-gateway-model"] == "sonnet-b"
    assert raw.headers["x-gateway-attempts"] == "2"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert all(c.usage is None for c in chunks), "the gateway's own usage request leaked"
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet-b"]
    # The classifier was asked without streaming; the answer streamed.
    assert fake_upstream.hits("judge")[0].body.get("stream") is None
    assert fake_upstream.hits("sonnet-b")[0].body["stream"] is True

    # After the first byte a broken stream is the same error event as on any route,
    # with no failover and no escalation (sonnet is parked since the 503).
    fake_upstream.reset()
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    fake_upstream.set("sonnet-b", break_stream(after=2))
    stream = client.chat.completions.create(model="assistant", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError, match="upstream"):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert received, "the stream had started before it broke"
    assert fake_upstream.order() == ["judge", "sonnet-b"]


def test_stream_escalates_when_the_tier_is_exhausted(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("judge", ok("complex"))
    fake_upstream.set("sonnet", error(503))
    fake_upstream.set("sonnet-b", error(529, "overloaded"))
    fake_upstream.set("opus", ok("from the expert tier"))
    gw = gateway_factory(triage_config(fake_upstream.base_url))
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="assistant",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-gateway-tier"] == "expert"
    assert raw.headers["x-gateway-tier-reason"] == "escalated"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "from the expert tier"
    )
    assert [c.usage.completion_tokens for c in chunks if c.usage is not None] == [7]
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet-b", "opus"]
