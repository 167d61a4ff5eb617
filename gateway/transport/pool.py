"""Keep-alive connections to one origin, at most ``max_connections`` of them."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

from gateway.providers.base import UpstreamConnectError, UpstreamTimeout
from gateway.transport.connection import UpstreamConnection
from gateway.transport.resolver import CachedResolver, is_ip_literal
from gateway.transport.target import Origin


class ConnectionPool:
    """Hands out an idle connection (newest first) or opens one; once the limit is
    reached, callers queue in order. Connections idle longer than ``idle_timeout_s``
    are closed, before an upstream's own idle timeout closes them under a request."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        *,
        max_connections: int,
        connect_timeout_s: float,
        idle_timeout_s: float,
        ssl_context: ssl.SSLContext | None,
        resolver: CachedResolver,
    ) -> None:
        self._loop = loop
        self._origin = origin
        self._resolver = resolver
        self._literal = is_ip_literal(origin.host)
        self._max = max_connections
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._ssl = ssl_context
        # dicts as ordered sets: popitem() takes the newest idle connection, and a
        # connection that closes leaves in O(1) even with thousands open.
        self._idle: dict[UpstreamConnection, None] = {}
        self._open: dict[UpstreamConnection, None] = {}  # open or opening
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def open_connections(self) -> int:
        return len(self._open)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def acquire(self, *, fresh: bool = False) -> UpstreamConnection:
        """A connection for one request (a new one if ``fresh``). ``connect_timeout_s``
        bounds the whole wait, the queue for a free connection included."""
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await self._acquire(fresh)
        except TimeoutError as exc:
            raise UpstreamTimeout("timed out getting a connection to the upstream") from exc

    async def _acquire(self, fresh: bool) -> UpstreamConnection:
        while True:
            if self._closed:
                raise UpstreamConnectError("the provider's client is closed")
            stale = self._loop.time() - self._idle_timeout_s
            while self._idle and not fresh:
                connection, _ = self._idle.popitem()
                if connection.usable and connection.idle_since > stale:
                    return connection
                connection.close()
            if len(self._open) < self._max:
                return await self._connect()
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the turn this caller was given to the next one
                else:
                    self._waiters.remove(waiter)
                raise

    async def _connect(self) -> UpstreamConnection:
        connection = UpstreamConnection(self._loop, self)
        self._open[connection] = None
        origin = self._origin
        try:
            if self._literal:
                addresses = [(origin.host, origin.port)]
            else:
                addresses = await self._resolver.resolve(origin.host, origin.port)
            for index, (host, port) in enumerate(addresses):
                try:
                    await self._loop.create_connection(
                        lambda: connection,
                        host,
                        port,
                        ssl=self._ssl,
                        server_hostname=origin.host if self._ssl is not None else None,
                    )
                    break
                except OSError:
                    if index == len(addresses) - 1:
                        raise  # the last address's error stands for all
        except OSError as exc:  # refused, unreachable, DNS, TLS (not the timeout: acquire's)
            self._give_up(connection)
            reason = exc.strerror or type(exc).__name__
            raise UpstreamConnectError(f"cannot connect to the upstream: {reason}") from exc
        except BaseException:
            self._give_up(connection)
            raise
        if self._closed:  # closed while connecting: close() could not reach it yet
            self._give_up(connection)
            raise UpstreamConnectError("the provider's client is closed")
        return connection

    def _give_up(self, connection: UpstreamConnection) -> None:
        connection.abort()
        self.forget(connection)

    def release(self, connection: UpstreamConnection) -> None:
        """A connection whose response ended cleanly, ready for the next request."""
        if self._closed or connection.forgotten:
            connection.close()
            return
        connection.idle_since = self._loop.time()
        self._idle[connection] = None
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._idle_timeout_s, self._close_stale)
        self._wake()

    def forget(self, connection: UpstreamConnection) -> None:
        """The connection closed (or never opened): it no longer counts."""
        if connection.forgotten:
            return
        connection.forgotten = True
        self._idle.pop(connection, None)
        self._open.pop(connection, None)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_stale(self) -> None:
        self._sweep = None
        stale = self._loop.time() - self._idle_timeout_s
        for connection in list(self._idle):  # oldest first
            if connection.idle_since > stale:
                break
            del self._idle[connection]
            connection.close()
        if self._idle and not self._closed:
            self._sweep = self._loop.call_later(self._idle_timeout_s / 2, self._close_stale)

    def close(self) -> None:
        """Closes every connection, busy ones included; new requests are refused."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connection in list(self._open):
            connection.terminate("the provider's client closed")
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
