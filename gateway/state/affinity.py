"""Which member holds a piece of upstream state (a stored Responses answer), by id.

Each replica keeps the records it made or read in a bounded local book; a store
that is shared (Redis) also writes them there in the background and reads a missing
one from there with a bounded wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

MAX_LOCAL_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class Holder:
    """The member that made a response, as it was named when it did."""

    route: str
    alias: str
    provider: str
    upstream_model: str

    def encode(self) -> str:
        return orjson.dumps([self.route, self.alias, self.provider, self.upstream_model]).decode()

    @classmethod
    def decode(cls, raw: str | bytes) -> Holder | None:
        try:
            route, alias, provider, upstream = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None
        if not all(isinstance(v, str) for v in (route, alias, provider, upstream)):
            return None
        return cls(route, alias, provider, upstream)


class AffinityBook:
    """The local records: id → (holder, expiry), oldest dropped first past the bound."""

    def __init__(self, max_records: int = MAX_LOCAL_RECORDS) -> None:
        self.max_records = max_records
        self._records: dict[str, tuple[Holder, float]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def put(self, key: str, holder: Holder, expires_at: float) -> None:
        records = self._records
        records.pop(key, None)
        records[key] = (holder, expires_at)
        while len(records) > self.max_records:
            del records[next(iter(records))]

    def get(self, key: str, now: float | None = None) -> Holder | None:
        found = self._records.get(key)
        if found is None:
            return None
        holder, expires_at = found
        if expires_at <= (time.time() if now is None else now):
            del self._records[key]
            return None
        return holder

    def drop(self, key: str) -> None:
        self._records.pop(key, None)
