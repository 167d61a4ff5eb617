"""An upstream response whose body arrives from its connection as it is read."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING

from gateway.providers.base import UpstreamError, UpstreamResponse, UpstreamStreamBroken

if TYPE_CHECKING:
    from gateway.transport.connection import UpstreamConnection

# Reading pauses once this much body waits unread: a slow client must not make the
# gateway buffer a fast upstream's whole answer.
HIGH_WATER = 64 * 1024


class ResponseHeaders(Mapping[str, str]):
    """Case-insensitive, as header names are; a repeated header's values are joined
    with ", " (set-cookie is dropped before it gets here)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values  # keys in lower case

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._values!r})"


def body_decoder(content_encoding: str | None) -> zlib._Decompress | None:
    if content_encoding is None:
        return None
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # a gzip or zlib header
    return None


class HttpResponse(UpstreamResponse):
    """Status and headers are known on creation; the connection pushes the body in
    (``feed``, ``end``, ``fail``) and the reader pulls it out with ``read_chunk``."""

    __slots__ = (
        "_chunks",
        "_connection",
        "_decoder",
        "_encoded",
        "_ended",
        "_error",
        "_size",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(
        self,
        connection: UpstreamConnection,
        status: int,
        headers: ResponseHeaders,
    ) -> None:
        self.status = status
        self.headers = headers
        self._connection: UpstreamConnection | None = connection
        self._chunks: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._error: UpstreamError | None = None
        self._decoder = body_decoder(headers.get("content-encoding"))
        self._encoded = False  # any compressed bytes fed yet

    # The connection's side.

    def feed(self, data: bytes) -> int:
        """Buffers a piece of the body; returns the bytes now waiting unread."""
        if self._decoder is not None:
            self._encoded = True
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                connection = self._connection
                self.fail(UpstreamStreamBroken("upstream body is not valid gzip/deflate"))
                if connection is not None:
                    connection.abort()
                return 0
        if data:
            self._chunks.append(data)
            self._size += len(data)
            self._wake()
        return self._size

    def end(self) -> None:
        """The body is complete; the connection no longer belongs to this response."""
        self._connection = None
        if self._decoder is not None:
            try:
                rest = self._decoder.flush()
            except zlib.error:
                rest = b""
            if self._encoded and not self._decoder.eof:  # an empty body is just empty
                self.fail(UpstreamStreamBroken("upstream body ended inside its gzip/deflate data"))
                return
            if rest:
                self._chunks.append(rest)
        self._ended = True
        self._wake()

    def fail(self, error: UpstreamError) -> None:
        self._connection = None
        if not self._ended and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The reader's side.

    async def read_chunk(self) -> bytes:
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._size = 0
                if self._connection is not None:
                    self._connection.resume_reading()
                return data
            if self._error is not None:
                # A fresh exception each time: the stored one raised would carry a
                # traceback back to this frame and the response, a cycle holding the
                # caller's frames until the collector's rare full pass.
                error = self._error
                raise type(error)(*error.args)
            if self._ended or self._connection is None:
                return b""
            waiter = self._waiter = self._connection.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def read(self) -> bytes:
        parts: list[bytes] = []
        try:
            while chunk := await self.read_chunk():
                parts.append(chunk)
        finally:
            self.close()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        # An unfinished body closes its connection, so an abandoned stream stops
        # upstream too; a finished one went back to the pool when it ended.
        connection = self._connection
        self._connection = None
        self._chunks.clear()
        self._size = 0
        if not self._ended and self._error is None:
            self._ended = True
        self._wake()  # a reader in another task sees the end rather than waiting forever
        if connection is not None:
            connection.abort()
