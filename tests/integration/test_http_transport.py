"""``gateway.transport`` over real sockets: tiny raw asyncio servers in the test's own loop
write exactly the bytes each test scripts (chunked bodies, close-delimited bodies,
interim answers, malformed heads, gzip), and the client either returns the response or
raises an ``UpstreamError`` subclass. Pool and lifecycle behaviour (keep-alive, limits,
timeouts, cancellation, closing) is in ``test_http_transport_pool.py``."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStreamBroken,
)
from gateway.transport import HttpTransport
from gateway.transport.pool import ConnectionPool
from gateway.transport.target import parse_target

PATH = "/v1/chat/completions"
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


@dataclass
class Request:
    head: bytes
    body: bytes

    @property
    def lines(self) -> list[str]:
        return self.head.decode("latin-1").split("\r\n")


@dataclass(eq=False)
class Conn:
    """One accepted connection, as the server sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: list[Request] = field(default_factory=list)
    peer_closed: bool = False  # the client closed or reset its side
    hung_up: bool = False  # a script closed the server's side

    async def send(self, *parts: bytes) -> None:
        for part in parts:  # each part its own write
            self.writer.write(part)
            await self.writer.drain()

    def hang_up(self) -> None:
        self.hung_up = True
        self.writer.close()

    async def until_peer_closes(self) -> None:
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.peer_closed = True


