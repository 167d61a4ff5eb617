"""``gateway.transport`` connections over real sockets: connecting (refused, timing
out, TLS), keep-alive reuse, the per-origin limit, idle expiry, an upstream closing
early, timeouts, cancellation, abandoning a stream, closing the transport under a
reader, and backpressure. The raw servers and helpers are in ``test_http_transport.py``."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStreamBroken,
    UpstreamTimeout,
)
from gateway.transport.target import parse_target
from tests.integration.test_http_transport import (
    BODY,
    CHUNKED_HEAD,
    LAST_CHUNK,
    PATH,
    Conn,
    Request,
    chunk,
    eventually,
    fetch,
    http_response,
    http_transport,
    pool_of,
    raw_server,
    reply,
    reply_then_hang_up,
    reply_then_wait,
)
from tests.support.fake_upstream import free_port
from tests.support.tls import self_signed, server_tls


async def test_close_before_any_response_is_a_connect_error() -> None:
    async with raw_server(reply_then_hang_up()) as server, http_transport() as transport:
        with pytest.raises(UpstreamConnectError):
            await transport.post(server.url(), {}, BODY)
        await eventually(lambda: pool_of(transport, server).open_connections == 0)


async def test_close_mid_body_breaks_read() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    async with raw_server(reply_then_hang_up(head, b"0123456789")) as server:
        async with http_transport() as transport:
            response = await transport.post(server.url(), {}, BODY)
            with pytest.raises(UpstreamStreamBroken):
                await response.read()


async def test_close_mid_chunk_breaks_read_chunk() -> None:
    script = reply_then_hang_up(CHUNKED_HEAD, chunk(b"hello"), b"64\r\n0123456789")
    async with raw_server(script) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        received = b""
        with pytest.raises(UpstreamStreamBroken):
            while True:  # what arrived before the close is handed out first
                received += await asyncio.wait_for(response.read_chunk(), 5)
        assert received == b"hello0123456789"


async def test_connection_refused_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}{PATH}"
    async with http_transport() as transport:
        with pytest.raises(UpstreamConnectError):
            await transport.post(url, {}, BODY)
        assert transport.pool(parse_target(url).origin).open_connections == 0


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops further SYNs, so connecting hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
        for filler in fillers:
            filler.close()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs")
async def test_connect_timeout(unanswered_port: int) -> None:
    url = f"http://127.0.0.1:{unanswered_port}{PATH}"
    async with http_transport(connect_timeout_s=0.3) as transport:
        with pytest.raises(UpstreamTimeout):
            await asyncio.wait_for(transport.post(url, {}, BODY), 5)
        assert transport.pool(parse_target(url).origin).open_connections == 0


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed(tmp_path)


async def test_tls_with_a_trusted_certificate(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    tls = server_tls(*tls_files)
    async with raw_server(reply(http_response(b"secure")), tls=tls) as server:
        async with http_transport() as transport:
            response = await transport.post(server.url(scheme="https"), {}, BODY)
            assert await response.read() == b"secure"
    assert f"Host: 127.0.0.1:{server.port}" in server.requests[0].lines


async def test_tls_with_an_untrusted_certificate_is_a_connect_error(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    async with raw_server(reply(http_response()), tls=server_tls(*tls_files)) as server:
        async with http_transport() as transport:
            with pytest.raises(UpstreamConnectError):
                await transport.post(server.url(scheme="https"), {}, BODY)
    assert server.requests == []


async def test_sequential_requests_reuse_one_connection() -> None:
    script = reply(http_response(b"same socket"))
    async with raw_server(script) as server, http_transport() as transport:
        pool = pool_of(transport, server)
        assert await fetch(transport, server) == b"same socket"
        assert (pool.open_connections, pool.idle_connections) == (1, 1)
        assert await fetch(transport, server) == b"same socket"
        assert (pool.open_connections, pool.idle_connections) == (1, 1)
    assert len(server.connections) == 1
    assert len(server.connections[0].requests) == 2


async def test_connection_close_answer_is_not_reused() -> None:
    script = reply(http_response(b"bye", headers=[("Connection", "close")]))
    async with raw_server(script) as server, http_transport() as transport:
        assert await fetch(transport, server) == b"bye"
        await eventually(lambda: server.connections[0].peer_closed)
        assert await fetch(transport, server) == b"bye"
    assert len(server.connections) == 2


async def test_chunked_body_read_piece_by_piece_then_connection_reused() -> None:
    pieces = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]
    gate: asyncio.Queue[None] = asyncio.Queue()

    async def stream(conn: Conn, request: Request) -> None:
        await conn.send(CHUNKED_HEAD)
        for piece in pieces:  # the next piece only once the client has read this one
            await conn.send(chunk(piece))
            await gate.get()
        await conn.send(LAST_CHUNK)

    async with raw_server(stream, reply(http_response(b"next"))) as server:
        async with http_transport() as transport:
            response = await transport.post(server.url(), {}, BODY)
            assert response.status == 200
            for piece in pieces:
                assert await asyncio.wait_for(response.read_chunk(), 5) == piece
                gate.put_nowait(None)
            assert await asyncio.wait_for(response.read_chunk(), 5) == b""
            assert await response.read_chunk() == b""
            assert await fetch(transport, server) == b"next"
    assert len(server.connections) == 1


async def test_idle_connection_expires_and_a_new_one_is_opened() -> None:
    async with raw_server(reply(http_response(b"ok"))) as server:
        async with http_transport(idle_timeout_s=0.2) as transport:
            pool = pool_of(transport, server)
            assert await fetch(transport, server) == b"ok"
            await eventually(lambda: server.connections[0].peer_closed)
            await eventually(lambda: pool.open_connections == 0)
            assert await fetch(transport, server) == b"ok"
    assert len(server.connections) == 2


async def test_server_closing_an_idle_connection_is_forgotten() -> None:
    async def then_hang_up(conn: Conn, request: Request) -> None:
        await conn.send(http_response(b"ok"))
        conn.hang_up()  # keep-alive was promised, but the server closes anyway

    async with raw_server(then_hang_up) as server, http_transport() as transport:
        pool = pool_of(transport, server)
        assert await fetch(transport, server) == b"ok"
        await eventually(lambda: pool.open_connections == 0)
        assert pool.idle_connections == 0
        assert await fetch(transport, server) == b"ok"
    assert len(server.connections) == 2


async def test_server_that_never_answers_times_out() -> None:
    async with raw_server(reply_then_wait()) as server:
        async with http_transport(timeout_s=0.2) as transport:
            with pytest.raises(UpstreamTimeout):
                await asyncio.wait_for(transport.post(server.url(), {}, BODY), 5)
            await eventually(lambda: server.connections[0].peer_closed)
            assert pool_of(transport, server).open_connections == 0


async def test_stream_stalling_mid_body_times_out() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    async with raw_server(reply_then_wait(head, b"0123456789")) as server:
        async with http_transport(timeout_s=0.2) as transport:
            response = await transport.post(server.url(), {}, BODY)
            assert await asyncio.wait_for(response.read_chunk(), 5) == b"0123456789"
            with pytest.raises(UpstreamTimeout):
                await asyncio.wait_for(response.read_chunk(), 5)
            await eventually(lambda: server.connections[0].peer_closed)
            assert pool_of(transport, server).open_connections == 0


async def test_closing_an_unfinished_stream_closes_its_connection() -> None:
    script = reply_then_wait(CHUNKED_HEAD, chunk(b"first"))
    async with raw_server(script) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        assert await asyncio.wait_for(response.read_chunk(), 5) == b"first"
        response.close()
        await eventually(lambda: server.connections[0].peer_closed)
        await eventually(lambda: pool_of(transport, server).open_connections == 0)
        assert await response.read_chunk() == b""


async def test_cancelling_a_waiting_post_closes_the_connection() -> None:
    async with raw_server(reply_then_wait()) as server, http_transport() as transport:
        task = asyncio.create_task(transport.post(server.url(), {}, BODY))
        await eventually(lambda: len(server.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: server.connections[0].peer_closed)
        await eventually(lambda: pool_of(transport, server).open_connections == 0)


async def test_limit_of_one_queues_the_second_request_until_the_first_body_ends() -> None:
    log: list[str] = []
    finish = asyncio.Event()

    async def first(conn: Conn, request: Request) -> None:
        log.append("first received")
        await conn.send(CHUNKED_HEAD, chunk(b"a"))
        await finish.wait()
        log.append("first finished")
        await conn.send(LAST_CHUNK)

    async def second(conn: Conn, request: Request) -> None:
        log.append("second received")
        await conn.send(http_response(b"second"))

    async with raw_server(first, second) as server:
        async with http_transport(max_connections=1) as transport:
            pool = pool_of(transport, server)
            response = await transport.post(server.url(), {}, BODY)
            assert await asyncio.wait_for(response.read_chunk(), 5) == b"a"
            queued = asyncio.create_task(fetch(transport, server))
            await asyncio.sleep(0)  # let it reach the pool
            assert not queued.done()
            assert pool.open_connections == 1
            finish.set()
            assert await asyncio.wait_for(response.read_chunk(), 5) == b""
            assert await asyncio.wait_for(queued, 5) == b"second"
    assert log == ["first received", "first finished", "second received"]
    assert len(server.connections) == 1  # the second request waited for, then reused, it


async def test_limit_of_one_hands_the_turn_on_when_a_stream_is_abandoned() -> None:
    script = reply_then_wait(CHUNKED_HEAD, chunk(b"a"))
    async with raw_server(script, reply(http_response(b"second"))) as server:
        async with http_transport(max_connections=1) as transport:
            response = await transport.post(server.url(), {}, BODY)
            queued = asyncio.create_task(fetch(transport, server))
            await asyncio.sleep(0)
            assert not queued.done()
            response.close()
            assert await asyncio.wait_for(queued, 5) == b"second"
            assert pool_of(transport, server).open_connections == 1
    assert len(server.connections) == 2
    assert server.connections[0].peer_closed


async def test_aclose_wakes_a_waiting_reader_and_refuses_new_requests() -> None:
    script = reply_then_wait(CHUNKED_HEAD, chunk(b"first"))
    async with raw_server(script) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        assert await asyncio.wait_for(response.read_chunk(), 5) == b"first"
        reading = asyncio.Event()

        async def read_next() -> bytes:
            reading.set()
            return await response.read_chunk()  # blocks: the server sends nothing more

        reader = asyncio.create_task(read_next())
        await reading.wait()
        await transport.aclose()
        assert transport.closed
        with pytest.raises(UpstreamError):
            await asyncio.wait_for(reader, 5)
        with pytest.raises(UpstreamConnectError):
            await transport.post(server.url(), {}, BODY)
        await eventually(lambda: server.connections[0].peer_closed)
    assert len(server.connections) == 1


async def test_large_body_arrives_intact_through_backpressure() -> None:
    size = 4 * 1024 * 1024
    payload = random.Random(7).randbytes(size)
    sent = [0]

    async def big(conn: Conn, request: Request) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for start in range(0, size, 65536):
            await conn.send(payload[start : start + 65536])
            sent[0] = start + 65536

    async with raw_server(big) as server, http_transport() as transport:
        response = await transport.post(server.url(), {}, BODY)
        # Read nothing until the server has pushed well past the 64 KB high-water mark:
        # with backpressure the excess waits in the socket, not in the response.
        await eventually(lambda: sent[0] >= 1024 * 1024)
        digest, total, largest = hashlib.sha256(), 0, 0
        while piece := await asyncio.wait_for(response.read_chunk(), 5):
            digest.update(piece)
            total += len(piece)
            largest = max(largest, len(piece))
            await asyncio.sleep(0)  # a slow reader
    assert total == size
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert largest <= 512 * 1024  # 64 KB high water plus one socket read, not the backlog


async def test_aclose_fails_a_request_queued_for_a_connection() -> None:
    async with raw_server(reply_then_wait(CHUNKED_HEAD, chunk(b"a"))) as server:
        async with http_transport(max_connections=1) as transport:
            response = await transport.post(server.url(), {}, BODY)
            queued = asyncio.create_task(transport.post(server.url(), {}, BODY))
            await asyncio.sleep(0)  # let it reach the pool's queue
            assert not queued.done()
            await transport.aclose()
            with pytest.raises(UpstreamConnectError):
                await asyncio.wait_for(queued, 5)
            with pytest.raises(UpstreamStreamBroken):
                await asyncio.wait_for(response.read(), 5)
    assert len(server.requests) == 1


async def test_aclose_while_connecting_refuses_the_request() -> None:
    async with raw_server(reply(http_response(b"late"))) as server, http_transport() as transport:
        pool = pool_of(transport, server)
        posting = asyncio.create_task(transport.post(server.url(), {}, BODY))
        await asyncio.sleep(0)  # one step: the post is now inside the pool's connect
        assert pool.open_connections == 1
        await transport.aclose()
        with pytest.raises(UpstreamConnectError):
            await asyncio.wait_for(posting, 5)
        await eventually(lambda: all(conn.peer_closed for conn in server.connections))
    assert server.requests == []


async def test_waiting_for_a_free_connection_is_bounded_by_the_connect_timeout() -> None:
    async with raw_server(reply_then_wait(CHUNKED_HEAD, chunk(b"a"))) as server:
        async with http_transport(max_connections=1, connect_timeout_s=0.2) as transport:
            held = await transport.post(server.url(), {}, BODY)
            assert await asyncio.wait_for(held.read_chunk(), 5) == b"a"
            with pytest.raises(UpstreamTimeout, match="getting a connection"):
                await asyncio.wait_for(transport.post(server.url(), {}, BODY), 5)
            assert pool_of(transport, server).open_connections == 1
            held.close()
    assert len(server.requests) == 1
