"""The real ``openai`` SDK's Responses API calls against ``gateway serve``: plain and
streamed answers, fallback before the first event, and response-id affinity (also
across two replicas sharing Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.conftest import GatewayFactory
from tests.support.fake_upstream import Behavior, FakeUpstream, error, ok

PRICE = {"input": 2.0, "output": 8.0, "cached_input": 0.5}


def responses_config(upstreams: dict[str, str], **extra: Any) -> dict[str, Any]:
    """One provider per fake upstream; model `<provider>-m` on each; route `agent`
    serves them in the given order."""
    return {
        "providers": {
            name: {"kind": "openai", "base_url": url, "timeout_s": 5, "connect_timeout_s": 1}
            for name, url in upstreams.items()
        },
        "models": {f"{name}-m": {"provider": name, "price": PRICE} for name in upstreams},
        "routes": {"agent": {"api": "responses", "pool": [f"{n}-m" for n in upstreams]}},
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300, "ttft_timeout_s": 3},
        **extra,
    }


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="client-secret", max_retries=0)


def test_plain_and_streamed_answers(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("a-m", ok("the quick brown fox"))
    gw = gateway_factory(responses_config({"a": fake_upstream.base_url}))
    sdk = client(gw.base_url)
    raw = sdk.responses.with_raw_response.create(model="agent", input="hi")
    answer = raw.parse()
    assert answer.output_text == "the quick brown fox"
    assert answer.usage is not None and answer.usage.output_tokens_details.reasoning_tokens == 12
    assert raw.headers["x-gateway-route"] == "agent"
    # 100 uncached × $2 + 20 cached × $0.5 + 30 × $8, per million: 450 micro-USD.
    assert raw.headers["x-gateway-cost-usd"] == "0.000450"
    events = list(sdk.responses.create(model="agent", input="hi", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "the quick brown fox"
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    with sdk.responses.stream(model="agent", input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "the quick brown fox"
    assert [r.path for r in fake_upstream.hits()] == ["/v1/responses"] * 3


def test_stream_fails_over_on_an_error_event_before_output(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("a-m", Behavior(kind="error_event"))
    second_upstream.set("b-m", ok("from b"))
    gw = gateway_factory(
        responses_config({"a": fake_upstream.base_url, "b": second_upstream.base_url})
    )
    events = list(client(gw.base_url).responses.create(model="agent", input="x", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "from b"
    assert [e.type for e in events].count("response.created") == 1
    assert len(fake_upstream.hits("a-m")) == 1


def test_error_after_output_ends_with_an_error_event(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("a-m", Behavior(kind="error_after_output", reply="one two"))
    gw = gateway_factory(
        responses_config({"a": fake_upstream.base_url, "b": second_upstream.base_url})
    )
    events = list(client(gw.base_url).responses.create(model="agent", input="x", stream=True))
    assert [e.type for e in events][-2:] == ["response.output_text.delta", "error"]
    assert second_upstream.hits() == []
    # A connection cut after output: the gateway ends the stream with its own error
    # event, numbered after the last event relayed.
    fake_upstream.set("a-m", Behavior(kind="break_stream", reply="one two"))
    events = list(client(gw.base_url).responses.create(model="agent", input="x", stream=True))
    assert events[-1].type == "error"
    assert events[-1].code == "upstream_stream_error"
    assert events[-1].sequence_number == events[-2].sequence_number + 1
    assert second_upstream.hits() == []


def test_plain_fallback_and_no_capable_member(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("a-m", error(500))
    config = responses_config({"a": fake_upstream.base_url, "b": second_upstream.base_url})
    config["providers"]["m"] = {"kind": "anthropic", "base_url": second_upstream.base_url}
    config["models"]["claude"] = {"provider": "m"}
    config["routes"]["claude-only"] = {"pool": ["claude"]}
    gw = gateway_factory(config)
    raw = client(gw.base_url).responses.with_raw_response.create(model="agent", input="x")
    assert raw.headers["x-gateway-model"] == "b-m" and raw.headers["x-gateway-attempts"] == "2"
    with pytest.raises(openai.BadRequestError) as refused:
        client(gw.base_url).responses.create(model="claude-only", input="x")
    assert refused.value.code == "unsupported_operation"
    assert "can serve responses (its providers" in refused.value.message


def _affinity_round(
    make: openai.OpenAI,
    follow: openai.OpenAI,
    a: FakeUpstream,
    b: FakeUpstream,
    settled: Callable[[], bool] = lambda: True,
) -> None:
    """A response made on b (pinned by its alias), then a follow-up on the route whose
    first member is a, and a retrieval: both must go to b, which alone knows the id."""
    first = make.responses.create(model="b-m", input="one")
    assert b.responses_state.made[first.id] == "b-m"
    a.set("a-m", ok("wrong member"))
    second = follow.responses.create(model="agent", input="two", previous_response_id=first.id)
    assert second.output_text == "echo: two"
    assert b.hits("b-m")[-1].body["previous_response_id"] == first.id
    assert follow.responses.retrieve(first.id).id == first.id
    items = follow.responses.input_items.list(first.id, limit=5, order="asc")
    assert [item.id for item in items.data] == ["msg_in"]
    listed = b.hits()[-1]
    assert listed.path == f"/v1/responses/{first.id}/input_items"
    assert sorted(listed.query.split("&")) == ["limit=5", "order=asc"]
    assert follow.responses.cancel(first.id).status == "cancelled"
    assert b.hits()[-1].path == f"/v1/responses/{first.id}/cancel"
    assert a.hits() == []
    follow.responses.delete(second.id)
    assert second.id not in b.responses_state.made
    assert a.wait_for(settled)  # the removal is shared in the background
    with pytest.raises(openai.NotFoundError) as gone:
        follow.responses.retrieve(second.id)
    assert gone.value.code == "not_found"


def test_previous_response_id_and_retrieve_reach_the_holder(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(
        responses_config({"a": fake_upstream.base_url, "b": second_upstream.base_url})
    )
    sdk = client(gw.base_url)
    _affinity_round(sdk, sdk, fake_upstream, second_upstream)


def test_affinity_across_replicas_sharing_redis(
    fake_upstream: FakeUpstream,
    second_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = responses_config(
        {"a": fake_upstream.base_url, "b": second_upstream.base_url},
        state={"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix},
    )
    one = gateway_factory(config, name="one")
    two = gateway_factory(config, name="two")
    shared = redis.Redis.from_url(redis_url)

    def only_first_left() -> bool:
        # The first response's record; the deleted one's is gone.
        return len(shared.keys(f"{shared_prefix}:affinity:*")) == 1

    _affinity_round(
        client(one.base_url), client(two.base_url), fake_upstream, second_upstream, only_first_left
    )


def test_parked_holder_is_a_503_naming_it(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(
        responses_config({"a": fake_upstream.base_url, "b": second_upstream.base_url})
    )
    sdk = client(gw.base_url)
    first = sdk.responses.create(model="agent", input="one")
    assert fake_upstream.responses_state.made[first.id] == "a-m"
    fake_upstream.set("a-m", error(503, "down"))
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.responses.create(model="agent", input="two", previous_response_id=first.id)
    assert failed.value.status_code == 503
    assert failed.value.code == "response_holder_unavailable"
    assert "'a-m'" in failed.value.message and "failed" in failed.value.message
    with pytest.raises(openai.InternalServerError) as parked:
        sdk.responses.retrieve(first.id)
    assert "parked" in parked.value.message
    assert second_upstream.hits() == []
    unknown = httpx.get(gw.base_url + "/responses/resp_unknown", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
