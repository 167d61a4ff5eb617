"""Small helpers for the raw ASGI endpoints on the hot path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.errors import PayloadTooLarge

Scope = dict[str, Any]
Message = dict[str, Any]
RawHeaders = list[tuple[bytes, bytes]]

JSON = b"application/json"


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    # ASGI servers give lower-cased names; later duplicates win, as in most proxies.
    return dict(scope["headers"])


def _too_large(limit: int, *, unread: bool) -> PayloadTooLarge:
    error = PayloadTooLarge(f"request body is larger than {limit} bytes")
    error.body_unread = unread
    return error


async def read_body(receive: Any, headers: dict[bytes, bytes], limit: int) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, unread=int(declared) > 0)
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit, unread=False)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, unread=bool(message.get("more_body", False)))
        parts.append(chunk)
    return b"".join(parts)


def header_list(pairs: Iterable[tuple[str, str]]) -> RawHeaders:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


async def send_bytes(
    send: Any, status: int, body: bytes, headers: RawHeaders, content_type: bytes = JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
