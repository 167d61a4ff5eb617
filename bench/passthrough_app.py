"""The reference point of the performance issue: a bare FastAPI + aiohttp pass-through
(no routing, accounting, metrics or logging). Upstream URL from BENCH_UPSTREAM."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from starlette.responses import Response

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9/v1") + "/chat/completions"
session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global session
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    yield
    await session.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    assert session is not None
    body = await request.body()
    async with session.post(
        UPSTREAM, data=body, headers={"Content-Type": "application/json"}
    ) as upstream:
        data = await upstream.read()
        return Response(data, status_code=upstream.status, media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
