"""The upstream seam: what every provider kind implements, and the errors it raises.

A provider turns an ``UpstreamRequest`` (an OpenAI-shaped chat body for one member)
into an ``UpstreamResponse`` whose body has not been read yet; the caller decides
whether to buffer or stream it. Library errors (sockets, parsers, asyncio) are translated
into ``UpstreamError`` subclasses once, at the seam.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any


class UpstreamError(Exception):
    """The upstream could not be reached or broke off; carries no secrets."""


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamStreamBroken(UpstreamError):
    pass


@dataclass(slots=True)
class UpstreamRequest:
    body: dict[str, Any]
    stream: bool
    request_id: str
    # What the door asks of the member: ``chat`` (an OpenAI chat body), or another
    # operation the provider lists in ``Provider.operations``.
    operation: str = "chat"


class UpstreamResponse(abc.ABC):
    __slots__ = ("_body_iter",)
    status: int
    headers: Mapping[str, str]
    _body_iter: AsyncIterator[bytes]

    @abc.abstractmethod
    async def read(self) -> bytes: ...

    @abc.abstractmethod
    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrives; ``b""`` once it has ended.

        The stream relay calls this rather than iterating: a network transport
        overrides it with a direct read, so a stream held open for minutes costs no
        async generator. This default serves responses written as generators.
        """
        chunks = getattr(self, "_body_iter", None)
        if chunks is None:
            chunks = self._body_iter = self.iter_chunks()
        return await anext(chunks, b"")

    @abc.abstractmethod
    def close(self) -> None:
        """Release the upstream; an unfinished body closes its connection."""


class Provider(abc.ABC):
    kind: str
    #: The operations this kind can serve; the plan skips a member whose provider
    #: cannot serve the request's operation, as it skips a parked one.
    operations: frozenset[str] = frozenset({"chat"})

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return False

    async def aclose(self) -> None:
        return None
