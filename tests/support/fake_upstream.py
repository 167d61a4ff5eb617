"""A fake OpenAI-compatible upstream on a real socket, run in its own thread.

Behaviour is chosen per upstream model name (the ``model`` the gateway sends), so
one server can play every member of a pool. It records each request (path,
headers, body) and notices clients that go away mid-request.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support import fake_endpoints
from tests.support.scripted_server import ScriptedServer

DEFAULT_USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 3},
}


@dataclass
class Behavior:
    """What the fake does for one request. ``kind`` picks the shape."""

    kind: str = "ok"  # ok | error | hang | break_stream
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    reply: str | None = None
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    tool_calls: list[dict[str, Any]] | None = None
    reasoning: str | None = None  # reasoning_content, as reasoning models send it
    split_tool_arguments: bool = False  # streams: each call's arguments in pieces
    delay_s: float = 0.0  # before the response starts
    chunks: int = 4
    chunk_delay_s: float = 0.0
    break_after: int = 2  # break_stream: chunks sent before the connection is cut
    break_partial: int = 0  # break_stream: bytes of the next event sent before the cut
    break_cleanly: bool = False  # break_stream: end the body properly instead of cutting


def ok(reply: str | None = None, **kw: Any) -> Behavior:
    return Behavior(kind="ok", reply=reply, **kw)


def error(
    status: int,
    message: str = "upstream error",
    *,
    code: str | None = None,
    type_: str = "server_error",
    headers: dict[str, str] | None = None,
) -> Behavior:
    return Behavior(
        kind="error",
        status=status,
        headers=headers or {},
        error={"message": message, "type": type_, "param": None, "code": code},
    )


def rate_limited(retry_after: float | None = None, retry_after_ms: int | None = None) -> Behavior:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return error(
        429,
        "Rate limit reached",
        code="rate_limit_exceeded",
        type_="rate_limit_error",
        headers=headers,
    )


def context_length() -> Behavior:
    return error(
        400,
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens.",
        code="context_length_exceeded",
        type_="invalid_request_error",
    )


def hang(seconds: float = 30.0) -> Behavior:
    return Behavior(kind="hang", delay_s=seconds)


def slow_first_byte(seconds: float, **kw: Any) -> Behavior:
    return Behavior(kind="ok", delay_s=seconds, **kw)


def break_stream(after: int = 2, **kw: Any) -> Behavior:
    return Behavior(kind="break_stream", break_after=after, **kw)


@dataclass
class Recorded:
    path: str
    model: str
    headers: dict[str, str]
    body: dict[str, Any]
    query: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port_url() -> str:
    """A base URL on which nothing listens: connection refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


