"""A fake Gemini API (``generateContent``, ``streamGenerateContent?alt=sse``) on a real
socket, in a thread. Behaviour is scripted per model name, as in ``fake_upstream``.

It refuses what the real API refuses (``gemini_rules``), with its error shapes:
- no ``x-goog-api-key`` (403 ``PERMISSION_DENIED``), or a key it does not know (400
  ``INVALID_ARGUMENT``, reason ``API_KEY_INVALID``);
- unknown fields anywhere it checks (the body, ``generationConfig``,
  ``thinkingConfig``, ``Schema`` objects, parts);
- roles other than ``user``/``model``; a turn without parts;
- a function response turn not right after its function call turn, or answering
  other functions than were called; a function call turn not after a user turn or a
  function response turn.
Streams are ``data: <GenerateContentResponse>\\r\\n\\r\\n`` events with no end marker,
as Gemini writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.support.gemini_rules import Refused, check_request, invalid
from tests.support.scripted_server import ScriptedServer

DEFAULT_USAGE = {
    "promptTokenCount": 30,
    "candidatesTokenCount": 12,
    "totalTokenCount": 42,
}


@dataclass
class Behavior:
    kind: str = "answer"  # answer | error | blocked
    parts: list[dict[str, Any]] = field(default_factory=lambda: [{"text": "Hello from Gemini"}])
    finish_reason: str = "STOP"
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    error_status: str = "INTERNAL"
    message: str = "upstream error"
    details: list[dict[str, Any]] = field(default_factory=list)
    block_reason: str = "SAFETY"
    piece_size: int = 0  # streams: write the bytes in pieces of this size
    cut_before_finish: bool = False  # streams: end the body before the last event


def text(reply: str = "Hello from Gemini", **kw: Any) -> Behavior:
    return Behavior(parts=[{"text": reply}], **kw)


def parts(*items: dict[str, Any], **kw: Any) -> Behavior:
    return Behavior(parts=list(items), **kw)


def call(name: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}, **extra}


def error(status: int, error_status: str, message: str, **kw: Any) -> Behavior:
    return Behavior(kind="error", status=status, error_status=error_status, message=message, **kw)


def resource_exhausted(retry_delay: str | None = "7s") -> Behavior:
    details = []
    if retry_delay:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        details=details,
    )


def unavailable() -> Behavior:
    return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def too_many_tokens() -> Behavior:
    return error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
    )


def blocked(reason: str = "SAFETY") -> Behavior:
    return Behavior(kind="blocked", block_reason=reason)


@dataclass
class Recorded:
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return self.path.rsplit("/", 1)[-1].split(":", 1)[0]


def error_payload(
    status: int, error_status: str, message: str, details: list[dict[str, Any]]
) -> dict[str, Any]:
    inner: dict[str, Any] = {"code": status, "message": message, "status": error_status}
    if details:
        inner["details"] = details
    return {"error": inner}


GATEWAY_KEY = "gemini-test-key"


class FakeGemini(ScriptedServer[Behavior]):
    name = "fake-gemini"

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__()
        self.keys = keys or {GATEWAY_KEY}  # the API keys it accepts
        self.requests: list[Recorded] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def default_behavior(self) -> Behavior:
        return text()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{call}", self._handle)

    def reset(self) -> None:
        with self._lock:
            self._behaviors.clear()
            self.requests.clear()
            self.keys = {GATEWAY_KEY}

    def hits(self, model: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if model is None or r.model == model]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        model, _, method = request.match_info["call"].partition(":")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(Recorded(request.path, request.query_string, headers, body or {}))
        try:
            self._check_call(method, request, headers, body)
        except Refused as exc:
            payload = error_payload(
                exc.status, exc.error_status, str(exc), exc.extra.get("details", [])
            )
            return web.json_response(payload, status=exc.status)
        b = self._next(model)
        if b.kind == "error":
            payload = error_payload(b.status, b.error_status, b.message, b.details)
            return web.json_response(payload, status=b.status)
        if method == "streamGenerateContent":
            return await self._stream(request, model, b)
        if method == "batchEmbedContents":
            return web.json_response(embed_answer(model, body))
        return web.json_response(self._answer(model, b, b.parts, final=True))

    def _check_call(
        self, method: str, request: web.Request, headers: dict[str, str], body: Any
    ) -> None:
        if method not in ("generateContent", "streamGenerateContent", "batchEmbedContents"):
            raise Refused(404, "NOT_FOUND", f"method {method} not found")
        if method == "streamGenerateContent" and request.query.get("alt") != "sse":
            raise invalid("this fake serves streams as server-sent events only (alt=sse)")
        key = headers.get("x-goog-api-key")
        if not key:
            raise Refused(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key not in self.keys:
            raise Refused(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        if body is None:
            raise invalid("Invalid JSON payload received.")
        if method == "batchEmbedContents":
            check_embed_request(request.match_info["call"].partition(":")[0], body)
            return
        check_request(body)

    @staticmethod
    def _answer(
        model: str, b: Behavior, items: list[dict[str, Any]], final: bool
    ) -> dict[str, Any]:
        if b.kind == "blocked":
            return {
                "promptFeedback": {"blockReason": b.block_reason},
                "usageMetadata": {
                    "promptTokenCount": b.usage["promptTokenCount"],
                    "totalTokenCount": b.usage["promptTokenCount"],
                },
                "modelVersion": model,
                "responseId": "resp-fake",
            }
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": items}, "index": 0}
        if final:
            candidate["finishReason"] = b.finish_reason
        return {
            "candidates": [candidate],
            "usageMetadata": b.usage,
            "modelVersion": model,
            "responseId": "resp-fake",
        }

    async def _stream(self, request: web.Request, model: str, b: Behavior) -> web.StreamResponse:
        events: list[bytes] = []
        pieces: list[dict[str, Any]] = []
        for part in b.parts:
            if "text" in part:  # text arrives word by word, a function call whole
                words = part["text"].split(" ")
                pieces += [{**part, "text": w if i == 0 else " " + w} for i, w in enumerate(words)]
            else:
                pieces.append(part)
        if b.kind == "blocked":
            pieces = []
        for i, piece in enumerate(pieces or [None]):
            last = i == max(len(pieces), 1) - 1
            answer = self._answer(model, b, [piece] if piece else [], final=last)
            events.append(b"data: " + json.dumps(answer).encode() + b"\r\n\r\n")
        if b.cut_before_finish:
            events = events[:-1]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        data = b"".join(events)
        size = b.piece_size or len(data) or 1
        for i in range(0, len(data), size):
            await response.write(data[i : i + size])
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def fake_gemini(gemini_server: FakeGemini) -> FakeGemini:
    """The module's fake Gemini, with no script, no requests and its default key."""
    gemini_server.reset()
    return gemini_server


def check_embed_request(model: str, body: Any) -> None:
    """batchEmbedContents' rules: each request names the same model as the URL and
    carries text parts; only the known fields."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests or set(body) != {"requests"}:
        raise invalid("* BatchEmbedContentsRequest.requests: at least one request is required")
    for i, item in enumerate(requests):
        if not isinstance(item, dict) or not set(item) <= {
            "model", "content", "outputDimensionality", "taskType", "title"
        }:  # fmt: skip
            raise invalid(f"Invalid JSON payload received. Unknown name in requests[{i}]")
        if item.get("model") != f"models/{model}":
            raise invalid(f"requests[{i}].model must be models/{model}")
        parts = (item.get("content") or {}).get("parts")
        if not isinstance(parts, list) or not all(isinstance(p.get("text"), str) for p in parts):
            raise invalid(f"requests[{i}].content.parts: text parts only")


def embed_answer(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic vector per text: its length and character sums, to the asked size."""
    out = []
    for item in body["requests"]:
        text = "".join(p["text"] for p in item["content"]["parts"])
        size = item.get("outputDimensionality") or 4
        out.append({"values": [round((len(text) + i) / 10, 3) for i in range(size)]})
    return {"embeddings": out}
