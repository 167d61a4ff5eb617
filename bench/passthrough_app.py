"""The reference point of the performance issue: a bare FastAPI + aiohttp pass-through
(no routing, accounting, metrics or logging). Upstream URL from BENCH_UPSTREAM.

A body with ``"stream": true`` is relayed chunk by chunk as it arrives (for the
5,000-streams reference); anything else is read whole and returned."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9/v1") + "/chat/completions"
HEADERS = {"Content-Type": "application/json"}
session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global session
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10000))
    yield
    await session.close()


app = FastAPI(lifespan=lifespan)


def _wants_stream(body: bytes) -> bool:
    # The byte check keeps the non-streaming path free of a JSON parse, as before.
    return b'"stream"' in body and json.loads(body).get("stream") is True


async def _relay(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.content.iter_any():
            yield chunk
    finally:
        upstream.release()


@app.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    assert session is not None
    body = await request.body()
    if _wants_stream(body):
        upstream = await session.post(UPSTREAM, data=body, headers=HEADERS)
        return StreamingResponse(
            _relay(upstream), status_code=upstream.status, media_type="text/event-stream"
        )
    async with session.post(UPSTREAM, data=body, headers=HEADERS) as upstream:
        data = await upstream.read()
        return Response(data, status_code=upstream.status, media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
