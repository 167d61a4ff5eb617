"""``HttpTransport``: what a provider posts its requests through."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Mapping

from gateway.providers.base import UpstreamConnectError
from gateway.transport.connection import ClosedBeforeAnswer, UpstreamConnection
from gateway.transport.pool import ConnectionPool
from gateway.transport.proxy import Proxy
from gateway.transport.resolver import CachedResolver
from gateway.transport.response import HttpResponse
from gateway.transport.target import Origin, Target, parse_target

# Closed before common upstream keep-alive timeouts (nginx 75 s, many LBs 60 s) so an
# upstream rarely closes a connection just as a request is written to it.
IDLE_TIMEOUT_S = 15.0


def request_head(
    target: Target, headers: Mapping[str, str], length: int, method: str = "POST"
) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\n", ""]
    accept_encoding = True
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            # Header names are the operator's; never echo a value, it may be a key.
            raise UpstreamConnectError(f"header '{name.strip()}' contains a line break")
        lowered = name.lower()
        if lowered == "host":
            lines[1] = f"{name}: {value}\r\n"  # a configured Host wins, sent once
            continue
        if lowered == "accept-encoding":
            accept_encoding = False
        lines.append(f"{name}: {value}\r\n")
    if not lines[1]:
        lines[1] = f"Host: {target.host_header}\r\n"
    if accept_encoding:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    if target.proxy_authorization is not None:
        lines.append(f"Proxy-Authorization: {target.proxy_authorization}\r\n")
    lines.append(f"Content-Length: {length}\r\n\r\n")
    return "".join(lines).encode("utf-8")


class HttpTransport:
    """Pools per origin, created on first use: they belong to the running loop."""

    def __init__(
        self,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        proxy: Proxy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._proxy = proxy
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._idle_timeout_s = idle_timeout_s
        self._targets: dict[str, Target] = {}
        self._pools: dict[Origin, ConnectionPool] = {}
        # None: the system's trust store, made on the first TLS connection.
        self._ssl = ssl_context
        self._resolver: CachedResolver | None = None
        self.closed = False

    def pool(self, origin: Origin) -> ConnectionPool:
        pool = self._pools.get(origin)
        if pool is None:
            loop = asyncio.get_running_loop()
            if origin.tls and self._ssl is None:
                self._ssl = ssl.create_default_context()
            if self._resolver is None:
                self._resolver = CachedResolver(loop)
            pool = self._pools[origin] = ConnectionPool(
                loop,
                origin,
                max_connections=self._max_connections,
                connect_timeout_s=self._connect_timeout_s,
                idle_timeout_s=self._idle_timeout_s,
                ssl_context=self._ssl if origin.tls else None,
                resolver=self._resolver,
                proxy=self._proxy,
            )
        return pool

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        return await self.request("POST", url, headers, body)

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> HttpResponse:
        if self.closed:
            raise UpstreamConnectError("the provider's client is closed")
        target = self._targets.get(url)
        if target is None:
            target = self._through_proxy(parse_target(url))
            if method == "POST":
                # POST URLs are one per model; others name a resource (an id), so
                # caching them would grow without bound.
                self._targets[url] = target
        head = request_head(target, headers, len(body), method)
        pool = self.pool(target.origin)
        try:
            response = await self._exchange(await pool.acquire(), head, body)
        except ClosedBeforeAnswer:
            # A kept-alive connection the upstream closed as the request went out
            # (its idle timeout raced ours) gave no answer at all: the request is sent
            # again once, on a new connection, as browsers do. A new connection that
            # closes unanswered is the upstream's failure.
            response = await self._exchange(await pool.acquire(fresh=True), head, body)
        if 300 <= response.status < 400:
            # Never followed: a redirect would carry the provider's headers (an
            # `api-key`) and the prompt to wherever the upstream points.
            response.close()
            raise UpstreamConnectError(
                f"upstream answered {response.status} (redirects are not followed)"
            )
        return response

    def _through_proxy(self, target: Target) -> Target:
        """A plain-http request to a proxy names the whole URL (absolute form) and
        carries the proxy's credentials; an https one goes through a tunnel unchanged."""
        proxy = self._proxy
        if proxy is None or target.origin.tls:
            return target
        return dataclasses.replace(
            target,
            path=f"http://{target.host_header}{target.path}",
            proxy_authorization=proxy.authorization,
        )

    async def _exchange(
        self, connection: UpstreamConnection, head: bytes, body: bytes
    ) -> HttpResponse:
        reused = connection.exchanges > 0
        answer: asyncio.Future[HttpResponse] | None = None
        try:
            answer = connection.send(head, body, self._timeout_s)
            return await answer
        except ClosedBeforeAnswer as exc:
            if reused:
                raise
            raise UpstreamConnectError(str(exc)) from exc  # not to be retried
        except asyncio.CancelledError:
            connection.abort()  # the answer would arrive for nobody
            raise
        finally:
            # The future holds a failure's traceback, which holds this frame: a cycle
            # that would keep the prompt alive until a full collection.
            answer = None

    async def aclose(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)  # let the transports run their connection_lost
