"""Keep-alive connections to one origin, at most ``max_connections`` of them."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque

from gateway.providers.base import UpstreamConnectError, UpstreamTimeout
from gateway.transport.connection import UpstreamConnection
from gateway.transport.proxy import Proxy, open_tunnel
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
        proxy: Proxy | None = None,
    ) -> None:
        self._loop = loop
        self._origin = origin
        self._resolver = resolver
        self._proxy = proxy
        # Where the TCP connection goes: the upstream, or the proxy in front of it.
        self._peer = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
        self._literal = is_ip_literal(self._peer[0])
        self._max = max_connections
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._ssl = ssl_context
        # dicts as ordered sets: popitem() takes the newest idle connection, and a
        # connection that closes leaves in O(1) even with thousands open.
        self._idle: dict[UpstreamConnection, None] = {}
        self._open: dict[UpstreamConnection, None] = {}  # open or opening
        # A waiter is handed a kept-alive connection by release(), or None: a slot freed
        # by a closed connection, reserved for it until it connects.
        self._waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
        self._reserved = 0
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
        if not fresh and not self._waiters and not self._closed:
            # The common case waits for nothing: no deadline to arm and tear down.
            connection = self._take_idle()
            if connection is not None:
                return connection
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await self._acquire(fresh)
        except TimeoutError as exc:
            raise UpstreamTimeout("timed out getting a connection to the upstream") from exc

    async def _acquire(self, fresh: bool) -> UpstreamConnection:
        if self._closed:
            raise UpstreamConnectError("the provider's client is closed")
        if not self._waiters:  # nobody queued first
            if not fresh:
                connection = self._take_idle()
                if connection is not None:
                    return connection
            if self._has_room():
                return await self._connect()
            if fresh and self._idle:
                self._discard(next(iter(self._idle)))  # the oldest idle one makes room
                return await self._connect()
        front = False
        while True:
            waiter: asyncio.Future[UpstreamConnection | None] = self._loop.create_future()
            if front:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                self._abandon(waiter)
                raise
            if self._closed:
                raise UpstreamConnectError("the provider's client is closed")
            if handed is None:  # a slot freed by a closed connection, kept for us
                self._reserved -= 1
                return await self._connect()
            if handed.usable:
                if not fresh:
                    return handed
                self._discard(handed)  # its slot is ours
                return await self._connect()
            # It closed between the hand-over and now, and its slot went the usual way.
            if self._has_room():
                return await self._connect()
            front = True

    def _has_room(self) -> bool:
        return len(self._open) + self._reserved < self._max

    def _take_idle(self) -> UpstreamConnection | None:
        stale = self._loop.time() - self._idle_timeout_s
        while self._idle:
            connection, _ = self._idle.popitem()  # the newest
            if connection.usable and connection.idle_since > stale:
                return connection
            self._discard(connection)
        return None

    def _discard(self, connection: UpstreamConnection) -> None:
        """Closes a connection whose slot the caller takes over at once."""
        connection.forgotten = True
        self._idle.pop(connection, None)
        self._open.pop(connection, None)
        connection.close()

    def _abandon(self, waiter: asyncio.Future[UpstreamConnection | None]) -> None:
        """A queued caller gave up (cancelled, timed out): what it was given moves on."""
        if waiter.done() and not waiter.cancelled():
            handed = waiter.result()
            if handed is None:
                if not self._closed:  # close() wakes everyone with None, reserving nothing
                    self._reserved -= 1
                    self._give_slot()
            else:
                self.release(handed)
        else:
            with contextlib.suppress(ValueError):  # a wake-up may have dropped it already
                self._waiters.remove(waiter)

    def _next_waiter(self) -> asyncio.Future[UpstreamConnection | None] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _give_slot(self) -> None:
        waiter = self._next_waiter()
        if waiter is not None:
            self._reserved += 1
            waiter.set_result(None)

    async def _connect(self) -> UpstreamConnection:
        connection = UpstreamConnection(self._loop, self)
        self._open[connection] = None
        peer = self._peer
        try:
            if self._literal:
                addresses = [peer]
            else:
                addresses = await self._resolver.resolve(*peer)
            # Every address but the last gets a share of the time: one that drops
            # packets (a broken IPv6 route) must not use up the whole connect timeout.
            share = self._connect_timeout_s / len(addresses)
            for index, address in enumerate(addresses):
                last = index == len(addresses) - 1
                try:
                    async with asyncio.timeout(None if last else share):
                        await self._open_to(connection, address)
                    break
                except OSError:  # TimeoutError included
                    if last:
                        raise  # the last address's error stands for all
                    self._resolver.demote(peer[0], peer[1], address)
        except OSError as exc:  # refused, unreachable, DNS, TLS (not the timeout: acquire's)
            self._give_up(connection)
            reason = exc.strerror or type(exc).__name__
            proxy = self._proxy
            where = "the upstream"
            if proxy is not None and not isinstance(exc, ssl.SSLError):
                where = f"the proxy {proxy.shown}"
            raise UpstreamConnectError(f"cannot connect to {where}: {reason}") from exc
        except BaseException:
            self._give_up(connection)
            raise
        if self._closed:  # closed while connecting: close() could not reach it yet
            self._give_up(connection)
            raise UpstreamConnectError("the provider's client is closed")
        return connection

    async def _open_to(self, connection: UpstreamConnection, address: tuple[str, int]) -> None:
        origin = self._origin
        hostname = origin.host if self._ssl is not None else None
        if self._proxy is not None and self._ssl is not None:
            # TLS to the upstream inside a CONNECT tunnel through the proxy.
            sock = await open_tunnel(self._loop, self._proxy, address, origin)
            await self._loop.create_connection(
                lambda: connection, sock=sock, ssl=self._ssl, server_hostname=hostname
            )
            return
        await self._loop.create_connection(
            lambda: connection, address[0], address[1], ssl=self._ssl, server_hostname=hostname
        )

    def _give_up(self, connection: UpstreamConnection) -> None:
        connection.abort()
        self.forget(connection)

    def release(self, connection: UpstreamConnection) -> None:
        """A connection whose response ended cleanly, ready for the next request."""
        if self._closed or connection.forgotten:
            connection.close()
            return
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(connection)  # straight to the longest-waiting caller
            return
        connection.idle_since = self._loop.time()
        self._idle[connection] = None
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._idle_timeout_s, self._close_stale)

    def forget(self, connection: UpstreamConnection) -> None:
        """The connection closed (or never opened): it no longer counts."""
        if connection.forgotten:
            return
        connection.forgotten = True
        self._idle.pop(connection, None)
        if connection in self._open:  # it held a slot: the next queued caller gets it
            del self._open[connection]
            self._give_slot()

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
