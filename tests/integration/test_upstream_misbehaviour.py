"""Upstreams that misbehave at the byte level: a raw asyncio server writes exactly the
bytes each test scripts (broken JSON, odd headers, gzip, SSE split at awkward byte
boundaries, streams that never end). The client always gets a clear answer:
passthrough, an OpenAI-shaped error, or an error event then ``[DONE]``; usage
accounting never crashes; the gateway keeps serving. Secrets never leak."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fake_upstream import closed_port_url, free_port
from tests.support.gateway_process import GatewayProcess
from tests.support.inprocess import InProcessGateway

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]
UPSTREAM_KEY = "sk-upstream-misbehave-SECRET-1234"
MESSAGES = [{"role": "user", "content": "hi"}]


class RawUpstream:
    """Answers each request with the script registered for its ``model``."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.received: list[tuple[bytes, dict[str, Any]]] = []
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="raw-upstream", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: several requests may come on one connection
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                self.received.append((head, body))
                await self.scripts[body["model"]](writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def start(self) -> RawUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("raw upstream did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def response_bytes(
    body: bytes,
    *,
    status: str = "200 OK",
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
    raw_headers: bytes = b"",
) -> bytes:
    head = f"HTTP/1.1 {status}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + raw_headers + b"\r\n" + body


def once(raw: bytes) -> Script:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()

    return script


def sse(
    pieces: list[bytes], *, hang_s: float = 0.0, content_type: bytes = b"text/event-stream"
) -> Script:
    """A close-delimited SSE response, each piece its own TCP write."""

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n")
        writer.write(b"Connection: close\r\n\r\n")
        await writer.drain()
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.001)  # pacing, so the pieces leave as separate segments
        if hang_s:
            await asyncio.sleep(hang_s)
        writer.close()
        raise ConnectionError  # one response per connection

    return script


def chunk_event(text: str, usage: Any = None, *, with_usage_null: bool = True) -> bytes:
    payload: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    if with_usage_null:
        payload["usage"] = None
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def usage_event(usage: Any) -> bytes:
    payload = {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


COMPLETION = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawUpstream]:
    server = RawUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: RawUpstream) -> Iterator[InProcessGateway]:
    config: dict[str, Any] = {
        "providers": {
            "raw": {
                "kind": "openai",
                "base_url": upstream.base_url,
                "timeout_s": 2,
                "connect_timeout_s": 1,
                # A key in a custom header (Azure's `api-key`), as some providers want.
                "headers": {"api-key": UPSTREAM_KEY},
            }
        },
        "models": {"priced": {"provider": "raw", "price": {"input": 1e6, "output": 1e6}}},
        "routes": {"chat": {"pool": ["priced"]}},
        "resilience": {"ttft_timeout_s": 1.5, "cooldown_s": 0, "max_cooldown_s": 0},
    }
    gw = InProcessGateway(config).start()
    yield gw
    gw.stop()


@pytest.fixture
def http(gateway: InProcessGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=15) as client:
        yield client


def post(http: httpx.Client, model: str, stream: bool = False, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "stream": stream, **extra}
    return http.post("/v1/chat/completions", json=body)


def assert_openai_error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def last_record(gateway: InProcessGateway, before: int) -> Any:
    return gateway.wait_for_records(before + 1)[-1]


def still_serving(http: httpx.Client, upstream: RawUpstream) -> None:
    upstream.scripts["healthy"] = once(response_bytes(json.dumps(COMPLETION).encode()))
    response = post(http, "raw/healthy")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "ok"


