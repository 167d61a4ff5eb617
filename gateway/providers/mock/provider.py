"""The ``mock`` provider kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping

from gateway.config.schema import MockSection, ProviderSection
from gateway.providers.base import (
    Provider,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamStreamBroken,
)
from gateway.providers.mock import embeddings, errors, response, responses, stream


class MockResponse(UpstreamResponse):
    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        chunks: Iterable[bytes],
        *,
        chunk_delay_s: float = 0.0,
        break_after: int | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._delay = chunk_delay_s
        self._break_after = break_after
        self.closed = False

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(self._chunks):
            if self.closed:
                return
            if self._break_after is not None and i >= self._break_after:
                raise UpstreamStreamBroken("mock stream broke off")
            if self._delay and i:
                await asyncio.sleep(self._delay)
            yield chunk

    def close(self) -> None:
        self.closed = True


class MockProvider(Provider):
    kind = "mock"
    operations = frozenset({"chat", "embeddings", "responses", *responses.STORED_CALLS})

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name)
        self.options = section.mock or MockSection()
        self.calls = 0

    async def send(self, upstream: UpstreamRequest) -> UpstreamResponse:
        self.calls += 1
        opts = self.options
        if opts.latency_ms:
            await asyncio.sleep(opts.latency_ms / 1000)
        failure = opts.failure
        if failure is not None and self.calls % failure.every == 0:
            return MockResponse(
                failure.status, errors.failure_headers(failure), [errors.failure_body(failure)]
            )
        body = upstream.body
        operation = upstream.operation
        if upstream.stream:
            events = (
                responses.stream_events(body, opts.reply, opts.chunks)
                if operation == "responses"
                else stream.stream_events(body, opts.reply, opts.chunks)
            )
            return MockResponse(
                200,
                {"Content-Type": "text/event-stream"},
                events,
                chunk_delay_s=opts.chunk_delay_ms / 1000,
                break_after=opts.break_stream_after,
            )
        if operation == "embeddings":
            try:
                answer = embeddings.embeddings(body)
            except embeddings.InvalidEmbeddingsRequest as exc:
                return MockResponse(
                    400, {"Content-Type": "application/json"}, [errors.invalid_request(str(exc))]
                )
        elif operation == "responses":
            answer = responses.response(body, opts.reply)
        elif operation.startswith("responses."):
            answer = responses.stored_response(operation, body, opts.reply)
        else:
            answer = response.completion(body, opts.reply)
        return MockResponse(200, {"Content-Type": "application/json"}, [answer])
