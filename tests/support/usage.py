"""Reading the usage counters a gateway left in Redis, with the gateway's own store."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.accounting.counters import aggregate, bucket_keys
from gateway.state.redis import RedisStateStore


def redis_usage_totals(url: str, prefix: str, **store_options: Any) -> dict[str, Any]:
    """Today's totals (and yesterday's, in case the test ran over midnight)."""

    async def read() -> dict[str, Any]:
        store = RedisStateStore(url, prefix, **store_options)
        try:
            buckets = await store.usage_buckets(bucket_keys("day", 2))
        finally:
            await store.aclose()
        return aggregate(buckets, [])[1]

    return asyncio.run(read())
