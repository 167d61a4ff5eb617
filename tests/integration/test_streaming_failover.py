"""Streaming failover (spec §5): before the first byte the plan falls over; after it,
an upstream failure becomes an error event; a client that leaves ends the plan."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.integration.test_fallback import cooldowns, make_config, outcomes
from tests.support.fake_upstream import (
    FakeUpstream,
    break_stream,
    error,
    ok,
    slow_first_byte,
)
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


def sdk(gw: InProcessGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="client", max_retries=0, timeout=10)


def joined(chunks: Iterable[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def stream_text(gw: InProcessGateway) -> str:
    return joined(sdk(gw).chat.completions.create(model="chat", messages=MESSAGES, stream=True))


def test_ttft_timeout_falls_over_to_one_clean_stream(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", slow_first_byte(5, reply="too late"))
    fake_upstream.set("m2", ok("the second member answers"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"], {"ttft_timeout_s": 0.5}))

    assert stream_text(gw) == "the second member answers"
    assert fake_upstream.order() == ["m1", "m2"]
    assert outcomes(gw) == [("m1", "ttft_timeout"), ("m2", "success")]
    # The slow upstream was hung up on, and parked for cooldown_s.
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects)
    assert cooldowns(gw)["fake/m1"] == pytest.approx(30, abs=1)


@pytest.mark.parametrize("status", [500, 503, 529, 429])
def test_error_before_the_first_byte_falls_over(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    status: int,
) -> None:
    fake_upstream.set("m1", error(status))
    fake_upstream.set("m2", ok("a clean stream from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    with sdk(gw).chat.completions.with_streaming_response.create(
        model="chat",
        messages=MESSAGES,
        stream=True,
    ) as raw:
        assert raw.headers["x-gateway-model"] == "m2"
        assert raw.headers["x-gateway-attempts"] == "2"
        text = joined(raw.parse())
    assert text == "a clean stream from m2"
    assert fake_upstream.order() == ["m1", "m2"]
    assert list(cooldowns(gw)) == ["fake/m1"]


def test_break_inside_the_first_event_still_falls_over(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    # A fragment of the first event is not a byte that can be forwarded: until one
    # whole event has arrived, the stream may still go to the next member.
    fake_upstream.set("m1", break_stream(after=0, break_partial=25))
    fake_upstream.set("m2", ok("a clean stream from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    with sdk(gw).chat.completions.with_streaming_response.create(
        model="chat", messages=MESSAGES, stream=True
    ) as raw:
        assert raw.headers["x-gateway-model"] == "m2"
        assert raw.headers["x-gateway-attempts"] == "2"
        text = joined(raw.parse())
    assert text == "a clean stream from m2"
    assert fake_upstream.order() == ["m1", "m2"]
    assert outcomes(gw) == [("m1", "connect_error"), ("m2", "success")]


def test_mid_stream_break_is_an_error_event_not_a_failover(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", break_stream(after=2, reply="one two three four five six seven"))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    with pytest.raises(openai.APIError):
        stream_text(gw)
    assert fake_upstream.order() == ["m1"]

    # On the wire: the events that made it, then one error event and [DONE].
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={"model": "chat", "messages": MESSAGES, "stream": True},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        body = response.read().decode()
    events = [e for e in body.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events[-2].startswith('data: {"error":')
    assert '"code":"upstream_stream_error"' in events[-2]
    assert len(events) == 4  # two content events made it before the break
    assert '"content":"one' in events[0]
    assert fake_upstream.order() == ["m1", "m1"]
    assert cooldowns(gw) == {}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "buffered"])
def test_client_disconnect_ends_the_plan(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    stream: bool,
) -> None:
    # m1 is slow to its first byte; the client gives up long before the gateway would
    # (TTFT / provider timeout), so only the client's leaving can end this attempt.
    fake_upstream.set("m1", slow_first_byte(6))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"ttft_timeout_s": 4}, timeout_s=4)
    )

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "chat", "messages": MESSAGES, "stream": stream},
            timeout=httpx.Timeout(5, read=0.3),
        )

    # The request is over (its record was handed to the observers) ...
    record = gw.wait_for_records(1)[0]
    assert record.status == 499
    assert record.error_type == "client_disconnect"
    assert [(a.alias, a.outcome) for a in record.attempts] == [("m1", "client_disconnect")]
    # ... the upstream connection was closed, and no other member was tried.
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects)
    assert fake_upstream.order() == ["m1"]
    assert cooldowns(gw) == {}  # leaving is not the member's fault


def test_break_inside_an_event_still_ends_with_a_parseable_error_event(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    # The connection drops halfway through the third event: that fragment is not an
    # event, so it must not be glued in front of the error event.
    fake_upstream.set(
        "m1", break_stream(after=2, break_partial=25, reply="one two three four five six seven")
    )
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    with pytest.raises(openai.APIError) as raised:
        stream_text(gw)
    assert "upstream stream broke off" in raised.value.message

    events = raw_stream_events(gw)
    assert events[-1] == "data: [DONE]"
    error_event = json.loads(events[-2].removeprefix("data: "))
    assert error_event["error"]["code"] == "upstream_stream_error"
    assert len(events) == 4  # the two whole events, the error, [DONE]


def raw_stream_events(gw: Any) -> list[str]:
    """The SSE events of one streamed chat request, as the client's socket saw them."""
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={"model": "chat", "messages": MESSAGES, "stream": True},
        timeout=10,
    ) as response:
        body = response.read().decode()
    return [e for e in body.split("\n\n") if e]


def test_stream_ending_without_done_ends_with_a_truncation_error_event(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    # The upstream ends its body properly but mid-event and without [DONE].
    fake_upstream.set(
        "m1",
        break_stream(
            after=2, break_partial=25, break_cleanly=True, reply="one two three four five six"
        ),
    )
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    with pytest.raises(openai.APIError) as raised:
        stream_text(gw)
    assert "ended early" in raised.value.message

    events = raw_stream_events(gw)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2].removeprefix("data: "))["error"]["code"] == "stream_truncated"
    assert len(events) == 4
    assert fake_upstream.order() == ["m1", "m1"]
