"""Which Redis the state store talks to: one server, a Sentinel-managed primary, or a
Cluster, chosen by the URL (or ``state.cluster``).

- ``redis://``, ``rediss://``, ``unix://``: one server (redis-py's own URL forms).
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]``:
  the sentinels are asked for the current primary of ``service_name`` on every new
  connection, so after a failover the store reconnects to the promoted replica by
  itself. The password is the data nodes'; sentinels that want one of their own take
  ``?sentinel_password=...``.
- ``redis+cluster://[[user]:password@]host:port[,host:port...]``, or any ``redis://``
  URL with ``state.cluster: true``: redis-py's ``RedisCluster``, seeded from those
  nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_PORT = 6379

# Failures are handled by the store (local state, backoff, reconnect): redis-py
# retrying on its own would only hold a background task longer.
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
}

RedisClient = Redis | RedisCluster


@dataclass(frozen=True, slots=True)
class RedisTarget:
    kind: str  # standalone | sentinel | cluster
    url: str

    @property
    def shown(self) -> str:
        """The URL without its credentials (user info, query), for logs."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2].partition('?')[0]}"


def redis_target(url: str, *, cluster: bool = False) -> RedisTarget:
    scheme = url.partition("://")[0].lower()
    if scheme == SENTINEL_SCHEME:
        return RedisTarget("sentinel", url)
    if scheme == CLUSTER_SCHEME or cluster:
        return RedisTarget("cluster", url)
    return RedisTarget("standalone", url)


def connect(target: RedisTarget, **overrides: Any) -> RedisClient:
    """A client for ``target`` (``overrides`` replace ``CLIENT_OPTIONS``: a client of
    bytes, shorter timeouts); raises ``ValueError`` for a URL it cannot use."""
    options = CLIENT_OPTIONS | overrides
    if target.kind == "sentinel":
        return _sentinel_client(target.url, options)
    if target.kind == "cluster":
        return _cluster_client(target.url, options)
    return Redis.from_url(target.url, retry=Retry(NoBackoff(), 0), **options)


async def discover(client: RedisClient) -> None:
    """A cluster client maps its slots (once; again after a failure reset it)."""
    if isinstance(client, RedisCluster):
        await client.initialize()


@dataclass(frozen=True, slots=True)
class _MultiHostUrl:
    username: str | None
    password: str | None
    hosts: list[tuple[str, int]]
    path: list[str]
    query: dict[str, list[str]]


def _parse_multi_host(url: str, default_port: int) -> _MultiHostUrl:
    rest = url.partition("://")[2]
    authority, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    userinfo, at, hostlist = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    hosts = [_host_port(item, default_port) for item in hostlist.split(",") if item]
    if not hosts:
        raise ValueError("names no host")
    return _MultiHostUrl(
        username, password, hosts, [p for p in path.split("/") if p], parse_qs(query)
    )


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):  # [::1]:26379
        host, _, port = item[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if port and not port.isdigit():
        raise ValueError(f"has an invalid port in '{host}:{port}'")
    return host, int(port) if port else default_port


def _sentinel_client(url: str, options: dict[str, Any]) -> Redis:
    parts = _parse_multi_host(url, DEFAULT_SENTINEL_PORT)
    if not parts.path or len(parts.path) > 2:
        raise ValueError("needs the service name: redis+sentinel://host:port[,...]/service[/db]")
    service = parts.path[0]
    db = parts.path[1] if len(parts.path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"has a database number that is not a number: '{db}'")
    sentinel_options: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    if "sentinel_password" in parts.query:
        sentinel_options["password"] = parts.query["sentinel_password"][0]
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        parts.hosts,
        sentinel_kwargs=sentinel_options,
        retry=Retry(NoBackoff(), 0),
        username=parts.username,
        password=parts.password,
        **options,
    )
    client: Redis = sentinel.master_for(service, db=int(db))
    return client


def _cluster_client(url: str, options: dict[str, Any]) -> RedisCluster:
    scheme = url.partition("://")[0].lower()
    if scheme != CLUSTER_SCHEME:
        return RedisCluster.from_url(url, **options)
    parts = _parse_multi_host(url, DEFAULT_PORT)
    if parts.path:
        raise ValueError("takes no database number: a cluster has only database 0")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parts.hosts],
        username=parts.username,
        password=parts.password,
        **options,
    )
