"""Request ids and the ``x-gateway-*`` headers every door's answers carry."""

from __future__ import annotations

import os
import re

from gateway.observability.record import RequestRecord

RawHeaders = list[tuple[bytes, bytes]]

# The client's id is echoed, logged and sent upstream: only a short printable token.
# A longer one made the upstream refuse the request (its header limit is ~8 KB).
_CLIENT_ID = re.compile(rb"[\x21-\x7e][\x20-\x7e]{0,127}")


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def client_request_id(raw: bytes | None) -> str | None:
    return raw.decode("ascii") if raw and _CLIENT_ID.fullmatch(raw) else None


def gateway_headers(record: RequestRecord) -> RawHeaders:
    headers = [
        (b"x-request-id", record.request_id.encode("latin-1")),
        (b"x-gateway-route", (record.route or "").encode("latin-1", "replace")),
        (b"x-gateway-provider", (record.provider or "").encode("latin-1", "replace")),
        (b"x-gateway-model", (record.alias or "").encode("latin-1", "replace")),
        (b"x-gateway-attempts", str(len(record.attempts)).encode()),
        *(record.limit_headers or ()),
    ]
    if record.cache != "off":
        headers.append((b"x-gateway-cache", record.cache.encode()))
        if record.cache == "hit":
            headers.append((b"age", str(int(record.cache_age_s)).encode()))
    return headers
