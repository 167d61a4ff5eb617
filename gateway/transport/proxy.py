"""Reaching upstreams through an outbound HTTP proxy.

An ``https`` upstream is reached through a ``CONNECT`` tunnel, with TLS to the
upstream inside it: the proxy sees only the host name and port. A plain ``http``
upstream's requests go to the proxy in absolute form (``POST http://host/path``).
Credentials in the proxy URL become a ``Proxy-Authorization: Basic`` header; they
appear in no log line, error message or ``repr``.

A 407, a refused connection or any other failed ``CONNECT`` is an
``UpstreamConnectError``: the attempt is a ``connect_error`` and the plan falls back.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from gateway.providers.base import UpstreamConnectError
from gateway.transport.target import Origin

MAX_CONNECT_HEAD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """``host:port``, for logs and errors: never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """``http://[user:pass@]host[:port]``; the ``ValueError`` never repeats the URL."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme.lower() != "http":
        raise ValueError("must be an http:// proxy URL (TLS to the proxy is not supported)")
    if not parts.hostname:
        raise ValueError("must name the proxy's host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be just http://[user:password@]host:port")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError("has an invalid port") from None
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization)


def proxy_from_env(base_url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the environment names for ``base_url`` (curl's rules: the lower-case
    variable first, ``NO_PROXY`` by host suffix, IP, CIDR or ``*``), or None."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    names = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    proxy = next((environ[n] for n in names if environ.get(n)), None)
    if proxy is None:
        return None
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if bypasses(parts.hostname or "", port, no_proxy):
        return None
    return proxy


def bypasses(host: str, port: int, no_proxy: str) -> bool:
    host = host.lower().strip("[]")
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if _ip_match(host, entry_host):
            return True
        suffix = entry_host.lstrip(".").lstrip("*.")
        if host == suffix or host.endswith("." + suffix):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _ip_match(host: str, entry: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
        return address in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def connect_request(proxy: Proxy, origin: Origin) -> bytes:
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    authority = f"{host}:{origin.port}"
    lines = [f"CONNECT {authority} HTTP/1.1\r\n", f"Host: {authority}\r\n"]
    if proxy.authorization is not None:
        lines.append(f"Proxy-Authorization: {proxy.authorization}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


async def open_tunnel(
    loop: asyncio.AbstractEventLoop, proxy: Proxy, address: tuple[str, int], origin: Origin
) -> socket.socket:
    """A socket to the proxy at ``address`` on which ``CONNECT`` to ``origin`` succeeded;
    the caller starts TLS on it. The caller bounds the time."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
        await loop.sock_sendall(sock, connect_request(proxy, origin))
        status = await _read_connect_status(loop, sock, proxy)
    except BaseException:  # OSError included: the pool tries the proxy's next address
        sock.close()
        raise
    if status != 200:
        sock.close()
        if status == 407:
            raise UpstreamConnectError(
                f"the proxy {proxy.shown} wants authentication (407 Proxy Authentication "
                "Required); check the credentials in the proxy URL"
            )
        raise UpstreamConnectError(
            f"the proxy {proxy.shown} answered {status} to CONNECT {origin.host}:{origin.port}"
        )
    return sock


async def _read_connect_status(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, proxy: Proxy
) -> int:
    # Only the head is read: the upstream says nothing before the TLS handshake, so no
    # byte of the tunnel is consumed here.
    head = b""
    while b"\r\n\r\n" not in head:
        data = await loop.sock_recv(sock, 4096)
        if not data:
            raise UpstreamConnectError(f"the proxy {proxy.shown} closed the connection")
        head += data
        if len(head) > MAX_CONNECT_HEAD_BYTES:
            raise UpstreamConnectError(f"the proxy {proxy.shown} sent an oversized answer")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
        raise UpstreamConnectError(f"the proxy {proxy.shown} did not answer in HTTP")
    try:
        return int(status_line[1])
    except ValueError:
        raise UpstreamConnectError(f"the proxy {proxy.shown} did not answer in HTTP") from None
