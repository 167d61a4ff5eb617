"""The response cache over real sockets: a hit calls no upstream, on both backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, break_stream, ok
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

PRICE = {"input": 2.0, "output": 8.0, "cached_input": 0.5}
# 11 prompt tokens (3 cached) and 7 output tokens at PRICE: micro-USD.
COST_MICRO = 8 * 2.0 + 3 * 0.5 + 7 * 8.0
TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    },
    {
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
    },
]


def cache_config(
    upstream: FakeUpstream, state: dict[str, Any] | None = None, **cache: Any
) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1"], api_key_env=None)
    config["models"]["m1"]["price"] = PRICE
    config["routes"]["chat"]["cache"] = {"ttl_s": 60, **cache}
    config["routes"]["plain"] = {"pool": ["m1"]}
    if state is not None:
        config["state"] = state
    return config


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    if request.param == "memory":
        yield None
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("shared_prefix")
    yield {"backend": "redis", "redis_url": url, "key_prefix": prefix}


def post(gw: InProcessGateway | Any, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=10)


def ask(content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "model": "chat",
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def wait_stored(state: dict[str, Any] | None, count: int, timeout: float = 5.0) -> None:
    """The redis backend stores in the background: poll Redis until ``count`` entries
    are there (the memory backend stores before the answer is sent)."""
    if state is None:
        return
    client = redis.Redis.from_url(state["redis_url"])
    try:
        deadline = time.monotonic() + timeout
        pattern = state["key_prefix"] + ":cache:*"
        while len(list(client.scan_iter(match=pattern))) != count:
            assert time.monotonic() < deadline, "the entry was never stored"
            time.sleep(0.01)
    finally:
        client.close()


def test_miss_then_hit_calls_the_upstream_once(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
) -> None:
    gw = inprocess_gateway(cache_config(fake_upstream, backend))
    first = post(gw, ask())
    assert first.status_code == 200
    assert first.headers["x-gateway-cache"] == "miss"
    assert "age" not in first.headers
    wait_stored(backend, 1)
    second = post(gw, ask())
    assert second.status_code == 200
    assert second.headers["x-gateway-cache"] == "hit"
    assert int(second.headers["age"]) >= 0
    assert second.headers["x-gateway-attempts"] == "0"
    assert second.headers["x-gateway-model"] == "m1"
    assert second.content == first.content
    assert len(fake_upstream.hits()) == 1
    # A route without a cache says nothing about one.
    assert "x-gateway-cache" not in post(gw, {**ask(), "model": "plain"}).headers


def test_key_ignores_order_and_delivery_fields_but_not_the_prompt(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
) -> None:
    gw = inprocess_gateway(cache_config(fake_upstream, backend, deterministic_only=False))
    body = ask(temperature=0.2, max_tokens=50)
    assert post(gw, body).headers["x-gateway-cache"] == "miss"
    wait_stored(backend, 1)
    reordered = dict(reversed(list(body.items())))
    reordered["user"] = "someone-else"
    reordered["metadata"] = {"trace": "x"}
    assert list(reordered) != list(body)
    assert post(gw, reordered).headers["x-gateway-cache"] == "hit"
    assert post(gw, {**body, "temperature": 0.3}).headers["x-gateway-cache"] == "miss"
    assert (
        post(gw, ask("other", temperature=0.2, max_tokens=50)).headers["x-gateway-cache"] == "miss"
    )
    assert len(fake_upstream.hits()) == 3


def test_non_deterministic_requests_are_not_cached_by_default(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
) -> None:
    gw = inprocess_gateway(cache_config(fake_upstream, backend))
    warm = {**ask(), "temperature": 0.7}
    for _ in range(2):
        assert post(gw, warm).headers["x-gateway-cache"] == "bypass"
    assert len(fake_upstream.hits()) == 2
    wait_stored(backend, 0)
    seeded = {**warm, "seed": 42}
    assert post(gw, seeded).headers["x-gateway-cache"] == "miss"
    wait_stored(backend, 1)
    assert post(gw, seeded).headers["x-gateway-cache"] == "hit"
    assert len(fake_upstream.hits()) == 3


def test_cache_control_and_ttl_headers(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
) -> None:
    gw = inprocess_gateway(cache_config(fake_upstream, backend))
    body = ask()
    # no-store: neither read nor written.
    assert post(gw, body, **{"Cache-Control": "no-store"}).headers["x-gateway-cache"] == "bypass"
    assert post(gw, body).headers["x-gateway-cache"] == "miss"
    wait_stored(backend, 1)
    # no-cache: goes upstream although an entry exists, and refreshes it.
    refreshed = post(gw, body, **{"Cache-Control": "no-cache"})
    assert refreshed.headers["x-gateway-cache"] == "miss"
    assert post(gw, body).headers["x-gateway-cache"] == "hit"
    assert len(fake_upstream.hits()) == 3
    # A shorter TTL asked for by the client: the entry expires.
    short = ask("short-lived")
    post(gw, short, **{"x-gateway-cache-ttl": "1"})
    wait_stored(backend, 2, timeout=0.8)
    assert post(gw, short).headers["x-gateway-cache"] == "hit"
    deadline = time.monotonic() + 5
    while post(gw, short).headers["x-gateway-cache"] == "hit":
        assert time.monotonic() < deadline, "the entry never expired"
        time.sleep(0.05)


def test_route_ttl_expires_entries(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    redis_url: str,
    shared_prefix: str,
) -> None:
    state = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    gw = inprocess_gateway(cache_config(fake_upstream, state, ttl_s=0.5))
    started = time.monotonic()
    post(gw, ask())
    wait_stored(state, 1)
    assert post(gw, ask()).headers["x-gateway-cache"] == "hit"
    deadline = time.monotonic() + 5
    while post(gw, ask()).headers["x-gateway-cache"] == "hit":
        assert time.monotonic() < deadline, "the entry outlived its TTL"
        time.sleep(0.05)
    assert time.monotonic() - started >= 0.4


def _collect(stream: Any) -> tuple[str | None, list[tuple[str, str]], str | None, Any]:
    content: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish = None
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                content.append(delta.content)
            for call in delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["name"] += call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    text = "".join(content) or None
    return text, [(c["name"], c["arguments"]) for _, c in sorted(calls.items())], finish, usage


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_calls"])
def test_streams_and_json_replay_each_other(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
    tools: bool,
) -> None:
    behavior = ok("the cached answer in five words", tool_calls=TOOL_CALLS if tools else None)
    fake_upstream.set("m1", behavior)
    gw = inprocess_gateway(cache_config(fake_upstream, backend))
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    messages: Any = [{"role": "user", "content": "stream me"}]

    # A stream misses and is recorded while it streams.
    live = client.chat.completions.with_raw_response.create(
        model="chat", messages=messages, temperature=0, stream=True
    )
    assert live.headers["x-gateway-cache"] == "miss"
    live_text, live_calls, live_finish, live_usage = _collect(live.parse())
    assert live_usage is None
    assert live_finish == ("tool_calls" if tools else "stop")
    assert bool(live_calls) == tools

    wait_stored(backend, 1)
    replay = client.chat.completions.with_raw_response.create(
        model="chat", messages=messages, temperature=0, stream=True
    )
    assert replay.headers["x-gateway-cache"] == "hit"
    # Stream to stream: the same content, tool calls and finish reason, and no usage
    # chunk, since the client did not ask for one.
    assert _collect(replay.parse()) == (live_text, live_calls, live_finish, None)

    # Stream to JSON: the entry a stream made serves a non-stream request.
    as_json = client.chat.completions.with_raw_response.create(
        model="chat", messages=messages, temperature=0
    )
    assert as_json.headers["x-gateway-cache"] == "hit"
    completion = as_json.parse()
    message = completion.choices[0].message
    assert message.content == live_text
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls or []] == (
        live_calls
    )
    assert completion.choices[0].finish_reason == live_finish
    assert completion.usage is not None and completion.usage.prompt_tokens == 11

    # With usage asked for, the replay ends with the usage chunk.
    with_usage = client.chat.completions.create(
        model="chat",
        messages=messages,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, calls, finish, usage = _collect(with_usage)
    assert (text, calls, finish) == (live_text, live_calls, live_finish)
    assert usage is not None and usage.completion_tokens == 7
    assert len(fake_upstream.hits()) == 1

    # JSON to stream: a non-stream answer replayed as a stream.
    other: Any = [{"role": "user", "content": "json first"}]
    first = client.chat.completions.create(model="chat", messages=other, temperature=0)
    wait_stored(backend, 2)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=other, temperature=0, stream=True
    )
    assert raw.headers["x-gateway-cache"] == "hit"
    text, calls, finish, _ = _collect(raw.parse())
    assert text == first.choices[0].message.content
    assert calls == [
        (c.function.name, c.function.arguments) for c in first.choices[0].message.tool_calls or []
    ]
    assert finish == first.choices[0].finish_reason
    assert len(fake_upstream.hits()) == 2


def test_broken_and_cut_streams_are_not_stored(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    backend: dict[str, Any] | None,
) -> None:
    gw = inprocess_gateway(cache_config(fake_upstream, backend))
    body = ask("break me", stream=True)
    fake_upstream.set("m1", break_stream(after=2), ok(chunks=8, chunk_delay_s=0.05), ok())
    broken = post(gw, body)
    assert b"upstream_stream_error" in broken.content or b"stream_truncated" in broken.content
    # The client hangs up after the first bytes of a slow stream.
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", gw.url + "/v1/chat/completions", json=body) as cut,
    ):
        next(cut.iter_raw())
    gw.wait_for_records(2)
    wait_stored(backend, 0)
    served = post(gw, body)
    assert served.headers["x-gateway-cache"] == "miss"
    assert b"[DONE]" in served.content
    assert len(fake_upstream.hits()) == 3


def test_errors_are_not_stored(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    from tests.support.fake_upstream import error

    config = cache_config(fake_upstream)
    config["resilience"]["cooldown_s"] = 0
    gw = inprocess_gateway(config)
    fake_upstream.set("m1", error(400, "bad request", type_="invalid_request_error"), ok())
    assert post(gw, ask()).status_code == 400
    assert post(gw, ask()).headers["x-gateway-cache"] == "miss"
    assert len(fake_upstream.hits()) == 2


def test_redis_outage_serves_misses_without_errors(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    from tests.support.fake_upstream import free_port

    down = {"backend": "redis", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    gw = inprocess_gateway(cache_config(fake_upstream, down))
    for _ in range(3):
        response = post(gw, ask())
        assert response.status_code == 200
        assert response.headers["x-gateway-cache"] == "miss"
    assert len(fake_upstream.hits()) == 3


def test_purge_by_route_and_all_reaches_every_replica(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    state = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    config = cache_config(fake_upstream, state)
    config["routes"]["other"] = {"pool": ["m1"], "cache": True}
    config["server"] = {"api_keys": ["user-key"]}
    admin = {"GATEWAY_ADMIN_KEYS": "admin-key"}
    a = gateway_factory(config, env=admin)
    b = gateway_factory(config, env=admin)
    auth = {"Authorization": "Bearer user-key"}
    for model in ("chat", "other"):
        assert post(a, ask(model=model), **auth).headers["x-gateway-cache"] == "miss"
    # What replica A stored, replica B serves.
    wait_stored(state, 2)
    assert post(b, ask(model="chat"), **auth).headers["x-gateway-cache"] == "hit"
    assert len(fake_upstream.hits()) == 2

    refused = httpx.delete(a.url + "/v1/gateway/cache", headers=auth)
    assert refused.status_code == 401
    admin_auth = {"Authorization": "Bearer admin-key"}
    unknown = httpx.delete(a.url + "/v1/gateway/cache?route=nope", headers=admin_auth)
    assert unknown.status_code == 404
    purged = httpx.delete(a.url + "/v1/gateway/cache?route=chat", headers=admin_auth)
    assert purged.status_code == 200 and purged.json()["deleted"] == 1
    # B held a local copy of the entry; the purge announcement drops it (within ms).
    deadline = time.monotonic() + 2
    while post(b, ask(model="chat"), **auth).headers["x-gateway-cache"] == "hit":
        assert time.monotonic() < deadline, "replica B kept serving a purged entry"
        time.sleep(0.01)
    assert post(b, ask(model="other"), **auth).headers["x-gateway-cache"] == "hit"
    everything = httpx.delete(b.url + "/v1/gateway/cache", headers=admin_auth)
    assert everything.status_code == 200 and everything.json()["deleted"] >= 1
    # A held a local copy of "other" (it made it); B's purge of everything drops it.
    deadline = time.monotonic() + 2
    while post(a, ask(model="other"), **auth).headers["x-gateway-cache"] == "hit":
        assert time.monotonic() < deadline, "replica A kept serving a purged entry"
        time.sleep(0.01)


def test_hits_misses_and_saved_cost_in_usage_and_metrics(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    state = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    gw = gateway_factory(cache_config(fake_upstream, state))
    # The redis backend stores in the background: a request right after the first
    # may still miss, so count what each answer said.
    verdicts = [post(gw, ask()).headers["x-gateway-cache"]]
    deadline = time.monotonic() + 5
    while verdicts.count("hit") < 4:
        assert time.monotonic() < deadline, verdicts
        verdicts.append(post(gw, ask()).headers["x-gateway-cache"])
    hits, misses = verdicts.count("hit"), verdicts.count("miss")
    assert verdicts[0] == "miss" and hits + misses == len(verdicts)
    post(gw, {**ask(), "temperature": 1})  # bypass
    deadline = time.monotonic() + 5
    while True:
        usage = httpx.get(gw.url + "/v1/gateway/usage?group_by=route,cache").json()
        rows = {row["cache"]: row for row in usage["data"]}
        if sum(r["requests"] for r in rows.values()) == len(verdicts) + 1:
            break
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)
    assert rows["hit"]["requests"] == hits
    assert rows["hit"]["cost_micro_usd"] == 0 and rows["hit"]["input_tokens"] == 0
    assert rows["hit"]["saved_cost_micro_usd"] == round(COST_MICRO) * hits
    assert rows["miss"]["requests"] == misses
    assert rows["miss"]["cost_micro_usd"] == round(COST_MICRO) * misses
    assert rows["bypass"]["requests"] == 1
    assert usage["totals"]["saved_cost_micro_usd"] == round(COST_MICRO) * hits
    assert len(fake_upstream.hits()) == misses + 1

    metrics = httpx.get(gw.url + "/metrics").text
    assert f'gateway_cache_requests_total{{result="hit",route="chat"}} {hits}.0' in metrics
    assert f'gateway_cache_requests_total{{result="miss",route="chat"}} {misses}.0' in metrics
    assert 'gateway_cache_requests_total{result="bypass",route="chat"} 1.0' in metrics
    saved = [
        line for line in metrics.splitlines() if line.startswith("gateway_cache_saved_usd_total")
    ]
    assert saved and abs(float(saved[0].split()[-1]) - hits * round(COST_MICRO) / 1e6) < 1e-12
    logs = gw.logs()
    assert '"cache":"hit"' in logs and '"saved_cost_usd"' in logs
