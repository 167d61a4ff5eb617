"""Bad input gets an OpenAI-shaped error with the right status, and the gateway keeps
serving: every case is followed by a valid request on the same server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess

MAX_BODY = 4096
VALID = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}

CONFIG: dict[str, Any] = {
    "server": {"max_body_bytes": MAX_BODY},
    "providers": {"mock": {"kind": "mock", "mock": {"reply": "fine, thanks"}}},
    "models": {"small": {"provider": "mock", "model": "small-1"}},
    "routes": {"chat": {"pool": ["small"]}},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(CONFIG, tmp_path_factory.mktemp("bad-input"), name="bad-input")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    if code is not None:
        assert error["code"] == code
    return error


def assert_still_serving(http: httpx.Client, gateway: GatewayProcess) -> None:
    response = http.post("/v1/chat/completions", json=VALID)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fine, thanks"
    assert gateway.proc is not None and gateway.proc.poll() is None


@dataclass
class Case:
    id: str
    content: bytes
    status: int
    type_: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


MSGS = [{"role": "user", "content": "hi"}]
CASES = [
    Case("malformed-json", b'{"model": "chat", "messages": [', 400),
    Case("json-array", b'[{"model": "chat"}]', 400),
    Case("json-string", b'"chat"', 400),
    Case("json-null", b"null", 400),
    Case("empty-body", b"", 400),
    Case("non-utf8", b'{"model": "\xff\xfe", "messages": []}', 400),
    Case("deep-nesting", b"[" * 2000 + b"]" * 2000, 400),
    Case("missing-model", body(messages=MSGS), 400, param="model"),
    Case("model-not-string", body(model=42, messages=MSGS), 400, param="model"),
    Case("model-empty", body(model="", messages=MSGS), 400, param="model"),
    # The route name is echoed in response headers: no header injection, no dropped reply.
    Case(
        "model-crlf",
        body(model="mock/x\r\nSet-Cookie: a=b", messages=MSGS),
        400,
        param="model",
    ),
    Case("model-nul", body(model="chat\u0000", messages=MSGS), 400, param="model"),
    Case("missing-messages", body(model="chat"), 400, param="messages"),
    Case("messages-not-list", body(model="chat", messages="hi"), 400, param="messages"),
    Case("messages-object", body(model="chat", messages={"role": "user"}), 400, param="messages"),
    Case("messages-empty", body(model="chat", messages=[]), 400, param="messages"),
    Case("message-not-object", body(model="chat", messages=["hi"]), 400, param="messages[0]"),
    Case("stream-not-bool", body(model="chat", messages=MSGS, stream="yes"), 400, param="stream"),
    Case("stream-number", body(model="chat", messages=MSGS, stream=1), 400, param="stream"),
    Case(
        "stream-options-not-object",
        body(model="chat", messages=MSGS, stream=True, stream_options=[1]),
        400,
        param="stream_options",
    ),
    Case(
        "unknown-route",
        body(model="gtp-4o", messages=MSGS),
        404,
        code="model_not_found",
        param="model",
    ),
    Case(
        "unknown-provider-prefix",
        body(model="nowhere/gpt-4o", messages=MSGS),
        404,
        code="model_not_found",
        param="model",
    ),
    Case(
        "unknown-route-header",
        body(model="chat", messages=MSGS),
        404,
        code="model_not_found",
        headers={"X-Gateway-Route": "nope"},
    ),
    Case(
        "unknown-profile-header",
        body(model="chat", messages=MSGS),
        400,
        code="unknown_profile",
        headers={"X-Gateway-Profile": "gold"},
    ),
    Case(
        "too-large",
        body(model="chat", messages=[{"role": "user", "content": "x" * MAX_BODY}]),
        413,
        code="request_too_large",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_body_gets_openai_error(
    http: httpx.Client, gateway: GatewayProcess, case: Case
) -> None:
    response = http.post(
        "/v1/chat/completions",
        content=case.content,
        headers={"Content-Type": "application/json", **case.headers},
    )
    error = assert_openai_error(response, case.status, case.code)
    assert error["type"] == case.type_
    if case.param is not None:
        assert error["param"] == case.param
    assert response.headers["x-request-id"]
    assert_still_serving(http, gateway)


def test_too_large_chunked_without_content_length(
    http: httpx.Client, gateway: GatewayProcess
) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
        for _ in range(8):
            yield b"x" * 1024
        yield b'"}]}'

    request = http.build_request(
        "POST",
        "/v1/chat/completions",
        content=pieces(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = http.send(request)
    assert_openai_error(response, 413, "request_too_large")
    assert_still_serving(http, gateway)


def test_chunked_body_under_the_limit_is_served(http: httpx.Client) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "chat", '
        yield b'"messages": [{"role": "user", "content": "hi"}]}'

    response = http.post(
        "/v1/chat/completions", content=pieces(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fine, thanks"


def test_lying_content_length_is_refused_before_the_body(
    http: httpx.Client, gateway: GatewayProcess
) -> None:
    # A Content-Length over the limit is refused from the header alone.
    response = http.post(
        "/v1/chat/completions",
        content=b"x" * (MAX_BODY + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_openai_error(response, 413, "request_too_large")
    assert_still_serving(http, gateway)


def test_unknown_path_is_openai_404(http: httpx.Client, gateway: GatewayProcess) -> None:
    for path in ("/v1/completionz", "/", "/v2/chat/completions"):
        error = assert_openai_error(http.post(path, json=VALID), 404, "not_found")
        assert error["type"] == "invalid_request_error"
        assert_openai_error(http.get(path), 404, "not_found")
    assert_still_serving(http, gateway)


def test_wrong_method_is_openai_405(http: httpx.Client, gateway: GatewayProcess) -> None:
    assert_openai_error(http.get("/v1/chat/completions"), 405, "method_not_allowed")
    assert_openai_error(http.delete("/v1/chat/completions"), 405, "method_not_allowed")
    assert_openai_error(http.post("/v1/models", json={}), 405, "method_not_allowed")
    assert_still_serving(http, gateway)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(
        CONFIG,
        tmp_path_factory.mktemp("locked"),
        name="locked",
        env={"GATEWAY_API_KEYS": "sk-team-a, sk-team-b"},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk-wrong"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic c2stdGVhbS1hOg=="},
        {"Authorization": "sk-team-a"},
        {"x-api-key": "sk-wrong"},
    ],
    ids=["none", "wrong-bearer", "empty-bearer", "basic", "no-scheme", "wrong-x-api-key"],
)
def test_bad_inbound_key_is_401(locked: GatewayProcess, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=locked.url, timeout=10) as http:
        response = http.post("/v1/chat/completions", json=VALID, headers=headers)
        error = assert_openai_error(response, 401, "invalid_api_key")
        assert error["type"] == "authentication_error"
        assert "sk-wrong" not in response.text
        # The key is checked before the body: a bad key never learns about the body.
        response = http.post("/v1/chat/completions", content=b"{", headers=headers)
        assert_openai_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-team-a"},
        {"Authorization": "bearer sk-team-b"},
        {"x-api-key": "sk-team-a"},
    ],
    ids=["bearer", "lowercase-scheme", "x-api-key"],
)
def test_valid_inbound_key_is_accepted(locked: GatewayProcess, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=locked.url, timeout=10) as http:
        response = http.post("/v1/chat/completions", json=VALID, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "fine, thanks"


def test_open_gateway_says_so_at_startup(gateway: GatewayProcess, locked: GatewayProcess) -> None:
    assert "open to any caller" in gateway.logs()
    assert "open to any caller" not in locked.logs()


@pytest.mark.parametrize("path", ["/v1/models", "/v1/gateway/routes"])
def test_model_list_and_routes_need_the_inbound_key(locked: GatewayProcess, path: str) -> None:
    with httpx.Client(base_url=locked.url, timeout=10) as http:
        assert_openai_error(http.get(path), 401, "invalid_api_key")
        assert_openai_error(
            http.get(path, headers={"Authorization": "Bearer sk-wrong"}), 401, "invalid_api_key"
        )
        response = http.get(path, headers={"Authorization": "Bearer sk-team-a"})
        assert response.status_code == 200, response.text
        assert "chat" in response.text
        # Health checks stay open for load balancers and orchestrators.
        assert http.get("/healthz").status_code == 200
