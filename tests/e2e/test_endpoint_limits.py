"""Inbound auth, the body limit, request ids and the OpenAI error shape hold on every
new endpoint, and bad input never stops the server."""

from __future__ import annotations

import httpx

from tests.conftest import GatewayFactory
from tests.e2e.test_responses_sdk import responses_config
from tests.support.fake_upstream import FakeUpstream


def test_auth_body_limit_and_request_id_on_every_new_endpoint(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = responses_config(
        {"a": fake_upstream.base_url},
        server={"api_keys": ["inbound-key"], "api_keys_env": None, "max_body_bytes": 2000},
    )
    config["models"]["e"] = {"provider": "a", "type": "embeddings"}
    gw = gateway_factory(config)
    key = {"Authorization": "Bearer inbound-key"}
    made = httpx.post(
        gw.base_url + "/responses", json={"model": "agent", "input": "x"}, headers=key
    ).json()
    calls = [
        ("POST", "/embeddings", {"model": "e", "input": "x"}),
        ("POST", "/responses", {"model": "agent", "input": "x"}),
        ("GET", f"/responses/{made['id']}", None),
        ("DELETE", f"/responses/{made['id']}", None),
    ]
    with httpx.Client(base_url=gw.base_url, timeout=10) as http:
        for method, path, body in calls:
            refused = http.request(method, path, json=body)
            assert refused.status_code == 401, (method, path)
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.headers["x-request-id"]
        for method, path, body in calls:
            answered = http.request(
                method, path, json=body, headers={**key, "x-request-id": "client-id-1"}
            )
            assert answered.status_code == 200, (method, path, answered.text)
            assert answered.headers["x-request-id"] == "client-id-1"
            assert answered.headers["x-gateway-attempts"] == "1"
            assert "Authorization" not in fake_upstream.hits()[-1].headers
        for path in ("/embeddings", "/responses"):
            too_big = http.post(path, content=b'{"input":"' + b"x" * 3000 + b'"}', headers=key)
            assert too_big.status_code == 413
            assert too_big.json()["error"]["code"] == "request_too_large"
            broken = http.post(path, content=b'{"model": ', headers=key)
            assert broken.status_code == 400
            assert broken.json()["error"]["type"] == "invalid_request_error"
        bad_id = http.get("/responses/not%20an%20id", headers=key)
        assert bad_id.status_code == 400 and bad_id.json()["error"]["param"] == "response_id"
        bad_previous = http.post(
            "/responses",
            json={"model": "agent", "input": "x", "previous_response_id": 7},
            headers=key,
        )
        assert bad_previous.status_code == 400
        assert bad_previous.json()["error"]["param"] == "previous_response_id"
        assert httpx.get(gw.url + "/healthz").status_code == 200
