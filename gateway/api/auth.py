"""Inbound API keys. Keys are compared, never logged; a request is known by a key id.

Which keys a request may present, and what they may do, is ``gateway.governance``."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

from gateway.errors import Unauthorized


# Only configured keys reach this (authenticate checks first), so the cache is bounded.
@functools.lru_cache(maxsize=1024)
def key_id(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token:
            return token.strip()
    api_key = headers.get(b"x-api-key") or headers.get(b"api-key")
    return api_key.decode("latin-1").strip() if api_key else None


def authorize_admin(
    admin_keys: frozenset[str], headers: dict[bytes, bytes], inbound: Callable[[], object]
) -> str:
    """Admin endpoints take an admin key; without admin keys, any inbound key (``inbound``
    raises for a bad one). Returns who acted, as a key id (``open`` when nothing is needed)."""
    key = presented_key(headers)
    if admin_keys:
        if key is None or key not in admin_keys:
            raise Unauthorized("this endpoint needs an admin key")
        return key_id(key)
    if inbound() is None:
        return "open"
    assert key is not None
    return key_id(key)
