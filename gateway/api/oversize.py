"""A 413 the client can read, as nginx's lingering close gives one.

Many HTTP/1.1 clients (Python's ``urllib``, ``requests``, curl without
``Expect: 100-continue``) write the whole body before they read a byte of the answer.
Closing the connection while such a client still writes makes the kernel send a
reset, and the client sees ``Connection reset by peer`` instead of the 413. So the
answer goes out at once, the rest of the body is read and thrown away, within a
bound of bytes and time, and only then is the response ended and the connection
closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

LINGER_MAX_BYTES = 256 * 1024 * 1024
LINGER_MAX_S = 10.0
# A client that stops sending for this long is not going to finish.
LINGER_IDLE_S = 2.0


async def answer_then_discard(
    receive: Any,
    send: Any,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    max_bytes: int = LINGER_MAX_BYTES,
    max_s: float = LINGER_MAX_S,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    # The response stays open while the body is drained: an ASGI server hands out
    # request body only until the response is complete.
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await discard_body(receive, max_bytes, max_s)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def discard_body(receive: Any, max_bytes: int, max_s: float) -> int:
    """Reads and drops request body until it ends or a bound is hit; returns the bytes read."""
    deadline = time.monotonic() + max_s
    read = 0
    while read <= max_bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            async with asyncio.timeout(min(left, LINGER_IDLE_S)):
                message = await receive()
        except TimeoutError:
            break
        if message.get("type") != "http.request":
            break  # the client went away
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return read
