"""A host name with several addresses: the pool tries them in order, over real sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.providers.base import UpstreamConnectError
from gateway.transport.pool import ConnectionPool
from gateway.transport.resolver import Address, CachedResolver
from gateway.transport.target import Origin


class FixedResolver(CachedResolver):
    def __init__(self, loop: asyncio.AbstractEventLoop, addresses: list[Address]) -> None:
        super().__init__(loop)
        self.addresses = addresses

    async def _lookup(self, host: str, port: int) -> list[Address]:
        return self.addresses


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pool_for(addresses: list[Address]) -> ConnectionPool:
    loop = asyncio.get_running_loop()
    return ConnectionPool(
        loop,
        Origin("http", "upstream.test", 80),
        max_connections=4,
        connect_timeout_s=2,
        idle_timeout_s=15,
        ssl_context=None,
        resolver=FixedResolver(loop, addresses),
    )


async def test_an_address_that_refuses_is_skipped_for_the_next() -> None:
    accepted: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.read()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = pool_for([("127.0.0.1", closed_port()), ("127.0.0.1", port)])
    try:
        connection = await pool.acquire()
        assert connection.usable
        assert pool.open_connections == 1
    finally:
        pool.close()
        server.close()
        await server.wait_closed()
    assert accepted == [1]


async def test_when_every_address_refuses_the_error_is_a_connect_error() -> None:
    pool = pool_for([("127.0.0.1", closed_port()), ("127.0.0.1", closed_port())])
    with pytest.raises(UpstreamConnectError, match="cannot connect to the upstream"):
        await pool.acquire()
    assert pool.open_connections == 0
