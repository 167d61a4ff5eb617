"""A fake Anthropic Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``)
on a real socket, in a thread.

Behaviour is scripted per model name, as in ``fake_upstream``. Streams follow the
real event sequence (message_start, ping, content blocks, message_delta,
message_stop) and can be written in odd-sized pieces, splitting events anywhere.
Requests are held to the real API's rules (``anthropic_rules``): a thinking block is
accepted back only with a signature this server issued. Every answer's bytes are kept
(``answers``), for byte-exact checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.support.anthropic_rules import count_tokens_problem, header_problem, request_problem
from tests.support.scripted_server import ScriptedServer

API_KEY = "sk-ant-test"

DEFAULT_USAGE = {
    "input_tokens": 20,
    "output_tokens": 9,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": 3,
}


@dataclass
class Behavior:
    kind: str = "message"  # message | error | stream_error | overloaded_after_start
    text: str | None = "Hello from Claude"
    thinking: str | None = None  # a thinking block before the text
    tool_uses: list[dict[str, Any]] = field(default_factory=list)  # {id, name, input}
    stop_reason: str | None = None  # default: tool_use when tools are used, else end_turn
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))
    piece_size: int = 0  # streams: write the bytes in pieces of this size
    status: int = 200
    error_type: str = "api_error"
    message: str = "upstream error"
    headers: dict[str, str] = field(default_factory=dict)


def message(text: str | None = "Hello from Claude", **kw: Any) -> Behavior:
    return Behavior(kind="message", text=text, **kw)


def error(status: int, error_type: str, text: str, **headers: str) -> Behavior:
    return Behavior(
        kind="error", status=status, error_type=error_type, message=text, headers=headers
    )


def rate_limited(retry_after: int = 7) -> Behavior:
    return error(
        429,
        "rate_limit_error",
        "Number of requests has exceeded your rate limit",
        **{"retry-after": str(retry_after)},
    )


def overloaded() -> Behavior:
    return error(529, "overloaded_error", "Overloaded")


def prompt_too_long() -> Behavior:
    return error(400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum")


def stream_error(error_type: str = "overloaded_error", text: str = "Overloaded") -> Behavior:
    return Behavior(kind="stream_error", error_type=error_type, message=text)


def overloaded_after_start() -> Behavior:
    """A 200 stream that sends message_start, then an overloaded_error event."""
    return Behavior(
        kind="overloaded_after_start", error_type="overloaded_error", message="Overloaded"
    )


def providers_section(anthropic: FakeAnthropic, openai_base: str) -> dict[str, Any]:
    """Config providers: ``claude`` (kind anthropic, on this fake, its key in
    ``ANTHROPIC_TEST_KEY``) and ``fake`` (an OpenAI-compatible upstream)."""
    return {
        "claude": {
            "kind": "anthropic",
            "base_url": anthropic.base_url,
            "api_key_env": "ANTHROPIC_TEST_KEY",
            "timeout_s": 5,
            "connect_timeout_s": 1,
        },
        "fake": {"kind": "openai", "base_url": openai_base, "timeout_s": 5},
    }


def signature_of(thinking: str) -> str:
    return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]


def sse(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def stream_events(model: str, b: Behavior) -> list[bytes]:
    """The event sequence the real API sends for ``b``'s message."""
    start_usage = {**b.usage, "output_tokens": 1}
    skeleton: dict[str, Any] = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [
        sse("message_start", {"type": "message_start", "message": skeleton}),
        sse("ping", {"type": "ping"}),
    ]
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if b.thinking is not None:
        thought_deltas: list[dict[str, Any]] = [
            {"type": "thinking_delta", "thinking": piece} for piece in _words(b.thinking)
        ]
        thought_deltas.append({"type": "signature_delta", "signature": signature_of(b.thinking)})
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, thought_deltas))
    if b.text is not None:
        text_deltas = [{"type": "text_delta", "text": piece} for piece in _words(b.text)]
        blocks.append(({"type": "text", "text": ""}, text_deltas))
    for use in b.tool_uses:
        arguments = json.dumps(use["input"])
        half = len(arguments) // 2
        parts = ("", arguments[:half], arguments[half:])
        json_deltas = [{"type": "input_json_delta", "partial_json": part} for part in parts]
        tool = {"type": "tool_use", "id": use["id"], "name": use["name"], "input": {}}
        blocks.append((tool, json_deltas))
    for index, (block, deltas) in enumerate(blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block}
        events.append(sse("content_block_start", start))
        for delta in deltas:
            change = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append(sse("content_block_delta", change))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    end = {"stop_reason": _stop_reason(b), "stop_sequence": None}
    usage = {"output_tokens": b.usage["output_tokens"]}
    events.append(sse("message_delta", {"type": "message_delta", "delta": end, "usage": usage}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def thinking_problem(body: dict[str, Any]) -> str | None:
    """What the real API says of a request whose extended-thinking settings break its rules."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        return "thinking: Input tag does not match any of the expected tags"
    if thinking["type"] == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= body.get("max_tokens", 0):
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if body.get("temperature", 1) != 1:
        return "`temperature` may only be set to 1 when thinking is enabled"
    if "top_k" in body:
        return "`top_k` is not supported when thinking is enabled"
    if body.get("top_p", 1) < 0.95:
        return "`top_p` must be greater than or equal to 0.95 when thinking is enabled"
    return None


def content_of(b: Behavior) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if b.thinking is not None:
        signature = signature_of(b.thinking)
        content.append({"type": "thinking", "thinking": b.thinking, "signature": signature})
    if b.text is not None:
        content.append({"type": "text", "text": b.text})
    content += [{"type": "tool_use", **use} for use in b.tool_uses]
    return content


def counted_tokens(body: dict[str, Any]) -> int:
    """A deterministic count, so a test can tell it from the gateway's estimate."""
    return 1000 + len(json.dumps(body.get("messages"))) % 997


def _stop_reason(b: Behavior) -> str:
    return b.stop_reason or ("tool_use" if b.tool_uses else "end_turn")


class FakeAnthropic(ScriptedServer[Behavior]):
    name = "fake-anthropic"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.answers: list[bytes] = []  # each answer's bytes, as written
        self.refusals: list[str] = []  # what the rules refused, for failing tests to show
        self.signatures: set[str] = set()

    def default_behavior(self) -> Behavior:
        return message()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._handle)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)

    def reset(self) -> None:
        with self._lock:
            self._behaviors.clear()
            self.requests.clear()
            self.answers.clear()
            self.refusals.clear()

    def hits(self, model: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if model is None or r.body.get("model") == model]

    async def _record(self, request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
        body = json.loads(await request.read())
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(request.path, headers, body))
        return body, headers

    def _refuse(self, status: int, error_type: str, text: str) -> web.Response:
        with self._lock:
            self.refusals.append(text)
        payload = {"type": "error", "error": {"type": error_type, "message": text}}
        return web.json_response(payload, status=status)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body, headers = await self._record(request)
        problem = header_problem(headers, self.api_key)
        if problem is not None:
            return self._refuse(*problem)
        text = count_tokens_problem(body)
        if text is not None:
            return self._refuse(400, "invalid_request_error", text)
        return self._json({"input_tokens": counted_tokens(body)}, {})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, headers = await self._record(request)
        problem = header_problem(headers, self.api_key)
        if problem is not None:
            return self._refuse(*problem)
        text = request_problem(body, self.signatures)
        if text is not None:
            return self._refuse(400, "invalid_request_error", text)
        model = str(body.get("model"))
        problem = thinking_problem(body)
        if problem is not None:
            payload = {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": problem},
            }
            return web.json_response(payload, status=400)
        b = self._next(model)
        if b.thinking is not None:
            with self._lock:
                self.signatures.add(signature_of(b.thinking))
        error = {"type": "error", "error": {"type": b.error_type, "message": b.message}}
        if b.kind == "error":
            return self._json(error, b.headers, b.status)
        if b.kind == "stream_error":
            return await self._write_stream(request, [sse("error", error)], b)
        if b.kind == "overloaded_after_start":
            events = [*stream_events(model, b)[:1], sse("error", error)]
            return await self._write_stream(request, events, b)
        if body.get("stream"):
            return await self._write_stream(request, stream_events(model, b), b)
        reply = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content_of(b),
            "stop_reason": _stop_reason(b),
            "stop_sequence": None,
            "usage": b.usage,
        }
        return self._json(reply, b.headers)

    def _json(self, payload: Any, headers: dict[str, str], status: int = 200) -> web.Response:
        data = json.dumps(payload).encode()
        with self._lock:
            self.answers.append(data)
        return web.Response(
            body=data, status=status, headers={"Content-Type": "application/json", **headers}
        )

    async def _write_stream(
        self, request: web.Request, events: list[bytes], b: Behavior
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **b.headers})
        await response.prepare(request)
        data = b"".join(events)
        with self._lock:
            self.answers.append(data)
        size = b.piece_size or len(data)
        for i in range(0, len(data), size):
            await response.write(data[i : i + size])
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def fake_anthropic(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    """The module's fake Anthropic, with no script and no requests."""
    anthropic_server.reset()
    return anthropic_server
