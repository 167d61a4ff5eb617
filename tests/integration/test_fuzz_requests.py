"""Adversarial requests against the in-process gateway (real sockets, FakeUpstream):
whatever the body, headers or query, the answer is a success or an OpenAI-shaped
4xx, never a 5xx of the gateway's own, never a hang, never a secret, and the
gateway still serves a normal request afterwards."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessGateway

UPSTREAM_KEY = "sk-upstream-fuzz-SECRET-4242"
INBOUND_KEY = "sk-inbound-fuzz-SECRET-7777"
ADMIN_KEY = "sk-admin-fuzz-SECRET-9999"
SECRETS = (UPSTREAM_KEY, INBOUND_KEY, ADMIN_KEY)
MAX_BODY = 32768
AUTH = (b"authorization", f"Bearer {INBOUND_KEY}".encode())
FUZZ = settings(
    derandomize=os.environ.get("CI") == "true",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def raw_request(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    content_length: bool = True,
    timeout: float = 10.0,
) -> RawResponse | None:
    """One request on its own connection; ``None`` when the server closed the
    connection without an answer. A hang fails the test (socket timeout)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n".encode("latin-1")
    for name, value in headers:
        head += name + b": " + value + b"\r\n"
    if content_length:
        head += f"Content-Length: {len(body)}\r\n".encode()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + b"\r\n" + body)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            data += piece
        else:
            raise AssertionError("the gateway did not finish its answer in time")
    if not data:
        return None
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    parsed = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        parsed.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
    response = RawResponse(status, parsed, rest)
    if response.header("transfer-encoding") == "chunked":
        response.body = _dechunk(rest)
    return response


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[InProcessGateway]:
    saved = {k: os.environ.get(k) for k in ("FUZZ_UPSTREAM_KEY", "FUZZ_ADMIN_KEYS")}
    os.environ["FUZZ_UPSTREAM_KEY"] = UPSTREAM_KEY
    os.environ["FUZZ_ADMIN_KEYS"] = ADMIN_KEY
    config: dict[str, Any] = {
        "server": {
            "max_body_bytes": MAX_BODY,
            "api_keys_env": None,
            "api_keys": [INBOUND_KEY],
            "admin_keys_env": "FUZZ_ADMIN_KEYS",
        },
        "providers": {
            "fake": {
                "kind": "openai",
                "base_url": upstream.base_url,
                "api_key_env": "FUZZ_UPSTREAM_KEY",
                "timeout_s": 5,
                "connect_timeout_s": 1,
            },
            "mock": {"kind": "mock"},
        },
        "models": {
            "m1": {"provider": "fake", "model": "up-1", "price": {"input": 1.5, "output": 2}},
            "small": {"provider": "mock", "model": "small-1"},
        },
        "routes": {
            "chat": {"pool": ["m1"], "profiles": {"gold": ["small"]}},
            "summarize": {
                "pool": ["small", "m1"],
                "options": {"temperature": 0.3, "extra_body": {"metadata": {"a": 1}}},
                "force": ["temperature"],
            },
        },
        "resilience": {"ttft_timeout_s": 3},
    }
    gw = InProcessGateway(config).start()
    try:
        yield gw
    finally:
        gw.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


VALID = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()


def assert_still_serving(gateway: InProcessGateway) -> None:
    response = raw_request(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        [AUTH, (b"content-type", b"application/json")],
        VALID,
    )
    assert response is not None and response.status == 200, response
    assert json.loads(response.body)["choices"][0]["message"]["content"] == "echo: hi"


def assert_sane(response: RawResponse | None, *, chat: bool = True) -> None:
    """Success, or an OpenAI-shaped error with a 4xx status; never a secret."""
    assert response is not None, "the gateway closed the connection without an answer"
    for secret in SECRETS:
        assert secret.encode() not in response.body, response.body[:300]
        assert all(secret not in v for _, v in response.headers)
    assert response.status < 500, (response.status, response.body[:500])
    if response.status >= 400:
        assert (response.header("content-type") or "").startswith("application/json")
        body = json.loads(response.body)
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and error["type"]
    elif (response.header("content-type") or "").startswith("text/event-stream"):
        assert response.body.endswith(b"data: [DONE]\n\n"), response.body[-200:]
    elif chat or (response.header("content-type") or "").startswith("application/json"):
        json.loads(response.body)
    if chat and response.header("x-request-id") is None:
        raise AssertionError(f"no x-request-id on {response.status}")


