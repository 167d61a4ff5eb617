"""A body over ``server.max_body_bytes``: the client reads a 413, never a reset.

The clients here are raw sockets that behave like ``urllib``: the whole body is
written before a byte of the answer is read.
"""

from __future__ import annotations

import json
import socket
import time

from tests.conftest import GatewayFactory

MOCK_CONFIG = {
    "providers": {"mock": {"kind": "mock"}},
    "models": {"small": {"provider": "mock"}},
    "routes": {"chat": {"pool": ["small"]}},
}
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"


def _read_all(sock: socket.socket, timeout: float = 15.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _answer(data: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def _send_everything(sock: socket.socket, head: bytes, size: int, framing: str) -> None:
    sock.sendall(head)
    block = b"x" * 65536
    sent = 0
    while sent < size:
        part = block[: min(len(block), size - sent)]
        if framing == "chunked":
            sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        else:
            sock.sendall(part)
        sent += len(part)
    if framing == "chunked":
        sock.sendall(b"0\r\n\r\n")


def test_a_30_mb_body_written_before_reading_gets_the_413_json(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(MOCK_CONFIG)  # max_body_bytes: the default 20 MB
    size = 30_000_000
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        _send_everything(sock, HEAD + b"Content-Length: %d\r\n\r\n" % size, size, "length")
        status, headers, body = _answer(_read_all(sock))
    assert status == 413
    assert headers["connection"] == "close"
    assert body["error"] == {
        "message": "request body is larger than 20000000 bytes",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }
    # The gateway still serves.
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        small = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
        sock.sendall(HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(small) + small)
        status, _, answer = _answer(_read_all(sock))
    assert status == 200 and answer["object"] == "chat.completion"


def test_a_chunked_body_that_outgrows_the_limit_gets_the_413_too(
    gateway_factory: GatewayFactory,
) -> None:
    config = {**MOCK_CONFIG, "server": {"max_body_bytes": 1_000_000}}
    gateway = gateway_factory(config)
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        _send_everything(sock, HEAD + b"Transfer-Encoding: chunked\r\n\r\n", 8_000_000, "chunked")
        status, _, body = _answer(_read_all(sock))
    assert status == 413
    assert body["error"]["code"] == "request_too_large"  # type: ignore[index]


def test_a_client_that_stops_sending_is_closed_after_the_idle_bound(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(MOCK_CONFIG)
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(HEAD + b"Content-Length: 30000000\r\n\r\n" + b"x" * 100_000)
        started = time.monotonic()
        data = _read_all(sock)  # returns once the gateway closes the connection
        waited = time.monotonic() - started
    status, _, _ = _answer(data)
    assert status == 413
    # Closed by the idle bound (2 s), well before the overall bound (10 s).
    assert waited < 8.0
