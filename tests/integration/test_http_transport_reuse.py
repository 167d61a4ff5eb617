"""A kept-alive connection the upstream closes as a request goes out: the request is
sent again once, on a new connection; nothing else is ever re-sent."""

from __future__ import annotations

import pytest

from gateway.providers.base import UpstreamConnectError, UpstreamStreamBroken
from tests.integration.test_http_transport import (
    BODY,
    fetch,
    http_response,
    http_transport,
    pool_of,
    raw_server,
    reply,
    reply_then_hang_up,
)


async def test_reused_connection_closed_unanswered_is_retried_on_a_new_one() -> None:
    first, retried = reply(http_response(b"first")), reply(http_response(b"retried"))
    async with raw_server(first, reply_then_hang_up(), retried) as server:
        async with http_transport() as transport:
            assert await fetch(transport, server) == b"first"
            assert await fetch(transport, server) == b"retried"
            assert pool_of(transport, server).idle_connections == 1
    assert [len(conn.requests) for conn in server.connections] == [2, 1]
    assert all(request.body == BODY for request in server.requests)


async def test_the_retry_is_made_once() -> None:
    first = reply(http_response(b"first"))
    async with raw_server(first, reply_then_hang_up()) as server:
        async with http_transport() as transport:
            assert await fetch(transport, server) == b"first"
            with pytest.raises(UpstreamConnectError, match="closed the connection"):
                await fetch(transport, server)
    assert [len(conn.requests) for conn in server.connections] == [2, 1]


async def test_a_new_connection_closed_unanswered_is_not_retried() -> None:
    async with raw_server(reply_then_hang_up()) as server, http_transport() as transport:
        with pytest.raises(UpstreamConnectError):
            await fetch(transport, server)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("partial", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", UpstreamConnectError),  # inside the head
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npartial", UpstreamStreamBroken),
    ],
)
async def test_a_connection_that_answered_in_part_is_not_retried(
    partial: bytes, error: type[Exception]
) -> None:
    first = reply(http_response(b"first"))
    async with raw_server(first, reply_then_hang_up(partial)) as server:
        async with http_transport() as transport:
            assert await fetch(transport, server) == b"first"
            with pytest.raises(error):
                await fetch(transport, server)
    assert len(server.requests) == 2
