"""Request ids and the ``x-gateway-*`` headers every door's answers carry."""

from __future__ import annotations

import os
import re
import time

from gateway.observability.record import RequestRecord
from gateway.routing.triage.headers import tier_headers

RawHeaders = list[tuple[bytes, bytes]]

# The client's id is echoed, logged and sent upstream: only a short printable token.
# A longer one made the upstream refuse the request (its header limit is ~8 KB).
_CLIENT_ID = re.compile(rb"[\x21-\x7e][\x20-\x7e]{0,127}")


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def client_request_id(raw: bytes | None) -> str | None:
    return raw.decode("ascii") if raw and _CLIENT_ID.fullmatch(raw) else None


def new_record(
    headers: dict[bytes, bytes], operation: str, api: str, gen_ai_operation: str = "chat"
) -> RequestRecord:
    """The record of a request that has just arrived, under the client's id if it sent
    a usable one."""
    client_id = client_request_id(headers.get(b"x-request-id"))
    return RequestRecord(
        request_id=client_id or new_request_id(),
        started=time.perf_counter(),
        client_request_id=client_id,
        operation=operation,
        gen_ai_operation=gen_ai_operation,
        api=api,
    )


def gateway_headers(record: RequestRecord) -> RawHeaders:
    headers = [
        (b"x-request-id", record.request_id.encode("latin-1")),
        (b"x-gateway-route", (record.route or "").encode("latin-1", "replace")),
        (b"x-gateway-provider", (record.provider or "").encode("latin-1", "replace")),
        (b"x-gateway-model", (record.alias or "").encode("latin-1", "replace")),
        (b"x-gateway-attempts", str(len(record.attempts)).encode()),
        *(tier_headers(record.triage) if record.triage is not None else ()),
        *(record.limit_headers or ()),
    ]
    if record.cache != "off":
        headers.append((b"x-gateway-cache", record.cache.encode()))
        if record.cache == "hit":
            headers.append((b"age", str(int(record.cache_age_s)).encode()))
    return headers
