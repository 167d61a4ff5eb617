"""The shared side of governance in Redis: window leases, parallel slots, spend and
runtime keys. Called by the background sync only, never on a request's path.

Keys under ``<namespace>:gov:`` (the state store's: ``<prefix>``, or ``{<prefix>}`` on a
Cluster, so every script's keys share a slot): ``win:<subject>:<metric>:<minute>`` (units leased out
in that window), ``par:<subject>`` (hash: replica -> slots held and until when),
``spend:<subject>:<day|month>:<date>`` (spend units), ``batch:<id>`` (spend marker),
``keys`` (hash: runtime key id -> JSON, never the secret); channel ``<namespace>:gov:keys``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.state.redis_connect import RedisClient

# Per counter (KEYS[i], five ARGV each): charges the debt (uncapped), then grants up to
# ``want`` within the limit; or, with ``give`` > 0, returns unused units. Returns, per
# counter, {granted, units leased out in the window}.
_LEASE = """
local out = {}
for i = 1, #KEYS do
  local a = (i - 1) * 5
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local give = tonumber(ARGV[a + 5])
  if give > 0 then
    if used > 0 then used = redis.call('DECRBY', KEYS[i], math.min(give, used)) end
    out[i] = {0, used}
  else
    used = used + tonumber(ARGV[a + 1])
    local grant = math.min(tonumber(ARGV[a + 2]), math.max(0, tonumber(ARGV[a + 3]) - used))
    used = used + grant
    if used > 0 then redis.call('SET', KEYS[i], used, 'PX', ARGV[a + 4]) end
    out[i] = {grant, used}
  end
end
return out
"""
# Slots held per replica, one hash per limit (KEYS[i]; ARGV: replica, ttl ms, then
# wanted and limit per hash); an entry lapses unless renewed. Returns the grants.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local replica, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS do
  local others = 0
  local entries = redis.call('HGETALL', KEYS[i])
  for j = 1, #entries, 2 do
    if entries[j] ~= replica then
      local count, expires = string.match(entries[j + 1], '(%d+):(%d+)')
      if tonumber(expires) < now then
        redis.call('HDEL', KEYS[i], entries[j])
      else
        others = others + tonumber(count)
      end
    end
  end
  local want, limit = tonumber(ARGV[i * 2 + 1]), tonumber(ARGV[i * 2 + 2])
  local grant = math.min(want, math.max(0, limit - others))
  if grant > 0 then
    redis.call('HSET', KEYS[i], replica, grant .. ':' .. (now + ttl))
    redis.call('PEXPIRE', KEYS[i], ttl * 2)
  elseif #entries > 0 then
    redis.call('HDEL', KEYS[i], replica)
  end
  out[i] = grant
end
return out
"""
# Adds each amount at most once per batch id, returns every counter's total. Amounts go
# to INCRBY as the strings they came as, and totals come back as strings once they pass
# 2^53, so Lua's doubles never round the ledger. ARGV: marker ttl, then per key: ttl, amount.
_SPEND = """
local adds = false
for i = 2, #KEYS do
  if ARGV[i * 2 - 1] ~= '0' then adds = true end
end
local fresh = adds and redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local out = {}
for i = 2, #KEYS do
  local ttl, amount = ARGV[i * 2 - 2], ARGV[i * 2 - 1]
  if fresh and amount ~= '0' then
    local total = redis.call('INCRBY', KEYS[i], amount)
    if total == tonumber(amount) then redis.call('EXPIRE', KEYS[i], ttl) end  -- created now
    if total >= 9007199254740992 then total = redis.call('GET', KEYS[i]) end
    out[i - 1] = total
  else
    out[i - 1] = redis.call('GET', KEYS[i]) or '0'
  end
end
return out
"""
MARKER_TTL_S = 86_400
HOLD_TTL_MS = 5_000


class RedisGovernanceStore:
    shared = True

    def __init__(self, client: RedisClient, namespace: str) -> None:
        self.client = client
        self.prefix = f"{namespace}:gov:"
        self.channel = f"{namespace}:gov:keys"
        self._lease = client.register_script(_LEASE)
        self._hold = client.register_script(_HOLD)
        self._spend = client.register_script(_SPEND)

    def key(self, name: str) -> str:
        return self.prefix + name

    async def leases(self, calls: Sequence[tuple[str, int, int, int, int, int]]) -> list[list[int]]:
        """One script call for all counters; each call: (counter key, charge, want,
        limit, ttl ms, give back). Returns [granted, leased out] per counter."""
        args: list[Any] = []
        for _, charge, want, limit, ttl_ms, give in calls:
            args += [charge, want, limit, ttl_ms, give]
        replies = await self._lease(keys=[self.key(c[0]) for c in calls], args=args)
        return [[int(v) for v in reply] for reply in replies]

    async def holds(self, replica: str, calls: Sequence[tuple[str, int, int]]) -> list[int]:
        """One script call for all slot hashes; each call: (hash key, wanted, limit)."""
        args: list[Any] = [replica, HOLD_TTL_MS]
        for _, want, limit in calls:
            args += [want, limit]
        replies = await self._hold(keys=[self.key(c[0]) for c in calls], args=args)
        return [int(v) for v in replies]

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

    # Stored, then announced: a replica that misses the message still reads the hash
    # within KEYS_RESYNC_S (and on every reconnect).
    async def put_key(self, data: dict[str, Any]) -> None:
        await self.client.hset(self.key("keys"), data["id"], orjson.dumps(data).decode())
        await self.client.publish(self.channel, orjson.dumps({"op": "put", "key": data}).decode())

    async def delete_key(self, key_id: str) -> bool:
        removed = await self.client.hdel(self.key("keys"), key_id)
        await self.client.publish(
            self.channel, orjson.dumps({"op": "delete", "id": key_id}).decode()
        )
        return bool(removed)
