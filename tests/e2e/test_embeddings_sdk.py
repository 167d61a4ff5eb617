"""The real ``openai`` SDK's ``embeddings.create`` against ``gateway serve`` and fake
upstreams on real sockets."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.fake_endpoints import vector
from tests.support.fake_upstream import FakeUpstream, error

PRICE = {"input": 0.13, "output": 0.0}


def embed_config(base_url: str, members: list[str]) -> dict[str, Any]:
    return {
        "providers": {
            "fake": {"kind": "openai", "base_url": base_url, "timeout_s": 5, "connect_timeout_s": 1}
        },
        "models": {
            **{m: {"provider": "fake", "type": "embeddings", "price": PRICE} for m in members},
            "chat-model": {"provider": "fake"},
        },
        "routes": {"embed": {"pool": members}, "chat": {"pool": ["chat-model"]}},
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300},
    }


def client(gw_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw_url, api_key="client-secret", max_retries=0)


def test_string_list_and_base64_inputs(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(embed_config(fake_upstream.base_url, ["e1"]))
    sdk = client(gw.base_url)
    # The SDK asks for base64 by default and decodes it: the bytes pass through.
    one = sdk.embeddings.create(model="embed", input="hello")
    assert fake_upstream.hits("e1")[-1].body["encoding_format"] == "base64"
    assert one.data[0].embedding == pytest.approx(vector(0, 3))
    assert one.usage.prompt_tokens == 9
    many = sdk.embeddings.create(model="embed", input=["a", "b", "c"], dimensions=5)
    assert [d.index for d in many.data] == [0, 1, 2]
    assert many.data[2].embedding == pytest.approx(vector(2, 5))
    assert fake_upstream.hits("e1")[-1].body["dimensions"] == 5
    floats = sdk.embeddings.create(model="embed", input=[[1, 2, 3]], encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(vector(0, 3))
    assert fake_upstream.hits("e1")[-1].body["input"] == [[1, 2, 3]]
    assert fake_upstream.hits("e1")[-1].path == "/v1/embeddings"


def test_answer_bytes_forwarded_unchanged(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(embed_config(fake_upstream.base_url, ["e1"]))
    body = {"model": "embed", "input": ["x"] * 16, "encoding_format": "base64"}
    through = httpx.post(gw.base_url + "/embeddings", json=body, timeout=10)
    direct = httpx.post(
        fake_upstream.base_url + "/embeddings", json={**body, "model": "e1"}, timeout=10
    )
    assert through.status_code == 200
    assert through.content == direct.content
    assert through.headers["x-gateway-route"] == "embed"
    assert through.headers["x-gateway-cost-usd"] == "0.00000117"  # 9 tokens × $0.13/M, exact


def test_fallback_from_a_failing_member(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("e1", error(503, "overloaded"))
    gw = gateway_factory(embed_config(fake_upstream.base_url, ["e1", "e2"]))
    raw = client(gw.base_url).embeddings.with_raw_response.create(model="embed", input="x")
    assert raw.parse().data[0].embedding == pytest.approx(vector(0, 3))
    assert raw.headers["x-gateway-model"] == "e2"
    assert raw.headers["x-gateway-attempts"] == "2"
    # e1 is parked now: the next call skips it.
    client(gw.base_url).embeddings.create(model="embed", input="y")
    assert [r.model for r in fake_upstream.hits()] == ["e1", "e2", "e2"]


def test_type_mismatch_is_404_with_the_endpoint(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(embed_config(fake_upstream.base_url, ["e1"]))
    sdk = client(gw.base_url)
    with pytest.raises(openai.NotFoundError) as chat_named:
        sdk.embeddings.create(model="chat", input="x")
    assert chat_named.value.code == "model_not_found"
    assert "/v1/chat/completions" in chat_named.value.message
    with pytest.raises(openai.NotFoundError) as embed_named:
        sdk.chat.completions.create(model="e1", messages=[{"role": "user", "content": "x"}])
    assert "an embeddings model" in embed_named.value.message
    assert "/v1/embeddings" in embed_named.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="embed", input="x")
    assert fake_upstream.hits() == []
    models = {m.id: m for m in sdk.models.list()}
    assert models["embed"].model_extra == {"type": "embeddings"}
    assert models["chat"].model_extra == {"type": "chat"}


def test_bad_embeddings_input_is_400(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(
        {**embed_config(fake_upstream.base_url, ["e1"]), "server": {"max_body_bytes": 100_000}}
    )
    for body, param in [
        ({"model": "embed"}, "input"),
        ({"model": "embed", "input": []}, "input"),
        ({"model": "embed", "input": [1, "a"]}, "input[0]"),
        ({"model": "embed", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "embed", "input": "x", "dimensions": "3"}, "dimensions"),
    ]:
        answer = httpx.post(gw.base_url + "/embeddings", json=body, timeout=5)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["param"] == param
    too_big = httpx.post(
        gw.base_url + "/embeddings",
        content=b'{"model":"embed","input":"' + b"x" * 200_000 + b'"}',
        timeout=10,
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"
    assert fake_upstream.hits() == []


def test_size_check_and_max_attempts_as_for_chat(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = embed_config(fake_upstream.base_url, ["tiny", "e1", "e2"])
    config["models"]["tiny"]["context_window"] = 4
    config["resilience"]["max_attempts"] = 1
    fake_upstream.set("e1", error(503, "overloaded"))
    gw = gateway_factory(config)
    sdk = client(gw.base_url)
    # Each input is checked against the window: a short batch fits the tiny model.
    assert sdk.embeddings.create(model="embed", input=["short", "ones"]).model == "tiny"
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.embeddings.create(model="embed", input=["a much longer input than four tokens"])
    assert failed.value.status_code == 503
    assert "tiny → too_small" in failed.value.message
    assert "stopped after max_attempts=1" in failed.value.message
    assert [r.model for r in fake_upstream.hits()] == ["tiny", "e1"]


def test_a_cached_route_answers_repeated_embeddings_from_the_cache(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = embed_config(fake_upstream.base_url, ["e1"])
    config["routes"]["embed"]["cache"] = True  # deterministic_only needs no temperature here
    gw = gateway_factory(config)
    sdk = client(gw.base_url)
    first = sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"])
    again = sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"])
    other = sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"], dimensions=4)
    assert [r.headers["x-gateway-cache"] for r in (first, again, other)] == ["miss", "hit", "miss"]
    assert again.content == first.content
    assert len(fake_upstream.hits("e1")) == 2
    assert "x-gateway-cost-usd" not in again.headers
