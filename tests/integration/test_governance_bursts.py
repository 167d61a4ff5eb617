"""A burst larger than a replica's lease, well within the limit, is not refused: the
requests past the local lease wait (bounded) for the refill instead."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessFactory, inprocess_gateway  # noqa: F401


def test_a_burst_within_the_limit_passes_on_the_redis_backend(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    config["keys"] = {"k": {"secret": "sk-k", "rpm": 200, "max_parallel": 100}}  # leases of 10, 5
    gw = inprocess_gateway(config)

    async def burst() -> list[Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        gw.base_url + "/chat/completions",
                        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"Authorization": "Bearer sk-k"},
                    )
                    for _ in range(40)
                )
            )

    replies = asyncio.run(burst())
    assert [r.status_code for r in replies] == [200] * 40
    remaining = min(int(r.headers["x-ratelimit-remaining-requests"]) for r in replies)
    assert remaining == 200 - 40
