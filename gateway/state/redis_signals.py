"""Routing signals shared through Redis: one script call per replica every half second.

Keys under ``<prefix>:signals:`` (the store's key form: on a Cluster the prefix is a
hash tag, so the script's keys share a slot):
- ``latency`` (hash): field ``<provider>/<model>\\t<metric>`` = ``"<estimate> <samples>"``.
  A replica sends the batches of samples it took since its last call (deltas); the
  script merges each batch into the shared estimate with the board's EWMA rule.
- ``inflight`` (hash): field ``<replica>\\t<provider>/<model>`` = that replica's count.
  Counts are gauges, so a lost call is repaired by the next one.
- ``inflight_total`` (hash): field ``<provider>/<model>`` = the sum over the replicas,
  moved by each replica's change, so a call reads one field per member however many
  replicas there are.
- ``replicas`` (hash): field ``<replica>`` = the Redis time (ms) of its last call. A
  replica silent for ``stale_after_s`` is dropped with its counts (it died, or lost
  Redis and serves on its own signals).

The script answers with the whole shared view, so a replica that just started has
every other replica's estimates after its first call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.routing.signals import (
    ALPHA,
    Estimate,
    Metric,
    SharedView,
    SignalBoard,
    SignalReport,
)
from gateway.state.redis_connect import RedisClient

_EXCHANGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, stale, alpha, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local a = 6
for _ = 1, tonumber(ARGV[5]) do
  local field, n, mean = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local value, samples = mean, 0
  local cur = redis.call('HGET', KEYS[1], field)
  if cur then
    local sp = string.find(cur, ' ', 1, true)
    local old = tonumber(string.sub(cur, 1, sp - 1))
    samples = tonumber(string.sub(cur, sp + 1))
    value = old + (1 - (1 - alpha) ^ n) * (mean - old)
  end
  redis.call('HSET', KEYS[1], field, string.format('%.17g %d', value, samples + n))
end
local counts = tonumber(ARGV[a])
a = a + 1
for _ = 1, counts do
  local key, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local field = me .. '\t' .. key
  local old = tonumber(redis.call('HGET', KEYS[2], field) or '0')
  if count ~= old then
    redis.call('HINCRBY', KEYS[4], key, count - old)
    if count > 0 then
      redis.call('HSET', KEYS[2], field, count)
    else
      redis.call('HDEL', KEYS[2], field)
    end
  end
end
redis.call('HSET', KEYS[3], me, now)
local dead = {}
local any = false
local beats = redis.call('HGETALL', KEYS[3])
for i = 1, #beats, 2 do
  if now - tonumber(beats[i + 1]) > stale then
    redis.call('HDEL', KEYS[3], beats[i])
    dead[beats[i]] = true
    any = true
  end
end
if any then
  local inflight = redis.call('HGETALL', KEYS[2])
  for i = 1, #inflight, 2 do
    local field = inflight[i]
    local tab = string.find(field, '\t', 1, true)
    if dead[string.sub(field, 1, tab - 1)] then
      redis.call('HINCRBY', KEYS[4], string.sub(field, tab + 1), -tonumber(inflight[i + 1]))
      redis.call('HDEL', KEYS[2], field)
    end
  end
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[4])}
"""
# Shared estimates of a deployment nobody serves any more go away after a day.
SIGNALS_TTL_S = 86_400
INTERVAL_S = 0.5
# Told of a failed exchange; answers whether to go on (False once the store closes).
OnError = Callable[[Exception], bool]


class SignalExchange:
    def __init__(
        self,
        client: RedisClient,
        key: Callable[[str], str],
        replica_id: str,
        on_error: OnError,
        stale_after_s: float = 5.0,
    ) -> None:
        self.on_error = on_error
        self.replica_id = replica_id
        self.stale_after_ms = int(stale_after_s * 1000)
        names = ("latency", "inflight", "replicas", "inflight_total")
        self.keys = [key(f"signals:{name}") for name in names]
        self._script = client.register_script(_EXCHANGE)

    async def run(self, board: SignalBoard, up: asyncio.Event) -> None:
        """Exchange every ``INTERVAL_S`` while the store is connected."""
        while True:
            await asyncio.sleep(INTERVAL_S)
            await up.wait()
            if not await self.share_safely(board):
                return

    async def share_safely(self, board: SignalBoard) -> bool:
        """One exchange; False once the store says to stop (it is closing)."""
        if not board.enabled:
            return True
        try:
            await self.share(board)
        except Exception as exc:
            return self.on_error(exc)
        return True

    async def share(self, board: SignalBoard) -> None:
        """Send the board's news and adopt the shared view; on failure the board
        serves on its own signals (``lost_shared``, called by the store)."""
        board.apply_shared(await self.exchange(board.take_report()))

    async def exchange(self, report: SignalReport) -> SharedView:
        args: list[Any] = [self.replica_id, self.stale_after_ms, ALPHA, SIGNALS_TTL_S]
        args.append(len(report.samples))
        for key, metric, n, mean in report.samples:
            args += [f"{key}\t{metric.value}", n, repr(mean)]
        args.append(len(report.in_flight))
        for key, count in report.in_flight.items():
            args += [key, count]
        latency, totals = await self._script(keys=self.keys, args=args)
        return self._view(latency, totals, report.in_flight)

    def _view(self, latency: list[str], totals: list[str], own: dict[str, int]) -> SharedView:
        estimates: dict[tuple[str, Metric], Estimate] = {}
        for field, value in zip(latency[::2], latency[1::2], strict=True):
            key, _, metric = field.rpartition("\t")
            estimate, _, samples = value.partition(" ")
            try:
                estimates[(key, Metric(metric))] = Estimate(float(estimate), int(samples))
            except ValueError:
                continue  # a metric this version does not know
        others: dict[str, int] = {}
        for key, total in zip(totals[::2], totals[1::2], strict=True):
            # The total includes this replica's counts as just sent.
            count = int(total) - own.get(key, 0)
            if count > 0:
                others[key] = count
        return SharedView(estimates, others)
