"""Where a request goes: an upstream URL parsed once into origin and request target."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    host_header: str
    path: str  # the request target: path and query (absolute form through a proxy)
    proxy_authorization: str | None = field(default=None, repr=False)


def parse_target(url: str) -> Target:
    """Raises ``ValueError`` for anything but an absolute http(s) URL with a host;
    the config schema checks base URLs with the same function at load time."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; use api_key_env or headers")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    port = parts.port or DEFAULT_PORTS[scheme]  # .port raises ValueError when invalid
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(Origin(scheme, host, port), host_header, path)
