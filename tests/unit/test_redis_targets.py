"""Which Redis a URL names, and how its parts are read."""

from __future__ import annotations

from redis.asyncio import Redis, RedisCluster

from gateway.state.redis_connect import _parse_multi_host, connect, redis_target


def test_kinds_by_scheme_and_flag() -> None:
    assert redis_target("redis://h:6379/0").kind == "standalone"
    assert redis_target("redis://h:6379/0", cluster=True).kind == "cluster"
    assert redis_target("redis+cluster://a:7000,b:7001").kind == "cluster"
    assert redis_target("redis+sentinel://a,b/main").kind == "sentinel"


def test_multi_host_urls() -> None:
    parts = _parse_multi_host("redis+sentinel://:p%40ss@a:26380,[::1],b/main/3", 26379)
    assert parts.username is None and parts.password == "p@ss"
    assert parts.hosts == [("a", 26380), ("::1", 26379), ("b", 26379)]
    assert parts.path == ["main", "3"]
    user = _parse_multi_host("redis+cluster://gw:secret@n1:7000", 6379)
    assert (user.username, user.password, user.hosts) == ("gw", "secret", [("n1", 7000)])


def test_credentials_are_not_shown() -> None:
    target = redis_target("redis+sentinel://:secret@a:26379,b:26379/main?sentinel_password=s2")
    assert target.shown == "redis+sentinel://a:26379,b:26379/main"


def test_sentinels_get_their_own_password_only_when_given() -> None:
    with_own = connect(redis_target("redis+sentinel://:data@a:26379/main?sentinel_password=s2"))
    without = connect(redis_target("redis+sentinel://:data@a:26379/main"))
    pools = [c.connection_pool for c in (with_own, without)]
    assert [p.connection_kwargs["password"] for p in pools] == ["data", "data"]
    sentinels = [p.sentinel_manager.sentinels[0].connection_pool for p in pools]  # type: ignore[attr-defined]
    assert [s.connection_kwargs.get("password") for s in sentinels] == ["s2", None]


def test_clients_per_kind() -> None:
    sentinel = connect(redis_target("redis+sentinel://127.0.0.1:26379/main/2"))
    assert isinstance(sentinel, Redis)
    assert sentinel.connection_pool.connection_kwargs["db"] == 2
    assert isinstance(connect(redis_target("redis+cluster://127.0.0.1:7000")), RedisCluster)
    assert isinstance(connect(redis_target("redis://127.0.0.1:7000", cluster=True)), RedisCluster)