# -- strategies -----------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**66), max_value=2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
model_names = st.one_of(
    st.sampled_from(
        ["chat", "summarize", "m1", "small", "fake/up-1", "mock/x", "fake/", "/", "fake//x"]
    ),
    st.text(max_size=30),
    st.text(max_size=30).map(lambda s: "fake/" + s),
    json_values,
)
messages = st.one_of(
    st.just([{"role": "user", "content": "hi"}]),
    st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "assistant", "tool"]) | json_values},
                optional={"content": json_values, "name": json_values},
            ),
            json_values,
        ),
        max_size=3,
    ),
    json_values,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_names,
        "messages": messages,
        "stream": st.one_of(st.booleans(), json_values),
        "stream_options": st.one_of(
            st.fixed_dictionaries({}, optional={"include_usage": json_values}), json_values
        ),
        "temperature": json_values,
        "max_tokens": st.one_of(st.integers(), json_values),
        "metadata": json_values,
        "extra": json_values,
    },
)
content_types = st.sampled_from(
    [
        b"application/json",
        b"application/json; charset=latin-1",
        b"text/plain",
        b"multipart/form-data; boundary=x",
        b"application/x-www-form-urlencoded",
        b"",
        b"\xff\xfe",
    ]
)
# Field values HTTP allows: visible ASCII, space, tab and obs-text (0x80-0xff).
header_values = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip()
)
text_header_values = (
    st.text(max_size=20)
    .map(lambda s: s.encode("utf-8", "replace"))
    .map(lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip())
)


# -- properties -----------------------------------------------------------------


@FUZZ
@given(body=chat_bodies, content_type=content_types)
def test_arbitrary_chat_bodies(
    gateway: InProcessGateway, body: dict[str, Any], content_type: bytes
) -> None:
    raw = json.dumps(body).encode()
    headers = [AUTH]
    if content_type:
        headers.append((b"content-type", content_type))
    assert_sane(raw_request(gateway.port, "POST", "/v1/chat/completions", headers, raw))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_arbitrary_bytes_and_json_documents(gateway: InProcessGateway, raw: bytes) -> None:
    response = raw_request(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        [AUTH, (b"content-type", b"application/json")],
        raw,
    )
    assert_sane(response)


@FUZZ
@given(
    route=st.one_of(
        st.none(),
        header_values,
        text_header_values,
        st.sampled_from([b"chat", b"fake/\xe9\xff", b"summarize", b""]),
    ),
    profile=st.one_of(st.none(), header_values, st.sampled_from([b"gold", b"", b"\xff"])),
    request_id=st.one_of(st.none(), header_values, text_header_values, st.just(b"r" * 300)),
    auth=st.one_of(
        st.just(AUTH[1]),
        header_values,
        st.just(b"Bearer " + INBOUND_KEY.encode() + b"\xff"),
        st.just(b"bearer  " + INBOUND_KEY.encode()),
    ),
    stream=st.booleans(),
)
def test_arbitrary_gateway_headers(
    gateway: InProcessGateway,
    route: bytes | None,
    profile: bytes | None,
    request_id: bytes | None,
    auth: bytes,
    stream: bool,
) -> None:
    headers = [(b"authorization", auth), (b"content-type", b"application/json")]
    if route is not None:
        headers.append((b"x-gateway-route", route))
    if profile is not None:
        headers.append((b"x-gateway-profile", profile))
    if request_id is not None:
        headers.append((b"x-request-id", request_id))
    body = json.dumps(
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    ).encode()
    response = raw_request(gateway.port, "POST", "/v1/chat/completions", headers, body)
    assert_sane(response)
    assert response is not None
    echoed = response.header("x-request-id") or ""
    assert len(echoed) <= 200, "an over-long client request id is echoed and forwarded"


@FUZZ
@given(
    path=st.sampled_from(
        ["/v1/gateway/usage", "/v1/models", "/v1/gateway/routes", "/v1/gateway/cooldowns"]
    ),
    query=st.dictionaries(
        st.sampled_from(["window", "last", "group_by", "profile", "x"]),
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(["²", "٣", "9" * 5000, "-1", "1", "0x10", " 1", "day", "minute"]),
            st.sampled_from(["route,model", "route,,model", "api_key,api_key", "%ff"]),
        ),
        max_size=3,
    ),
    admin=st.booleans(),
)
def test_arbitrary_admin_queries(
    gateway: InProcessGateway, path: str, query: dict[str, str], admin: bool
) -> None:
    from urllib.parse import urlencode

    key = ADMIN_KEY if admin else INBOUND_KEY
    target = path + ("?" + urlencode(query) if query else "")
    response = raw_request(
        gateway.port, "GET", target, [(b"authorization", f"Bearer {key}".encode())]
    )
    assert_sane(response, chat=False)


