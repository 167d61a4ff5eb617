"""``CachedResolver``: one lookup per name at a time, answers kept for the TTL."""

from __future__ import annotations

import asyncio

import pytest

from gateway.transport.resolver import Address, CachedResolver, is_ip_literal


class CountingResolver(CachedResolver):
    """Answers from a table instead of DNS, and counts the lookups it makes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ttl_s: float = 60.0) -> None:
        super().__init__(loop, ttl_s)
        self.lookups = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail_with: OSError | None = None

    async def _lookup(self, host: str, port: int) -> list[Address]:
        self.lookups += 1
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [("10.0.0.1", port), ("10.0.0.2", port)]


async def test_concurrent_callers_share_one_lookup() -> None:
    resolver = CountingResolver(asyncio.get_running_loop())
    resolver.release.clear()
    callers = [asyncio.create_task(resolver.resolve("api.example", 443)) for _ in range(5)]
    await asyncio.sleep(0)
    resolver.release.set()
    answers = await asyncio.gather(*callers)
    assert resolver.lookups == 1
    assert all(answer == [("10.0.0.1", 443), ("10.0.0.2", 443)] for answer in answers)


async def test_answers_are_cached_until_the_ttl_passes() -> None:
    resolver = CountingResolver(asyncio.get_running_loop(), ttl_s=0.05)
    await resolver.resolve("api.example", 443)
    await resolver.resolve("api.example", 443)
    assert resolver.lookups == 1
    deadline = asyncio.get_running_loop().time() + 5
    while resolver.lookups == 1 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
        await resolver.resolve("api.example", 443)
    assert resolver.lookups == 2


async def test_failures_are_not_cached() -> None:
    resolver = CountingResolver(asyncio.get_running_loop())
    resolver.fail_with = OSError("no such host")
    with pytest.raises(OSError, match="no such host"):
        await resolver.resolve("api.example", 443)
    resolver.fail_with = None
    assert await resolver.resolve("api.example", 443) == [("10.0.0.1", 443), ("10.0.0.2", 443)]
    assert resolver.lookups == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_lookup_for_others() -> None:
    resolver = CountingResolver(asyncio.get_running_loop())
    resolver.release.clear()
    quitter = asyncio.create_task(resolver.resolve("api.example", 443))
    stayer = asyncio.create_task(resolver.resolve("api.example", 443))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.sleep(0)
    resolver.release.set()
    assert await asyncio.wait_for(stayer, 5) == [("10.0.0.1", 443), ("10.0.0.2", 443)]
    assert quitter.cancelled()
    assert resolver.lookups == 1


async def test_ip_literals_skip_the_lookup() -> None:
    resolver = CountingResolver(asyncio.get_running_loop())
    assert await resolver.resolve("127.0.0.1", 80) == [("127.0.0.1", 80)]
    assert await resolver.resolve("::1", 80) == [("::1", 80)]
    assert resolver.lookups == 0
    assert is_ip_literal("10.1.2.3") and not is_ip_literal("api.openai.com")


async def test_real_lookup_of_localhost() -> None:
    resolver = CachedResolver(asyncio.get_running_loop())
    addresses = await resolver.resolve("localhost", 8080)
    assert ("127.0.0.1", 8080) in addresses or ("::1", 8080) in addresses
