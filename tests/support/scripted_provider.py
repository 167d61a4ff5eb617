"""A test double for the upstream: a ``Provider`` that answers from a script.

Used by unit tests of the attempt runner. Each upstream model name gets a list of
steps (the last one repeats): a ``Canned`` response, an ``UpstreamError`` to raise,
or ``Wait`` (block until the test releases it, or forever).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.providers.base import Provider, UpstreamError, UpstreamRequest, UpstreamResponse
from gateway.providers.openai.errors import is_context_length_error


@dataclass
class Canned:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b'{"choices":[{"message":{"content":"ok"}}]}'
    chunks: list[bytes] | None = None  # for streams
    chunk_delay_s: float = 0.0  # before each chunk: headers came, the body stalls


@dataclass
class Wait:
    """Block in ``send`` until ``release`` is set (never, by default)."""

    release: asyncio.Event | None = None


Step = Canned | UpstreamError | Wait


def error_body(message: str, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "x", "param": None, "code": code}})


class CannedResponse(UpstreamResponse):
    def __init__(self, canned: Canned) -> None:
        self.status = canned.status
        self.headers = dict(canned.headers)
        self._canned = canned
        self.closed = False

    async def read(self) -> bytes:
        return self._canned.body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._canned.chunks or []:
            if self._canned.chunk_delay_s:
                await asyncio.sleep(self._canned.chunk_delay_s)
            yield chunk

    def close(self) -> None:
        self.closed = True


class ScriptedProvider(Provider):
    kind = "scripted"

    def __init__(self, name: str = "p") -> None:
        super().__init__(name)
        self.scripts: dict[str, list[Step]] = {}
        self.calls: list[str] = []
        self.responses: list[CannedResponse] = []
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[UpstreamRequest] = []

    def set(self, model: str, *steps: Step) -> None:
        self.scripts[model] = list(steps)

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        model = str(request.body["model"])
        self.calls.append(model)
        self.bodies.append(request.body)
        self.requests.append(request)
        script = self.scripts.get(model) or [Canned()]
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, UpstreamError):
            raise step
        if isinstance(step, Wait):
            await (step.release or asyncio.Event()).wait()
            step = Canned()
        response = CannedResponse(step)
        self.responses.append(response)
        return response

    def is_context_length_error(self, status: int, body: bytes) -> bool:
        return is_context_length_error(status, body)
