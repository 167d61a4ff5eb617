"""The pool's queue and the client's limits, over real sockets: the cases a review of
the transport found (a cancel racing a hand-over, a fresh connection in a full pool,
order of service, a black-holed address, oversized heads, frames kept by cycles)."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from gateway.providers.base import UpstreamConnectError, UpstreamStreamBroken
from gateway.transport.connection import ClosedBeforeAnswer, UpstreamConnection
from gateway.transport.pool import ConnectionPool
from gateway.transport.target import Origin
from tests.integration.test_http_transport import (
    BODY,
    CHUNKED_HEAD,
    Conn,
    Request,
    Script,
    chunk,
    fetch,
    http_response,
    http_transport,
    pool_of,
    raw_server,
    reply,
    reply_then_hang_up,
)
from tests.integration.test_http_transport_pool import unanswered_port
from tests.integration.test_upstream_addresses import FixedResolver

__all__ = ["unanswered_port"]  # a fixture, used by name


def slow_reply(body: bytes, delay_s: float = 0.05) -> Script:
    async def script(conn: Conn, request: Request) -> None:
        await asyncio.sleep(delay_s)
        await conn.send(http_response(body))

    return script


@pytest.mark.parametrize("cancel_first", [True, False])
async def test_a_cancel_racing_a_hand_over_is_a_plain_cancel(cancel_first: bool) -> None:
    # The answer that frees the connection and the cancel of the first queued request
    # land in one loop pass, in either order. (Patched at data_received: httptools
    # binds its callbacks when a parser is made.)
    async with raw_server(slow_reply(b"ok")) as server:
        async with http_transport(max_connections=1) as transport:
            pool = pool_of(transport, server)
            first = asyncio.create_task(fetch(transport, server))
            await asyncio.sleep(0.01)
            queued = asyncio.create_task(fetch(transport, server))
            behind = asyncio.create_task(fetch(transport, server))
            await asyncio.sleep(0.01)
            original = UpstreamConnection.data_received

            def received(self: UpstreamConnection, data: bytes) -> None:
                UpstreamConnection.data_received = original  # type: ignore[method-assign]
                if cancel_first:
                    queued.cancel()
                original(self, data)
                queued.cancel()

            UpstreamConnection.data_received = received  # type: ignore[method-assign]
            try:
                assert await asyncio.wait_for(first, 5) == b"ok"
            finally:
                UpstreamConnection.data_received = original  # type: ignore[method-assign]
            with pytest.raises(asyncio.CancelledError):
                await queued
            assert await asyncio.wait_for(behind, 5) == b"ok"  # the turn moved on
            assert pool.open_connections == 1


async def test_waiters_are_served_in_order_even_against_a_newcomer() -> None:
    served: list[str] = []
    async with raw_server(slow_reply(b"ok")) as server:
        async with http_transport(max_connections=1) as transport:

            async def named(name: str) -> None:
                await fetch(transport, server)
                served.append(name)

            first = asyncio.create_task(named("first"))
            await asyncio.sleep(0.01)
            waiters = [asyncio.create_task(named(f"w{i}")) for i in (1, 2)]
            await asyncio.sleep(0.01)
            newcomer: list[asyncio.Task[None]] = []
            original = UpstreamConnection.data_received

            def received(self: UpstreamConnection, data: bytes) -> None:
                UpstreamConnection.data_received = original  # type: ignore[method-assign]
                # A new request arrives in the very pass the first answer ends.
                newcomer.append(asyncio.ensure_future(named("newcomer")))
                original(self, data)

            UpstreamConnection.data_received = received  # type: ignore[method-assign]
            try:
                await asyncio.wait_for(asyncio.gather(first, *waiters), 5)
                await asyncio.wait_for(newcomer[0], 5)
            finally:
                UpstreamConnection.data_received = original  # type: ignore[method-assign]
    assert served == ["first", "w1", "w2", "newcomer"]


async def test_a_fresh_connection_in_a_full_pool_replaces_an_idle_one() -> None:
    async with raw_server(reply(http_response(b"ok"))) as server:
        async with http_transport(max_connections=1, connect_timeout_s=1) as transport:
            pool = pool_of(transport, server)
            assert await fetch(transport, server) == b"ok"
            assert pool.idle_connections == 1
            connection = await asyncio.wait_for(pool.acquire(fresh=True), 5)
            assert connection.exchanges == 0 and pool.open_connections == 1
            pool.release(connection)
    assert len(server.connections) == 2


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs")
async def test_a_black_holed_address_does_not_use_up_the_connect_timeout(
    unanswered_port: int,
) -> None:
    async with raw_server(reply(http_response(b"ok"))) as server:
        loop = asyncio.get_running_loop()
        addresses = [("127.0.0.1", unanswered_port), ("127.0.0.1", server.port)]
        resolver = FixedResolver(loop, addresses)
        pool = ConnectionPool(
            loop,
            Origin("http", "upstream.test", 80),
            max_connections=4,
            connect_timeout_s=2,
            idle_timeout_s=15,
            ssl_context=None,
            resolver=resolver,
        )
        try:
            connection = await asyncio.wait_for(pool.acquire(), 5)
            assert connection.usable
            # The address that failed goes last for the next connections.
            cached = await resolver.resolve("upstream.test", 80)
            assert cached == [("127.0.0.1", server.port), ("127.0.0.1", unanswered_port)]
        finally:
            pool.close()
    assert len(server.connections) == 1


async def test_an_oversized_head_is_refused() -> None:
    pad = b"X-Pad: " + b"a" * 100 + b"\r\n"
    endless = reply_then_hang_up(b"HTTP/1.1 200 OK\r\n" + pad * 2000)  # 214 KB, unfinished
    async with raw_server(endless) as server, http_transport() as transport:
        with pytest.raises(UpstreamConnectError, match="oversized response head"):
            await asyncio.wait_for(fetch(transport, server), 5)


async def test_many_repeated_headers_are_joined() -> None:
    lines = [("X-Rep", str(i)) for i in range(2000)]
    async with raw_server(reply(http_response(b"ok", headers=lines))) as server:
        async with http_transport() as transport:
            response = await transport.post(server.url(), {}, BODY)
            assert response.headers["x-rep"] == ", ".join(str(i) for i in range(2000))
            assert await response.read() == b"ok"


class Marker:
    """Stands for what a caller's frame holds while it reads: the prompt, the record."""


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_a_broken_stream_leaves_no_cycle_holding_the_callers_frame() -> None:
    cut = reply_then_hang_up(CHUNKED_HEAD, chunk(b"part"))
    async with raw_server(cut) as server, http_transport() as transport:

        async def reader() -> weakref.ref[Marker]:
            held = Marker()
            response = await transport.post(server.url(), {}, BODY)
            with pytest.raises(UpstreamStreamBroken):
                while await response.read_chunk():
                    pass
            response.close()
            return weakref.ref(held)

        ref = await reader()
        assert ref() is None  # freed by reference counting alone


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_a_retried_request_leaves_no_cycle_behind() -> None:
    # The failed first exchange must not leave its error, traceback and frame (which
    # holds the prompt) in a cycle that only the collector could free.
    first, retried = reply(http_response(b"first")), reply(http_response(b"retried"))
    async with raw_server(first, reply_then_hang_up(), retried) as server:
        async with http_transport() as transport:
            assert await fetch(transport, server) == b"first"
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                assert await fetch(transport, server) == b"retried"
                gc.collect()
                stranded = [o for o in gc.garbage if isinstance(o, ClosedBeforeAnswer)]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
    assert stranded == []