Script = Callable[[Conn, Request], Awaitable[None]]


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class RawServer:
    """Runs the n-th script for the n-th request it receives (the last one thereafter)."""

    def __init__(self, *scripts: Script) -> None:
        self._scripts = scripts
        self.connections: list[Conn] = []
        self.requests: list[Request] = []
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def url(self, path: str = PATH, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(reader, writer)
        self.connections.append(conn)
        try:
            while not conn.hung_up and not conn.peer_closed:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    request = Request(head, await reader.readexactly(content_length(head)))
                except (asyncio.IncompleteReadError, ConnectionError):
                    conn.peer_closed = True
                    return
                conn.requests.append(request)
                self.requests.append(request)
                await self._scripts[min(len(self.requests), len(self._scripts)) - 1](conn, request)
        except ConnectionError:
            conn.peer_closed = True
        except asyncio.CancelledError:
            pass  # the test is over
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(
    *scripts: Script, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    server = RawServer(*scripts)
    await server.start(tls)
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def http_transport(
    *,
    timeout_s: float = 10.0,
    connect_timeout_s: float = 5.0,
    max_connections: int = 8,
    idle_timeout_s: float = 15.0,
) -> AsyncIterator[HttpTransport]:
    transport = HttpTransport(
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        max_connections=max_connections,
        idle_timeout_s=idle_timeout_s,
    )
    try:
        yield transport
    finally:
        await transport.aclose()


def pool_of(transport: HttpTransport, server: RawServer) -> ConnectionPool:
    return transport.pool(parse_target(server.url()).origin)


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Polls ``check`` until it holds; fails after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition still false after {seconds}s")
        await asyncio.sleep(0.01)


def http_response(
    body: bytes = b"", *, status: str = "200 OK", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def reply(*parts: bytes) -> Script:
    async def script(conn: Conn, request: Request) -> None:
        await conn.send(*parts)

    return script


def reply_then_hang_up(*parts: bytes) -> Script:
    async def script(conn: Conn, request: Request) -> None:
        await conn.send(*parts)
        conn.hang_up()

    return script


def reply_then_wait(*parts: bytes) -> Script:
    """Sends ``parts`` and then nothing more until the client closes."""

    async def script(conn: Conn, request: Request) -> None:
        await conn.send(*parts)
        await conn.until_peer_closes()

    return script


async def fetch(transport: HttpTransport, server: RawServer) -> bytes:
    response = await transport.post(server.url(), {}, BODY)
    return await response.read()


async def test_content_length_json_body_and_the_request_on_the_wire() -> None:
    payload = b'{"id":"c1","choices":[]}'
    answer = http_response(
        payload, headers=[("Content-Type", "application/json"), ("X-Request-Id", "r-1")]
    )
    sent = {"Authorization": "Bearer sk-test", "Content-Type": "application/json", "X-T": "1"}
    async with raw_server(reply(answer)) as server, http_transport() as transport:
        response = await transport.post(server.url(), sent, BODY)
        assert response.status == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers.get("Content-Type") == "application/json"
        assert response.headers["X-REQUEST-ID"] == "r-1"
        assert "Content-Length" in response.headers
        assert await response.read() == payload

    [request] = server.requests
    assert request.lines[0] == f"POST {PATH} HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in request.lines
    assert all(f"{name}: {value}" in request.lines for name, value in sent.items())
    assert f"Content-Length: {len(BODY)}" in request.lines
    assert request.body == BODY


async def test_body_without_length_ends_when_the_server_closes() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    script = reply_then_hang_up(head, b"first part, ", b"second part")
    async with raw_server(script) as server, http_transport() as transport:
        assert await fetch(transport, server) == b"first part, second part"
        await eventually(lambda: pool_of(transport, server).open_connections == 0)


@pytest.mark.parametrize(
    "interim",
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"],
)
async def test_interim_response_is_skipped(interim: bytes) -> None:
    script = reply(interim, http_response(b"real", headers=[("X-Real", "yes")]))
    async with raw_server(script) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        assert response.status == 200
        assert response.headers.get("x-real") == "yes"
        assert "link" not in response.headers
        assert await response.read() == b"real"


async def test_switching_protocols_answer_is_an_upstream_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A POST that asked for no upgrade cannot be switched: the answer is unusable.
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    async with raw_server(reply_then_wait(answer)) as server, http_transport() as transport:
        with pytest.raises(UpstreamError):
            await fetch(transport, server)
        await eventually(lambda: server.connections[0].peer_closed)
    assert "Fatal error" not in caplog.text  # asyncio's report of an exception in a protocol


async def test_response_split_into_single_bytes() -> None:
    answer = CHUNKED_HEAD[:-2] + b"X-Long-Name: a value\r\n\r\n"
    answer += chunk(b"hello") + chunk(b" world") + LAST_CHUNK
    script = reply(*(answer[i : i + 1] for i in range(len(answer))))  # one write per byte
    async with raw_server(script) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        assert response.headers.get("x-long-name") == "a value"
        assert await response.read() == b"hello world"
        assert pool_of(transport, server).idle_connections == 1


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_compressed_body_is_decoded(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    payload = b'{"text":"' + b"compressible " * 2000 + b'"}'
    answer = http_response(compress(payload), headers=[("Content-Encoding", encoding)])
    async with raw_server(reply(answer)) as server, http_transport() as transport:
        assert await fetch(transport, server) == payload
        assert server.requests[0].lines.count("Accept-Encoding: gzip, deflate") == 1


@pytest.mark.parametrize(
    "answer",
    [
        http_response(headers=[("Content-Encoding", "gzip")]),
        b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
    ],
    ids=["200-length-0", "204"],
)
async def test_empty_body_with_gzip_encoding_reads_as_empty(answer: bytes) -> None:
    # No compressed bytes at all is no body, not a truncated gzip stream (aiohttp, httpx
    # and curl all read it as empty).
    async with raw_server(reply(answer)) as server, http_transport() as transport:
        assert await fetch(transport, server) == b""


@pytest.mark.parametrize(
    "body",
    [b"this is not gzip at all", gzip.compress(b"x" * 5000)[:-8]],
    ids=["garbage", "truncated"],
)
async def test_invalid_gzip_body_breaks_the_stream(body: bytes) -> None:
    answer = http_response(body, headers=[("Content-Encoding", "gzip")])
    async with raw_server(reply(answer)) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        with pytest.raises(UpstreamStreamBroken):
            await response.read()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc\r\n\r\n",
        b"garbage that is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon in this header line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
        CHUNKED_HEAD + b"zz\r\nnot a chunk\r\n",
    ],
    ids=["status", "garbage", "content-length", "header", "two-lengths", "te-and-cl", "chunk"],
)
async def test_malformed_http_is_an_upstream_error(answer: bytes) -> None:
    async with raw_server(reply_then_wait(answer)) as server, http_transport() as transport:
        with pytest.raises(UpstreamError):  # anything else propagates and fails the test
            await fetch(transport, server)
        await eventually(lambda: server.connections[0].peer_closed)
        await eventually(lambda: pool_of(transport, server).open_connections == 0)


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary", "308 P"])
async def test_redirect_is_refused_and_not_followed(status: str) -> None:
    async with raw_server(reply(http_response(b"elsewhere"))) as elsewhere:
        answer = http_response(status=status, headers=[("Location", elsewhere.url())])
        async with raw_server(reply(answer)) as server, http_transport() as transport:
            with pytest.raises(UpstreamConnectError, match=status[:3]):
                await transport.post(server.url(), {"Authorization": "Bearer k"}, BODY)
            assert len(server.requests) == 1
        assert elsewhere.connections == []


@pytest.mark.parametrize("value", ["sk-secret-one\nX-Injected: 1", "sk-secret-one\rX-Injected: 1"])
async def test_line_break_in_a_header_value_is_refused_without_echoing_it(value: str) -> None:
    async with raw_server(reply(http_response())) as server, http_transport() as transport:
        with pytest.raises(UpstreamConnectError) as caught:
            await transport.post(server.url(), {"Authorization": value}, BODY)
        assert "sk-secret-one" not in str(caught.value)
        assert "X-Injected" not in str(caught.value)
        assert server.connections == []


async def test_set_cookie_is_dropped_and_repeated_headers_are_joined() -> None:
    headers = [("Set-Cookie", "a=1"), ("X-A", "1"), ("set-cookie", "b=2"), ("x-a", "2")]
    async with raw_server(reply(http_response(headers=headers))) as server:
        async with http_transport() as transport:
            response = await transport.post(server.url(), {}, BODY)
            await response.read()
    assert "set-cookie" not in response.headers
    assert response.headers.get("Set-Cookie") is None
    assert response.headers["X-A"] == "1, 2"
    assert dict(response.headers) == {"x-a": "1, 2", "content-length": "0"}


@pytest.mark.parametrize(
    ("url", "host", "port", "host_header", "path"),
    [
        ("http://h:8080/v1?x=1", "h", 8080, "h:8080", "/v1?x=1"),
        ("https://h/", "h", 443, "h", "/"),
        ("HTTP://h", "h", 80, "h", "/"),
        ("http://h:80/a", "h", 80, "h", "/a"),
        ("http://[::1]:9/", "::1", 9, "[::1]:9", "/"),
    ],
)
def test_parse_target_accepts(url: str, host: str, port: int, host_header: str, path: str) -> None:
    target = parse_target(url)
    assert (target.origin.host, target.origin.port) == (host, port)
    assert (target.host_header, target.path) == (host_header, path)


@pytest.mark.parametrize(
    "url",
    ["ftp://h", "http://", "http://u:p@h/", "http://u@h/", "http://h/#f", "h:80", "http://h:x/"],
)
def test_parse_target_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_target(url)


async def test_configured_host_and_accept_encoding_are_sent_once() -> None:
    sent = {"HOST": "llm.internal", "accept-encoding": "identity"}
    async with raw_server(reply(http_response(b"ok"))) as server, http_transport() as transport:
        response = await transport.post(server.url(), sent, BODY)
        assert await response.read() == b"ok"
    [request] = server.requests
    names = [line.split(":", 1)[0].lower() for line in request.lines[1:] if line]
    assert names.count("host") == 1 and "HOST: llm.internal" in request.lines
    assert names.count("accept-encoding") == 1 and "accept-encoding: identity" in request.lines