# -- targeted cases -------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [(b"x-request-id", b"a\x01b")],
        [(b"x-gateway-route", b"chat\x00")],
        [(b"x-gateway-route", b"chat"), (b"x-gateway-route", b"summarize")],
        [(b"authorization", b"Bearer wrong"), AUTH],
        [(b"transfer-encoding", b"chunked")],
        [(b"content-length", b"5")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"99999999999999999999999")],
    ],
    ids=[
        "ctl-request-id",
        "nul-route",
        "dup-route",
        "dup-auth",
        "te-and-cl",
        "two-cl",
        "negative-cl",
        "huge-cl",
    ],
)
def test_protocol_oddities_never_break_the_server(
    gateway: InProcessGateway, extra: list[tuple[bytes, bytes]]
) -> None:
    response = raw_request(gateway.port, "POST", "/v1/chat/completions", [AUTH, *extra], VALID)
    # The HTTP server may refuse a malformed request itself (a plain 400) or close.
    if response is not None:
        assert response.status < 500, response
    assert_still_serving(gateway)


def test_deeply_nested_json_is_a_400(gateway: InProcessGateway) -> None:
    for depth in (1000, 20000):
        nested = b'{"model": "chat", "messages": [{"role": "user", "content": ' + b"[" * depth
        nested += b"]" * depth + b"}]}"
        response = raw_request(
            gateway.port, "POST", "/v1/chat/completions", [AUTH], nested[: MAX_BODY - 1]
        )
        assert_sane(response)
    assert_still_serving(gateway)


def test_a_huge_body_and_a_slow_partial_body(gateway: InProcessGateway) -> None:
    response = raw_request(
        gateway.port, "POST", "/v1/chat/completions", [AUTH], b"x" * (MAX_BODY * 4)
    )
    assert_sane(response)
    assert response is not None and response.status == 413
    # A body shorter than its Content-Length, then the client hangs up.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
            + INBOUND_KEY.encode()
            + b'\r\nContent-Length: 1000\r\n\r\n{"model"'
        )
    assert_still_serving(gateway)


def test_the_upstream_never_sees_the_client_authorization(
    gateway: InProcessGateway, upstream: FakeUpstream
) -> None:
    upstream.reset()
    assert_still_serving(gateway)
    hits = upstream.hits("up-1")
    assert hits
    sent = {k.lower(): v for k, v in hits[-1].headers.items()}
    assert sent.get("authorization") == f"Bearer {UPSTREAM_KEY}"
    assert INBOUND_KEY not in json.dumps(hits[-1].headers)


def test_metrics_and_usage_never_show_a_key(gateway: InProcessGateway) -> None:
    assert_still_serving(gateway)
    for path in ("/metrics", "/v1/gateway/usage?group_by=api_key,route"):
        response = raw_request(gateway.port, "GET", path, [AUTH])
        assert response is not None and response.status == 200, response
        for secret in SECRETS:
            assert secret.encode() not in response.body


def test_an_over_long_request_id_is_replaced_not_forwarded(
    gateway: InProcessGateway, upstream: FakeUpstream
) -> None:
    # 9 KB of request id used to go upstream as X-Request-Id, and the upstream (8 KB
    # header limit) refused a valid request with a plain-text 400.
    upstream.reset()
    response = raw_request(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        [AUTH, (b"x-request-id", b"r" * 9000)],
        VALID,
    )
    assert response is not None and response.status == 200, response.status
    rid = response.header("x-request-id") or ""
    assert rid.startswith("req_") and len(rid) < 100
    sent = {k.lower(): v for k, v in upstream.hits("up-1")[-1].headers.items()}
    assert sent.get("x-request-id") == rid, sent
    # A sane id is still echoed and forwarded as sent.
    response = raw_request(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        [AUTH, (b"x-request-id", b"client-id-123")],
        VALID,
    )
    assert response is not None and response.header("x-request-id") == "client-id-123"


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE", "POST", "TRACE"]),
    path=st.one_of(
        st.sampled_from(
            [
                "/v1/chat/completions/",
                "//v1/chat/completions",
                "/v1/chat/completions?stream=true",
                "/v1/./chat/completions",
                "/v1/chat/%63ompletions",
                "/v1/gateway/usage?window=%ff",
                "/v1/gateway/reload",
                "/metrics?x=%00",
                "/healthz#frag",
            ]
        ),
        st.text(alphabet=st.sampled_from(list("/v1chatmp%.?=&#~")), max_size=30).map(
            lambda p: "/" + p
        ),
    ),
)
def test_arbitrary_methods_and_paths(gateway: InProcessGateway, method: str, path: str) -> None:
    response = raw_request(gateway.port, method, path, [AUTH], VALID if method == "POST" else b"")
    if method == "HEAD":
        assert response is not None and response.status < 500
        return
    if response is not None and response.status == 400 and response.body.startswith(b"Invalid"):
        return  # the HTTP server refused the request line itself
    if response is not None and 300 <= response.status < 400:
        return  # Starlette's trailing-slash redirect
    assert_sane(response, chat=False)
