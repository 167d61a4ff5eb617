"""A small forward proxy on a real port, in its own thread, for the outbound proxy tests.

``CONNECT host:port`` opens a tunnel and pipes bytes both ways (TLS passes through
untouched). A plain request in absolute form (``POST http://host:port/path``) is sent
on in origin form without the ``Proxy-Authorization`` header, one request per
connection. With ``credentials`` set, a request without the matching
``Proxy-Authorization: Basic`` gets ``407`` and the connection is closed.
Everything seen is recorded in ``seen``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from tests.support.fake_upstream import free_port


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    authorization: str | None
    answered: int  # 200 for a tunnel or a forwarded request, else the proxy's refusal


class ConnectProxy:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.port = 0
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def start(self) -> Self:
        ready = threading.Event()
        self.port = free_port()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="connect-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- serving -------------------------------------------------------------
    def _authorized(self, value: str | None) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return value == f"Basic {expected}"

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        auth = next(
            (h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-auth")),
            None,
        )
        if not self._authorized(auth):
            self._record(Seen(method, target, auth, 407))
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            writer.close()
            return
        try:
            if method == "CONNECT":
                await self._tunnel(target, auth, reader, writer)
            else:
                await self._forward(method, target, auth, headers, reader, writer)
        finally:
            writer.close()

    async def _tunnel(
        self,
        target: str,
        auth: str | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            self._record(Seen("CONNECT", target, auth, 502))
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self._record(Seen("CONNECT", target, auth, 200))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        auth: str | None,
        headers: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        if not url.hostname or url.port is None:
            self._record(Seen(method, target, auth, 400))
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length")),
            0,
        )
        body = await reader.readexactly(length)
        kept = [
            h
            for h in headers
            if not h.lower().startswith(("proxy-authorization", "connection", "keep-alive"))
        ]
        path = url.path + (f"?{url.query}" if url.query else "")
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
        self._record(Seen(method, target, auth, 200))
        up_writer.write(head.encode("latin-1") + body)
        await up_writer.drain()
        # One request per connection: the answer is relayed until the upstream closes.
        with contextlib.suppress(ConnectionError):
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
        up_writer.close()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