# -- buffered answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("invalid-json", response_bytes(b'{"choices": [')),
        ("json-array", response_bytes(b'[{"usage": {"prompt_tokens": 1}}]')),
        (
            "html",
            response_bytes(b"<html><body>Bad gateway</body></html>", content_type="text/html"),
        ),
        ("no-content-type", response_bytes(json.dumps(COMPLETION).encode(), content_type=None)),
        (
            "usage-garbage",
            response_bytes(b'{"usage": {"prompt_tokens": "9", "completion_tokens": -4}}'),
        ),
        ("usage-not-object", response_bytes(b'{"usage": [1, 2]}')),
        (
            "usage-huge",
            response_bytes(
                b'{"usage": {"prompt_tokens": 18446744073709551615, "completion_tokens": 1e308}}'
            ),
        ),
        ("empty-body", response_bytes(b"")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_odd_200_bodies_pass_through(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream, name: str, raw: bytes
) -> None:
    upstream.scripts[name] = once(raw)
    before = len(gateway.records())
    response = post(http, f"raw/{name}")
    assert response.status_code == 200, response.text
    assert response.content == raw.partition(b"\r\n\r\n")[2]
    assert response.headers["x-request-id"]
    record = last_record(gateway, before)
    assert record.status == 200
    still_serving(http, upstream)


def test_upstream_usage_beyond_any_real_request_does_not_break_accounting(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    body = {"usage": {"prompt_tokens": 2**64 - 1, "completion_tokens": 2**63}}
    upstream.scripts["priced"] = once(response_bytes(json.dumps(body).encode()))
    before = len(gateway.records())
    response = post(http, "chat")
    assert response.status_code == 200, response.text
    record = last_record(gateway, before)
    assert record.status == 200
    assert record.usage is not None
    assert record.cost_micro_usd < 2**63, "cost beyond any counter (Redis INCRBY is int64)"
    still_serving(http, upstream)


def test_a_content_type_that_is_not_latin1_is_not_a_500(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    raw = response_bytes(
        json.dumps(COMPLETION).encode(),
        content_type=None,
        raw_headers="Content-Type: application/json; charset=€\r\n".encode(),
    )
    upstream.scripts["utf8-ct"] = once(raw)
    response = post(http, "raw/utf8-ct")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "ok"
    still_serving(http, upstream)


def test_gzip_bodies_are_decoded_and_accounted(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    packed = gzip.compress(json.dumps(COMPLETION).encode())
    upstream.scripts["priced"] = once(response_bytes(packed, headers={"Content-Encoding": "gzip"}))
    before = len(gateway.records())
    response = post(http, "chat")
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 5
    record = last_record(gateway, before)
    assert record.usage is not None and record.usage.input_tokens == 5
    assert record.cost_micro_usd == 8_000_000

    # A body that claims gzip and is not: an upstream failure, not a 500.
    upstream.scripts["bad-gzip"] = once(
        response_bytes(b"not gzip at all", headers={"Content-Encoding": "gzip"})
    )
    response = post(http, "raw/bad-gzip")
    assert 500 <= response.status_code < 600 and response.status_code != 500, response.text
    error = assert_openai_error(response)
    assert "connect_error" in error["message"] or "timeout" in error["message"]
    still_serving(http, upstream)


@pytest.mark.parametrize(
    "raw",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"short": true}',  # then closes
        b"HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\n\r\n{}",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"",
    ],
    ids=["short-body", "status-999", "not-http", "closed"],
)
def test_broken_http_is_an_openai_error(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream, raw: bytes
) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        raise ConnectionError  # close right after

    upstream.scripts["broken"] = script
    response = post(http, "raw/broken")
    assert response.status_code in (502, 503, 504), response.text
    assert_openai_error(response)
    still_serving(http, upstream)


@pytest.mark.parametrize("status", ["301 Moved Permanently", "307 Temporary Redirect"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_redirect_is_not_followed(
    http: httpx.Client, upstream: RawUpstream, status: str, stream: bool
) -> None:
    # aiohttp followed redirects, and re-sent the `api-key` header (and the prompt)
    # to whatever origin the upstream named; it only drops `Authorization`.
    target = f"http://localhost:{upstream.port}/stolen"
    upstream.scripts["redirect"] = once(
        response_bytes(b"", status=status, headers={"Location": target})
    )
    before = len(upstream.received)
    response = post(http, "raw/redirect", stream=stream)
    assert response.status_code == 503, response.text
    assert "connect_error" in assert_openai_error(response)["message"]
    heads = [head for head, _ in upstream.received[before:]]
    assert len(heads) == 1 and b"/stolen" not in heads[0]
    assert UPSTREAM_KEY not in response.text
    still_serving(http, upstream)


@pytest.mark.parametrize("value", ["inf", "nan", "1e999", "-3", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_odd_retry_after_values(http: httpx.Client, upstream: RawUpstream, value: str) -> None:
    error = {"error": {"message": "slow down", "type": "rate_limit_error", "code": None}}
    upstream.scripts["limited"] = once(
        response_bytes(
            json.dumps(error).encode(),
            status="429 Too Many Requests",
            headers={"Retry-After": value, "retry-after-ms": value},
        )
    )
    response = post(http, "raw/limited")
    assert response.status_code == 429, response.text
    assert_openai_error(response)
    assert response.headers["retry-after"].isdigit()
    still_serving(http, upstream)


# -- streams ---------------------------------------------------------------------

EVENTS = [
    chunk_event("Hel"),
    chunk_event("lo"),
    usage_event(COMPLETION["usage"]),
    b"data: [DONE]\n\n",
]


def events_of(body: bytes) -> list[bytes]:
    return [e for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if e]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    crlf=st.booleans(),
    include_usage=st.booleans(),
)
def test_sse_split_at_any_byte_boundary(
    http: httpx.Client,
    gateway: InProcessGateway,
    upstream: RawUpstream,
    cuts: list[int],
    crlf: bool,
    include_usage: bool,
) -> None:
    stream = b"".join(EVENTS)
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    points = sorted({c % len(stream) for c in cuts} - {0})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    upstream.scripts["priced"] = sse(pieces)
    before = len(gateway.records())
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    response = post(http, "chat", stream=True, **extra)
    assert response.status_code == 200
    got = events_of(response.content)
    assert got[-1] == b"data: [DONE]"
    assert b"error" not in response.content
    texts = b"".join(got)
    assert b'"Hel"' in texts and b'"lo"' in texts
    assert (b'"prompt_tokens":5' in texts) is include_usage
    if not include_usage:
        assert b'"usage":null' not in texts
    record = last_record(gateway, before)
    assert record.usage is not None and record.usage.input_tokens == 5
    assert record.error_type is None


@pytest.mark.parametrize(
    ("name", "pieces", "code"),
    [
        ("no-done", [chunk_event("a"), chunk_event("b")], "stream_truncated"),
        ("no-done-partial", [chunk_event("a"), b'data: {"choices": [{"del'], "stream_truncated"),
        ("json-not-sse", [json.dumps(COMPLETION).encode()], "stream_truncated"),
    ],
)
def test_streams_that_end_without_done_get_an_error_event(
    http: httpx.Client,
    gateway: InProcessGateway,
    upstream: RawUpstream,
    name: str,
    pieces: list[bytes],
    code: str,
) -> None:
    upstream.scripts[name] = sse(pieces)
    response = post(http, f"raw/{name}", stream=True)
    if response.status_code != 200:
        # Nothing whole was forwarded yet: the attempt failed over instead.
        assert response.status_code == 503, response.text
        assert "connect_error" in assert_openai_error(response)["message"]
        return
    got = events_of(response.content)
    assert got[-1] == b"data: [DONE]"
    error = json.loads(got[-2].removeprefix(b"data: "))["error"]
    assert error["code"] == code
    still_serving(http, upstream)


def test_a_stream_of_keepalives_then_silence_times_out_cleanly(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    upstream.scripts["pings"] = sse([b": ping\n\n", b": ping\n\n"], hang_s=30)
    before = len(gateway.records())
    response = post(http, "raw/pings", stream=True)
    assert response.status_code == 200
    got = events_of(response.content)
    assert got[-1] == b"data: [DONE]"
    assert b"error" in got[-2]
    record = last_record(gateway, before)
    assert record.error_type == "upstream_stream_error"
    still_serving(http, upstream)


def test_a_stream_that_sends_nothing_fails_over_at_ttft(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    upstream.scripts["silent"] = sse([], hang_s=30)
    response = post(http, "raw/silent", stream=True)
    assert response.status_code == 503, response.text
    assert "ttft_timeout" in assert_openai_error(response)["message"]
    still_serving(http, upstream)


def test_a_giant_single_event_is_relayed_whole(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    big = chunk_event("x" * 3_000_000, with_usage_null=False)
    pieces = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    upstream.scripts["giant"] = sse([*pieces, b"data: [DONE]\n\n"])
    response = post(http, "raw/giant", stream=True)
    assert response.status_code == 200
    got = events_of(response.content)
    assert got == [big.rstrip(b"\n"), b"data: [DONE]"]


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "5", "completion_tokens": None},
        {"prompt_tokens": -1, "completion_tokens": 1.5, "prompt_tokens_details": [1]},
        {"prompt_tokens": 2**64 - 1, "completion_tokens": 2**64 - 1},
        "lots",
        [],
    ],
    ids=["strings", "negative", "huge", "string", "list"],
)
def test_odd_stream_usage_never_breaks_accounting(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream, usage: Any
) -> None:
    upstream.scripts["priced"] = sse(
        [chunk_event("a"), usage_event(usage), b'data: {"usage":{ broken\n\n', b"data: [DONE]\n\n"]
    )
    before = len(gateway.records())
    response = post(http, "chat", stream=True)
    assert response.status_code == 200
    assert events_of(response.content)[-1] == b"data: [DONE]"
    record = last_record(gateway, before)
    assert record.status == 200
    assert record.cost_micro_usd < 2**63
    still_serving(http, upstream)


def test_gzip_stream_is_decoded(
    http: httpx.Client, gateway: InProcessGateway, upstream: RawUpstream
) -> None:
    packed = gzip.compress(b"".join(EVENTS))

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
            + f"Content-Length: {len(packed)}\r\n\r\n".encode()
            + packed
        )
        await writer.drain()

    upstream.scripts["gz-stream"] = script
    response = post(http, "raw/gz-stream", stream=True)
    assert response.status_code == 200
    got = events_of(response.content)
    assert got[-1] == b"data: [DONE]" and b'"Hel"' in got[0]


# -- secrets ---------------------------------------------------------------------


def test_secrets_never_reach_clients_logs_or_metrics(tmp_path: Path) -> None:
    inbound, admin = "sk-inbound-misbehave-SECRET-5678", "sk-admin-misbehave-SECRET-9012"
    secrets = (UPSTREAM_KEY, inbound, admin)
    config = {
        "providers": {
            "down": {
                "kind": "openai",
                "base_url": closed_port_url(),
                "api_key_env": "UP_KEY",
                "connect_timeout_s": 1,
                "timeout_s": 2,
            },
            "badhost": {
                "kind": "openai",
                "base_url": "http://no-such-host.invalid/v1",
                "api_key_env": "UP_KEY",
                "connect_timeout_s": 1,
                "timeout_s": 2,
            },
        },
        "models": {"a": {"provider": "down"}, "b": {"provider": "badhost"}},
        "routes": {"chat": {"pool": ["a", "b"]}},
        "server": {"api_keys_env": "IN_KEYS", "admin_keys_env": "ADMIN_KEYS"},
    }
    env = {
        "UP_KEY": UPSTREAM_KEY,
        "IN_KEYS": inbound,
        "ADMIN_KEYS": admin,
        "GATEWAY_LOG_LEVEL": "debug",
        "PATH": os.environ.get("PATH", ""),
    }
    proc = GatewayProcess(config, tmp_path, env=env, name="secrets").start()
    try:
        bodies: list[str] = []
        with httpx.Client(base_url=proc.url, timeout=15) as client:
            auth = {"Authorization": f"Bearer {inbound}"}
            for headers in (auth, {"Authorization": f"Bearer {inbound}x"}, {"x-api-key": admin}):
                for stream in (False, True):
                    r = client.post(
                        "/v1/chat/completions",
                        json={"model": "chat", "messages": MESSAGES, "stream": stream},
                        headers=headers,
                    )
                    assert r.status_code in (401, 503), r.text
                    bodies.append(r.text + json.dumps(dict(r.headers)))
            for path in (
                "/metrics",
                "/v1/gateway/usage?group_by=api_key",
                "/v1/gateway/routes",
                "/v1/gateway/cooldowns",
                "/v1/gateway/reload",
            ):
                r = client.get(path, headers={"Authorization": f"Bearer {admin}"})
                bodies.append(r.text)
            r = client.post("/v1/gateway/reload", headers={"Authorization": f"Bearer {admin}"})
            bodies.append(r.text)
    finally:
        proc.stop()
    logs = proc.logs()
    assert "request" in logs
    for secret in secrets:
        for text in bodies:
            assert secret not in text
        assert secret not in logs, f"{secret} in the gateway's log"


# -- the relay on its own --------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.sampled_from(
            [
                chunk_event("a", with_usage_null=False),
                b": ping\n\n",
                b"data: x\r\n\r\n",
                b"event: e\ndata: 1\n\n",
                b"data: \xff\xfe\n\n",
                b"\n\n",
            ]
        ),
        max_size=6,
    ),
    tail=st.sampled_from([b"", b"data: [DONE]\n\n", b"data: unterminated", b"\r\n\r"]),
    cuts=st.lists(st.integers(min_value=1, max_value=200), max_size=10),
    bytewise=st.booleans(),
)
def test_relay_output_does_not_depend_on_chunking(
    events: list[bytes], tail: bytes, cuts: list[int], bytewise: bool
) -> None:
    from gateway.doors.chat.stream import StreamRelay
    from gateway.providers.sse import last_event_end

    data = b"".join(events) + tail
    whole = StreamRelay(strip_usage=False)
    expected = whole.feed(data) + whole.finish()
    points = sorted({c % (len(data) or 1) for c in cuts} - {0})
    if bytewise:
        points = list(range(1, len(data)))
    relay = StreamRelay(strip_usage=False)
    out = b""
    pending = b""  # the simple (quadratic) reference: re-scan everything held back
    for a, b in zip([0, *points], [*points, len(data)], strict=True):
        got = relay.feed(data[a:b])
        out += got
        pending += data[a:b]
        end = last_event_end(pending)
        # Every complete event is forwarded as soon as its last byte arrived.
        assert got == (pending[:end] if end >= 0 else b"")
        pending = pending[end:] if end >= 0 else pending
    out += relay.finish()
    assert out == expected == data
    assert relay.saw_done == whole.saw_done
