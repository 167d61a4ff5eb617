"""The real ``openai`` SDK against ``gateway serve`` with governed keys: each refusal is
the SDK's own exception, and its backoff (honouring ``Retry-After``) gets through."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok, slow_first_byte

MESSAGES = [{"role": "user", "content": "hello there"}]


def sdk(url: str, key: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=retries)


def test_refusals_are_the_sdks_exceptions_and_its_backoff_works(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["models"]["m1"]["price"] = {"input": 1000, "output": 1000}
    config["routes"]["other"] = {"pool": ["m1"]}
    config["keys"] = {
        "scoped": {"secret": "sk-scoped", "routes": ["chat"], "rpm": 1},
        "broke": {"secret": "sk-broke", "budget": {"daily_usd": 0.001}},
        "one-at-a-time": {"secret": "sk-one", "max_parallel": 1},
    }
    gw = gateway_factory(config)
    with pytest.raises(openai.AuthenticationError) as auth:
        sdk(gw.base_url, "sk-nope").chat.completions.create(model="chat", messages=MESSAGES)
    assert auth.value.code == "invalid_api_key"
    scoped = sdk(gw.base_url, "sk-scoped")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        scoped.chat.completions.create(model="other", messages=MESSAGES)
    assert denied.value.code == "permission_denied"
    raw = scoped.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as limited:
        scoped.chat.completions.create(model="chat", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["retry-after"]) >= 1
    broke = sdk(gw.base_url, "sk-broke")
    broke.chat.completions.create(model="chat", messages=MESSAGES)  # 0.018 of 0.001 USD
    deadline = time.monotonic() + 5
    while True:
        try:
            broke.chat.completions.create(model="chat", messages=MESSAGES)
        except openai.RateLimitError as exc:
            assert exc.code == "insufficient_quota"
            break
        assert time.monotonic() < deadline, "the budget was never enforced"

    # max_parallel answers Retry-After: 1; the SDK waits and tries again by itself.
    fake_upstream.reset()
    fake_upstream.set("m1", slow_first_byte(1.5), ok("second"))
    held = threading.Thread(
        target=lambda: sdk(gw.base_url, "sk-one").chat.completions.create(
            model="chat", messages=MESSAGES
        )
    )
    held.start()
    while not fake_upstream.hits() and time.monotonic() < deadline + 5:
        time.sleep(0.01)
    started = time.monotonic()
    reply = sdk(gw.base_url, "sk-one", retries=4).chat.completions.create(
        model="chat", messages=MESSAGES
    )
    held.join(10)
    assert reply.choices[0].message.content == "second"
    assert time.monotonic() - started >= 1.0  # it waited as told
    assert len(fake_upstream.hits()) == 2  # the refusals never reached the upstream