class FakeUpstream(ScriptedServer[Behavior]):
    name = "fake-upstream"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Recorded] = []
        self.disconnects: list[str] = []
        self.completed: list[str] = []
        self.responses_state = fake_endpoints.ResponsesState()

    def default_behavior(self) -> Behavior:
        return ok()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/{prefix:.*}/chat/completions", self._handle)
        app.router.add_post("/v1/embeddings", self._handle)
        app.router.add_post("/{prefix:.*}/embeddings", self._handle)
        app.router.add_post("/v1/responses", self._handle)
        app.router.add_post("/{prefix:.*}/responses", self._handle)
        app.router.add_get("/{prefix:.*}/responses/{rid}", fake_endpoints.stored(self, "GET"))
        app.router.add_delete("/{prefix:.*}/responses/{rid}", fake_endpoints.stored(self, "DELETE"))
        app.router.add_get(
            "/{prefix:.*}/responses/{rid}/input_items", fake_endpoints.stored(self, "input_items")
        )
        app.router.add_post(
            "/{prefix:.*}/responses/{rid}/cancel", fake_endpoints.stored(self, "cancel")
        )

    def app_options(self) -> dict[str, Any]:
        return {"client_max_size": 64 * 1024 * 1024}

    # -- scripting ---------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self._behaviors.clear()
            self.requests.clear()
            self.disconnects.clear()
            self.completed.clear()
            self.responses_state = fake_endpoints.ResponsesState()

    def hits(self, model: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if model is None or r.model == model]

    def order(self) -> list[str]:
        with self._lock:
            return [r.model for r in self.requests]

    # -- server ------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"message": "bad json"}}, status=400)
        model = str(body.get("model"))
        self.record_request(request, model, body)
        behavior = self._next(model)
        try:
            return await self._respond(request, body, model, behavior)
        except (asyncio.CancelledError, ConnectionResetError):
            with self._lock:
                self.disconnects.append(model)
            raise

    def record_request(self, request: web.Request, model: str, body: dict[str, Any]) -> None:
        recorded = Recorded(request.path, model, dict(request.headers), body, request.query_string)
        with self._lock:
            self.requests.append(recorded)

    async def _respond(
        self, request: web.Request, body: dict[str, Any], model: str, b: Behavior
    ) -> web.StreamResponse:
        if b.kind == "hang":
            await asyncio.sleep(b.delay_s)
            return web.json_response({"error": {"message": "hung"}}, status=504)
        if b.kind == "error":
            if b.delay_s:
                await asyncio.sleep(b.delay_s)
            assert b.error is not None
            return web.json_response({"error": b.error}, status=b.status, headers=b.headers)
        if b.delay_s:
            await asyncio.sleep(b.delay_s)
        if request.path.endswith("/embeddings"):
            return await fake_endpoints.embeddings(self, request, body, b)
        if request.path.endswith("/responses"):
            return await fake_endpoints.responses(self, request, body, b)
        if body.get("stream"):
            return await self._stream(request, body, model, b)
        message: dict[str, Any] = {"role": "assistant", "content": self._reply(body, b)}
        finish = "stop"
        if b.tool_calls is not None:
            message = {"role": "assistant", "content": None, "tool_calls": b.tool_calls}
            finish = "tool_calls"
        if b.reasoning is not None:
            message["reasoning_content"] = b.reasoning
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if b.usage is not None:
            payload["usage"] = b.usage
        with self._lock:
            self.completed.append(model)
        return web.json_response(payload, headers=b.headers)

    @staticmethod
    def _reply(body: dict[str, Any], b: Behavior) -> str:
        if b.reply is not None:
            return b.reply
        messages = body.get("messages") or [{}]
        last = messages[-1].get("content") if isinstance(messages[-1], dict) else ""
        return f"echo: {last}"

    async def _stream(
        self, request: web.Request, body: dict[str, Any], model: str, b: Behavior
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **b.headers})
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        text = self._reply(body, b)
        words = text.split(" ")
        size = max(1, -(-len(words) // b.chunks))
        pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
        }

        def event(payload: dict[str, Any]) -> bytes:
            if include_usage and "usage" not in payload:
                payload = {**payload, "usage": None}
            return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

        events: list[bytes] = []
        if b.reasoning is not None:
            for word in b.reasoning.split(" "):
                delta = {"role": "assistant", "content": None, "reasoning_content": word + " "}
                choice = {"index": 0, "delta": delta, "finish_reason": None}
                events.append(event({**base, "choices": [choice]}))
        for i, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece if i == 0 else " " + piece}
            if i == 0:
                delta["role"] = "assistant"
            events.append(
                event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            )
        if b.tool_calls is not None and b.split_tool_arguments:
            for i, call in enumerate(b.tool_calls):
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                head = {**call, "function": {**call["function"], "arguments": ""}}
                parts = [{"index": i, **head}]
                parts += [
                    {"index": i, "function": {"arguments": piece}}
                    for piece in (arguments[:half], arguments[half:])
                ]
                for part in parts:
                    delta = {"tool_calls": [part]}
                    choice = {"index": 0, "delta": delta, "finish_reason": None}
                    events.append(event({**base, "choices": [choice]}))
        elif b.tool_calls is not None:
            calls = [{"index": i, **c} for i, c in enumerate(b.tool_calls)]
            events.append(
                event(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}
                        ],
                    }
                )
            )
        finish = "tool_calls" if b.tool_calls is not None else "stop"
        events.append(
            event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        )
        if include_usage and b.usage is not None:
            events.append(event({**base, "choices": [], "usage": b.usage}))
        events.append(b"data: [DONE]\n\n")
        for i, data in enumerate(events):
            if b.kind == "break_stream" and i >= b.break_after:
                if b.break_partial:
                    await response.write(data[: b.break_partial])
                if b.break_cleanly:
                    await response.write_eof()
                    return response
                assert request.transport is not None
                request.transport.close()
                return response
            if i and b.chunk_delay_s:
                await asyncio.sleep(b.chunk_delay_s)
            await response.write(data)
        await response.write_eof()
        with self._lock:
            self.completed.append(model)
        return response


def many(behavior: Behavior, n: int) -> Sequence[Behavior]:
    return [behavior] * n
