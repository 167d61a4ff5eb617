"""The cache stage: answer from the store, or record the answer on its way out."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Mapping

from gateway.cache.entry import CacheEntry
from gateway.cache.key import answer_key, is_deterministic, pool_signature
from gateway.cache.policy import CachePolicy
from gateway.cache.store import ResponseCacheStore
from gateway.observability.record import RequestRecord
from gateway.pipeline.door import AnswerCodec, StreamRecorder
from gateway.pipeline.pipeline import Exchange
from gateway.providers.base import UpstreamResponse
from gateway.providers.byok import keyless
from gateway.resilience.served import Served
from gateway.routing.table import Member, Route

JSON_HEADERS: Mapping[str, str] = {"Content-Type": "application/json"}
STREAM_HEADERS: Mapping[str, str] = {"Content-Type": "text/event-stream"}


class ReplayResponse(UpstreamResponse):
    """A hit on a stream: the whole replay is the first chunk, then the body ends."""

    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = 200
        self.headers = STREAM_HEADERS

    async def read(self) -> bytes:
        return b""

    async def read_chunk(self) -> bytes:
        return b""

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        return
        yield

    def close(self) -> None:
        return None


@functools.lru_cache(maxsize=4096)  # a hit names one on every cached request
def hit_member(alias: str, provider: str, model: str) -> Member:
    """The member a hit names, with no price: a hit is never charged, whatever usage
    its body carries."""
    return Member(alias, provider, model)


def _directives(headers: dict[bytes, bytes]) -> frozenset[str]:
    raw = headers.get(b"cache-control")
    if not raw:
        return frozenset()
    text = raw.decode("latin-1").lower()
    return frozenset(part.strip().split("=", 1)[0] for part in text.split(","))


def _ttl(policy: CachePolicy, headers: dict[bytes, bytes]) -> float:
    """The route's TTL, or a shorter one from ``x-gateway-cache-ttl``."""
    raw = headers.get(b"x-gateway-cache-ttl")
    if raw:
        try:
            asked = float(raw)
        except ValueError:
            return policy.ttl_s
        if 0 < asked < policy.ttl_s:
            return asked
    return policy.ttl_s


class CacheRecorder:
    """Stores the answer a miss produced, once it is whole and successful."""

    __slots__ = ("_codec", "_key", "_size", "_store", "_stream", "_ttl_s", "max_bytes")

    def __init__(
        self, store: ResponseCacheStore, codec: AnswerCodec, key: str, policy: CachePolicy,
        ttl_s: float,
    ) -> None:  # fmt: skip
        self._store = store
        self._codec = codec
        self._key = key
        self._ttl_s = ttl_s
        self.max_bytes = policy.max_entry_bytes
        self._stream: StreamRecorder | None = None
        self._size = 0

    def body(self, body: bytes, record: RequestRecord) -> None:
        if len(body) <= self.max_bytes and self._codec.is_complete(body):
            self._put(body, record)

    def chunk(self, events: bytes) -> None:
        self._size += len(events)
        if self._size > self.max_bytes:
            self._stream = None
            return
        if self._stream is None:
            if self._size > len(events):  # dropped before: stays dropped
                return
            self._stream = self._codec.recorder()
        self._stream.feed(events)

    def stream_end(self, record: RequestRecord) -> None:
        if self._stream is None:
            return
        body = self._stream.completion(record.usage)
        if body is not None and len(body) <= self.max_bytes:
            self._put(body, record)

    def _put(self, body: bytes, record: RequestRecord) -> None:
        now = time.time()
        entry = CacheEntry(
            body=body,
            created=now,
            expires=now + self._ttl_s,
            alias=record.alias or "",
            provider=record.provider or "",
            model=record.model or "",
            cost_pico_usd=record.cost_pico_usd,
        )
        self._store.put(self._key, entry, self._ttl_s)


class ResponseCacheStage:
    def __init__(self, store: ResponseCacheStore) -> None:
        self.store = store
        self._signatures: dict[tuple[int, str | None], tuple[Route, bytes]] = {}

    def _signature(self, route: Route, profile: str | None) -> bytes:
        # Keyed by the route object (a snapshot's routes are frozen), so a reload that
        # builds new routes computes new signatures.
        slot = (id(route), profile)
        found = self._signatures.get(slot)
        if found is not None and found[0] is route:
            return found[1]
        signature = pool_signature(route.members_for(profile))
        if len(self._signatures) > 4096:
            self._signatures.clear()
        self._signatures[slot] = (route, signature)
        return signature

    async def __call__(self, exchange: Exchange) -> Served | None:
        route = exchange.route
        codec = exchange.door.cache_codec
        if route is None or codec is None:
            return None
        policy = exchange.snapshot.cache.for_route(route.name, route.kind)
        if policy is None:
            return None
        record = exchange.record
        body = exchange.call.body
        directives = _directives(exchange.headers)
        members = route.members_for(exchange.profile)
        if keyless(members, exchange.snapshot.providers, exchange.user_keys):
            return None  # the attempt loop answers 401: the stored answer is not theirs
        if "no-store" in directives or (
            policy.deterministic_only
            and not exchange.door.repeatable
            and not is_deterministic(body, members[0] if members else None)
        ):
            record.cache = "bypass"
            return None
        key = answer_key(
            route.name,
            exchange.profile,
            self._signature(route, exchange.profile),
            body,
            record.api_key_id if policy.per_key else None,
        )
        if "no-cache" not in directives:
            entry = await self.store.get(key)
            if entry is not None:
                return self._hit(exchange, codec, entry)
        record.cache = "miss"
        exchange.recorder = CacheRecorder(
            self.store, codec, key, policy, _ttl(policy, exchange.headers)
        )
        return None

    @staticmethod
    def _hit(exchange: Exchange, codec: AnswerCodec, entry: CacheEntry) -> Served:
        record = exchange.record
        record.cache = "hit"
        record.cache_age_s = max(0.0, time.time() - entry.created)
        record.saved_cost_pico_usd = entry.cost_pico_usd
        member = hit_member(entry.alias, entry.provider, entry.model)
        if exchange.call.stream:
            return Served(
                member, 200, STREAM_HEADERS, response=ReplayResponse(),
                first_chunk=codec.replay(entry.body),
            )  # fmt: skip
        return Served(member, 200, JSON_HEADERS, body=entry.body)
