"""Host names resolved once per minute, not once per new connection.

A burst of new upstream connections (a deploy, a traffic spike) would otherwise send
one getaddrinfo per connection through the loop's small resolver thread pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

Address = tuple[str, int]  # host (an IP literal) and port


class CachedResolver:
    def __init__(self, loop: asyncio.AbstractEventLoop, ttl_s: float = 60.0) -> None:
        self._loop = loop
        self._ttl_s = ttl_s
        self._cache: dict[Address, tuple[float, list[Address]]] = {}
        self._pending: dict[Address, asyncio.Task[list[Address]]] = {}

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Addresses to try in order; raises ``OSError`` when the name does not resolve."""
        if is_ip_literal(host):
            return [(host, port)]
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._loop.time():
            return cached[1]
        lookup = self._pending.get(key)
        if lookup is None:
            # One lookup per name at a time, owned by no caller: a caller that gives up
            # does not cancel it for the others.
            lookup = self._pending[key] = self._loop.create_task(self._lookup(host, port))
            lookup.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(lookup)

    def _settle(self, key: Address, lookup: asyncio.Task[list[Address]]) -> None:
        del self._pending[key]
        if not lookup.cancelled() and lookup.exception() is None:
            self._cache[key] = (self._loop.time() + self._ttl_s, lookup.result())

    def demote(self, host: str, port: int, address: Address) -> None:
        """An address that failed to connect goes last, until the next lookup."""
        cached = self._cache.get((host, port))
        if cached is None or address not in cached[1] or cached[1][-1] == address:
            return
        rest = [other for other in cached[1] if other != address]
        self._cache[(host, port)] = (cached[0], [*rest, address])

    async def _lookup(self, host: str, port: int) -> list[Address]:
        infos = await self._loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses: list[Address] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = (str(sockaddr[0]), int(sockaddr[1]))
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OSError(f"no address for {host}")
        return addresses


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
