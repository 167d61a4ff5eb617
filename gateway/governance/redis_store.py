"""The shared side of governance in Redis: window leases, parallel slots, spend and
runtime keys. Called by the background sync only, never on a request's path.

Keys under ``<prefix>:gov:``: ``win:<subject>:<metric>:<minute>`` (units leased out
in that window), ``par:<subject>`` (hash: replica -> slots held and until when),
``spend:<subject>:<day|month>:<date>`` (spend units), ``batch:<id>`` (spend marker),
``keys`` (hash: runtime key id -> JSON, never the secret); channel ``<prefix>:gov:keys``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

# Charges the debt (uncapped), then grants up to ``want`` within the limit; or, with
# ``give`` > 0, returns unused units. Returns {granted, leased out in the window}.
_LEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local give = tonumber(ARGV[5])
if give > 0 then
  if used <= 0 then return {0, 0} end
  used = redis.call('DECRBY', KEYS[1], math.min(give, used))
  return {0, used}
end
used = used + tonumber(ARGV[1])
local grant = math.min(tonumber(ARGV[2]), math.max(0, tonumber(ARGV[3]) - used))
used = used + grant
if used > 0 then redis.call('SET', KEYS[1], used, 'PX', ARGV[4]) end
return {grant, used}
"""
# Slots held per replica in one hash; a replica's entry lapses unless renewed.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] then
    local count, expires = string.match(entries[i + 1], '(%d+):(%d+)')
    if tonumber(expires) < now then
      redis.call('HDEL', KEYS[1], entries[i])
    else
      others = others + tonumber(count)
    end
  end
end
local grant = math.min(tonumber(ARGV[2]), math.max(0, tonumber(ARGV[3]) - others))
if grant > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], grant .. ':' .. (now + tonumber(ARGV[4])))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 2)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {grant, others}
"""
# Adds each amount at most once per batch id, returns every counter's total.
# ARGV: marker ttl, then per key: ttl, amount.
_SPEND = """
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local out = {}
for i = 2, #KEYS do
  local ttl, amount = ARGV[i * 2 - 2], tonumber(ARGV[i * 2 - 1])
  if fresh and amount > 0 then
    out[i - 1] = redis.call('INCRBY', KEYS[i], amount)
    redis.call('EXPIRE', KEYS[i], ttl)
  else
    out[i - 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
end
return out
"""
MARKER_TTL_S = 86_400
HOLD_TTL_MS = 5_000


class RedisGovernanceStore:
    shared = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}:gov:"
        self.channel = f"{prefix}:gov:keys"
        self._lease = client.register_script(_LEASE)
        self._hold = client.register_script(_HOLD)
        self._spend = client.register_script(_SPEND)

    def key(self, name: str) -> str:
        return self.prefix + name

    async def leases(self, calls: Sequence[tuple[str, int, int, int, int, int]]) -> list[list[int]]:
        """Each call: (counter key, charge, want, limit, ttl ms, give back)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for name, charge, want, limit, ttl_ms, give in calls:
                await self._lease(
                    keys=[self.key(name)], args=[charge, want, limit, ttl_ms, give], client=pipe
                )
            replies: list[list[int]] = await pipe.execute()
        return [[int(v) for v in reply] for reply in replies]

    async def holds(self, replica: str, calls: Sequence[tuple[str, int, int]]) -> list[list[int]]:
        """Each call: (hash key, slots wanted, limit)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for name, want, limit in calls:
                await self._hold(
                    keys=[self.key(name)], args=[replica, want, limit, HOLD_TTL_MS], client=pipe
                )
            replies: list[list[int]] = await pipe.execute()
        return [[int(v) for v in reply] for reply in replies]

    async def spend(self, batch: str, entries: Sequence[tuple[str, int, int]]) -> list[int]:
        """Each entry: (counter key, ttl s, amount to add); returns the totals."""
        keys = [self.key(f"batch:{batch}")] + [self.key(name) for name, _, _ in entries]
        args: list[Any] = [MARKER_TTL_S]
        for _, ttl, amount in entries:
            args += [ttl, amount]
        replies = await self._spend(keys=keys, args=args)
        return [int(v) for v in replies]

    async def read(self, names: Sequence[str]) -> list[int]:
        """Counters as they are (0 when absent), for the admin API."""
        values = await self.client.mget([self.key(name) for name in names])
        return [int(v) if v is not None else 0 for v in values]

    # -- runtime keys ---------------------------------------------------------------
    async def load_keys(self) -> list[dict[str, Any]]:
        raw = await self.client.hgetall(self.key("keys"))
        return [orjson.loads(value) for value in raw.values()]

    async def put_key(self, data: dict[str, Any]) -> None:
        payload = orjson.dumps(data).decode()
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("keys"), data["id"], payload)
            pipe.publish(self.channel, orjson.dumps({"op": "put", "key": data}).decode())
            await pipe.execute()

    async def delete_key(self, key_id: str) -> bool:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.key("keys"), key_id)
            pipe.publish(self.channel, orjson.dumps({"op": "delete", "id": key_id}).decode())
            removed, _ = await pipe.execute()
        return bool(removed)
