"""The framework's ceiling: a no-op FastAPI handler returning a canned completion."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

from bench.mock_upstream import COMPLETION

app = FastAPI()


@app.post("/v1/chat/completions")
async def chat_completions() -> Response:
    return Response(COMPLETION, media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
