"""Adversarial requests on the embeddings and Responses endpoints (in-process gateway,
real sockets, FakeUpstream and the mock): a success or an OpenAI-shaped 4xx, never a
5xx of the gateway's own, never a hang, and the gateway still serves afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_fuzz_requests import (
    AUTH,
    FUZZ,
    INBOUND_KEY,
    MAX_BODY,
    RawResponse,
    assert_sane,
    json_values,
    raw_request,
    upstream,
)
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessGateway

__all__ = ["upstream"]  # the fuzz module's fake upstream fixture, shared


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[InProcessGateway]:
    config: dict[str, Any] = {
        "server": {"max_body_bytes": MAX_BODY, "api_keys_env": None, "api_keys": [INBOUND_KEY]},
        "providers": {
            "fake": {"kind": "openai", "base_url": upstream.base_url, "timeout_s": 5},
            "mock": {"kind": "mock"},
        },
        "models": {
            "e1": {"provider": "fake", "type": "embeddings"},
            "e2": {"provider": "mock", "type": "embeddings"},
            "c1": {"provider": "fake"},
            "c2": {"provider": "mock"},
        },
        "routes": {"embed": {"pool": ["e1", "e2"]}, "agent": {"api": "responses", "pool": ["c1"]}},
        "resilience": {"ttft_timeout_s": 3},
    }
    gw = InProcessGateway(config).start()
    yield gw
    gw.stop()


models = st.one_of(
    st.sampled_from(["embed", "agent", "e1", "e2", "c2", "fake/x", "mock/x", ""]), json_values
)
token_lists = st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=4)
inputs = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=4),
    token_lists,
    st.lists(token_lists, max_size=3),
    json_values,
)
embedding_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "input": inputs,
        "encoding_format": st.one_of(st.sampled_from(["float", "base64"]), json_values),
        "dimensions": st.one_of(st.integers(min_value=-5, max_value=2**62), json_values),
        "stream": json_values,
        "user": json_values,
    },
)
response_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "input": inputs,
        "stream": st.one_of(st.booleans(), json_values),
        "store": json_values,
        "previous_response_id": st.one_of(st.text(max_size=20), json_values),
        "instructions": json_values,
    },
)


def assert_sane_stream(response: RawResponse | None) -> None:
    assert response is not None
    if (response.header("content-type") or "").startswith("text/event-stream"):
        assert response.status == 200
        last = response.body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
        assert last.startswith((b"event: response.completed", b"event: error")), last[:200]
        return
    assert_sane(response)


def still_serving(gateway: InProcessGateway) -> None:
    body = json.dumps({"model": "embed", "input": "ok"}).encode()
    response = raw_request(gateway.port, "POST", "/v1/embeddings", [AUTH], body)
    assert response is not None and response.status == 200, response


@FUZZ
@given(body=embedding_bodies)
def test_arbitrary_embeddings_bodies(gateway: InProcessGateway, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert_sane(raw_request(gateway.port, "POST", "/v1/embeddings", [AUTH], raw))


@FUZZ
@given(body=response_bodies)
def test_arbitrary_responses_bodies(gateway: InProcessGateway, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert_sane_stream(raw_request(gateway.port, "POST", "/v1/responses", [AUTH], raw))


@FUZZ
@given(
    method=st.sampled_from(["GET", "DELETE", "POST", "PUT"]),
    rest=st.text(alphabet=st.sampled_from(list("resp_0aZ%./?#-:~")), max_size=40),
)
def test_arbitrary_stored_response_paths(gateway: InProcessGateway, method: str, rest: str) -> None:
    response = raw_request(gateway.port, method, "/v1/responses/" + rest, [AUTH])
    if response is not None and response.status == 400 and response.body.startswith(b"Invalid"):
        return  # the HTTP server refused the request line itself
    if response is not None and 300 <= response.status < 400:
        return  # Starlette's trailing-slash redirect
    assert_sane(response, chat=False)


def test_still_serving_after_the_fuzzing(gateway: InProcessGateway) -> None:
    still_serving(gateway)
