"""The response cache's parts: policies from config, the key, entries, the memory LRU."""

from __future__ import annotations

import asyncio

import pytest

from gateway.cache.entry import CacheEntry
from gateway.cache.key import answer_key, is_deterministic, pool_signature
from gateway.cache.policy import cache_policies
from gateway.cache.store import MemoryResponseCache
from gateway.config.loader import ConfigError, load_config_text
from gateway.routing.table import Member

BASE = """
providers: {p: {kind: mock}}
models: {m: {provider: p}}
"""


def test_route_fields_override_the_top_level_defaults() -> None:
    config = load_config_text(
        BASE
        + """
cache: {ttl_s: 120, deterministic_only: false, max_entries: 5}
routes:
  a: {pool: [m]}
  b: {pool: [m], cache: {ttl_s: 10}}
  c: {pool: [m], cache: false}
"""
    )
    policies = cache_policies(config)
    a, b = policies.routes["a"], policies.routes["b"]
    assert (a.ttl_s, a.deterministic_only) == (120, False)
    assert (b.ttl_s, b.deterministic_only) == (10, False)
    assert "c" not in policies.routes
    assert policies.for_route("m", "alias") is policies.default


def test_without_a_cache_section_only_configured_routes_cache() -> None:
    config = load_config_text(BASE + "routes:\n  a: {pool: [m]}\n  b: {pool: [m], cache: true}\n")
    policies = cache_policies(config)
    assert set(policies.routes) == {"b"} and policies.default is None
    assert policies.routes["b"].deterministic_only is True
    assert not cache_policies(load_config_text(BASE + "routes:\n  a: {pool: [m]}\n"))


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ("routes:\n  a: {pool: [m], cache: {mode: semantic}}\n", "routes.a.cache.mode"),
        ("routes:\n  a: {pool: [m], cache: {ttl_s: 0}}\n", "routes.a.cache.ttl_s"),
        ("cache: {max_entries: -1}\nroutes:\n  a: {pool: [m]}\n", "cache.max_entries"),
        ("routes:\n  a: {pool: [m], cache: {bogus: 1}}\n", "routes.a.cache.bogus"),
    ],
)
def test_bad_cache_config_names_its_path(snippet: str, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + snippet)
    assert any(line.startswith(path) for line in caught.value.problems), caught.value.problems


def test_key_canonicalises_and_separates_what_matters() -> None:
    sig = pool_signature([Member("m", "p", "up")])
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0, "n": 1}
    key = answer_key("r", None, sig, body, None)
    assert key == answer_key("r", None, sig, dict(reversed(list(body.items()))), None)
    assert key == answer_key("r", None, sig, {**body, "stream": True, "user": "u"}, None)
    assert key != answer_key("r", None, sig, {**body, "n": 2}, None)
    assert key != answer_key("r", "premium", sig, body, None)
    assert key != answer_key("r", None, sig, body, "key_1")
    assert key != answer_key("r", None, pool_signature([Member("m", "p", "up2")]), body, None)
    assert key.split(":")[0] != answer_key("other", None, sig, body, None).split(":")[0]


def test_deterministic_means_temperature_zero_or_a_seed_as_sent() -> None:
    plain = Member("m", "p", "up")
    assert is_deterministic({"temperature": 0}, plain)
    assert is_deterministic({"seed": 7}, plain)
    assert not is_deterministic({}, plain)
    assert not is_deterministic({"temperature": 0.5}, plain)
    assert not is_deterministic({"temperature": True}, plain)
    cold = Member("m", "p", "up", defaults={"temperature": 0})
    assert is_deterministic({}, cold)
    forced = Member("m", "p", "up", defaults={"temperature": 1}, forced={"temperature": 1})
    assert not is_deterministic({"temperature": 0}, forced)


def test_entries_round_trip_compressed_or_not_and_refuse_garbage() -> None:
    entry = CacheEntry(b'{"x": "' + b"y" * 5000 + b'"}', 1.5, 2.5, "m", "p", "up", 42)
    plain, packed = entry.encode(), entry.encode(compress=True)
    assert len(packed) < len(plain)
    assert CacheEntry.decode(plain) == entry == CacheEntry.decode(packed)
    for garbage in (b"", b"not an entry", b"GWC1\x01broken", b"GWC1\x00{}\n{}", packed[:-5]):
        assert CacheEntry.decode(garbage) is None


def test_memory_store_is_a_bounded_lru() -> None:
    async def scenario() -> None:
        store = MemoryResponseCache(max_entries=2, max_bytes=100)

        def entry(size: int) -> CacheEntry:
            return CacheEntry(b"x" * size, 0.0, 0.0, "m", "p", "up", 0)

        store.put("r:a", entry(10), 60)
        store.put("r:b", entry(10), 60)
        assert await store.get("r:a") is not None  # a is now the most recent
        store.put("r:c", entry(10), 60)
        assert await store.get("r:b") is None and len(store) == 2
        store.put("r:big", entry(95), 60)  # over the byte bound: the rest goes
        assert len(store) == 1 and store.bytes == 95
        store.put("r:huge", entry(101), 60)  # larger than the whole store: not kept
        assert await store.get("r:huge") is None
        store.put("s:x", entry(1), 60)
        assert await store.purge("r") == 1 and await store.get("s:x") is not None
        store.put("s:gone", entry(1), 0.0001)
        await asyncio.sleep(0.01)
        assert await store.get("s:gone") is None

    asyncio.run(scenario())
