"""Bring your own key: a user's key for a provider, sent as ``X-Gateway-Key-<provider>``.

Only providers with ``byok: allowed`` or ``required`` take one; the provider name is
matched case-insensitively. The keys read here live in the request's own call frame:
they are handed to the attempt loop, used for that provider's members only, and
never put on the request's record (what logs, metrics and traces read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.errors import Unauthorized
from gateway.providers.base import Provider
from gateway.routing.table import Member

HEADER_PREFIX = b"x-gateway-key-"
REDACTED = b"[redacted]"


class UserKeys:
    __slots__ = ("_names",)

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._names = {
            name.lower().encode("latin-1"): name
            for name, provider in providers.items()
            if provider.byok != "off"
        }

    def take(self, headers: dict[bytes, bytes]) -> dict[str, str] | None:
        """Provider name → the user's key, from the request's (lower-cased) headers.

        The key headers are removed from ``headers``, so no later stage (a trace, a
        log of headers) can come across them."""
        if not self._names:
            return None
        keys: dict[str, str] = {}
        for name in [n for n in headers if n.startswith(HEADER_PREFIX)]:
            provider = self._names.get(name[len(HEADER_PREFIX) :])
            key = headers.pop(name).strip()
            if provider is not None and key:
                keys[provider] = key.decode("latin-1")
        return keys or None


class UserKeyRequired(Unauthorized):
    code = "byok_key_required"


def key_required(providers: list[str]) -> UserKeyRequired:
    headers = ", ".join(f"X-Gateway-Key-{name}" for name in dict.fromkeys(providers))
    return UserKeyRequired(
        f"this route is served with your own provider key: send it as {headers}",
        param=headers.split(", ")[0],
    )


def keyless(
    members: Iterable[Member],
    providers: Mapping[str, Provider],
    user_keys: Mapping[str, str] | None,
) -> bool:
    """Would every member be skipped for want of the user's key? Then nothing may
    answer the request in the gateway's name, not even a stored answer."""
    found = False
    for member in members:
        if providers[member.provider].byok != "required":
            return False
        if user_keys and member.provider in user_keys:
            return False
        found = True
    return found


def scrub(body: bytes, key: str) -> bytes:
    """An upstream may echo the key it was sent; the client's error never shows it."""
    raw = key.encode("latin-1")
    return body.replace(raw, REDACTED) if raw in body else body
