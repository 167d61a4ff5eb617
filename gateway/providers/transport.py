"""The aiohttp transport: one pooled keep-alive session per provider.

aiohttp rather than httpx on the data path: on one core against an instant mock,
a pass-through did 3,100 req/s with aiohttp and 430 with ``httpx.AsyncClient``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamResponse,
    UpstreamStreamBroken,
    UpstreamTimeout,
)


class AiohttpResponse(UpstreamResponse):
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except TimeoutError as exc:
            raise UpstreamTimeout("timed out reading the upstream body") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamStreamBroken(f"upstream body broke off: {type(exc).__name__}") from exc
        finally:
            self._response.release()

    async def read_chunk(self) -> bytes:
        try:
            return await self._response.content.readany()
        except TimeoutError as exc:
            raise UpstreamTimeout("timed out reading the upstream stream") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamStreamBroken(f"upstream stream broke off: {type(exc).__name__}") from exc

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    def close(self) -> None:
        # close() drops the connection, so an abandoned stream stops upstream too;
        # a fully read body was already released to the pool by then.
        if not self._response.closed:
            self._response.close()


class AiohttpTransport:
    def __init__(
        self,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=connect_timeout_s, sock_read=timeout_s
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession belongs to the event loop that runs it.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                # One session serves every client: an upstream's Set-Cookie must never
                # be replayed on another client's request (and the jar costs CPU).
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> AiohttpResponse:
        session = self._get_session()
        try:
            # Never follow a redirect: aiohttp drops Authorization on a cross-origin
            # hop but re-sends every other header (an `api-key` from `headers:`)
            # and the prompt to wherever the upstream points.
            response = await session.post(url, data=body, headers=headers, allow_redirects=False)
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectError(f"cannot connect to upstream: {exc.os_error}") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise UpstreamConnectError("upstream closed the connection") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"upstream request failed: {type(exc).__name__}") from exc
        if 300 <= response.status < 400:
            response.close()
            raise UpstreamConnectError(f"upstream answered {response.status}, a redirect")
        return AiohttpResponse(response)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
