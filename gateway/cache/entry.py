"""One stored answer, and its bytes in the store (compressed when large)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import orjson

_PLAIN = b"GWC1\x00"
_ZLIB = b"GWC1\x01"
COMPRESS_OVER = 2048


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A complete answer in the JSON form of its door; streams are replayed from it."""

    body: bytes
    created: float
    expires: float
    alias: str
    provider: str
    model: str
    cost_micro_usd: int

    def encode(self, compress: bool = False) -> bytes:
        meta = orjson.dumps(
            {
                "created": self.created,
                "expires": self.expires,
                "alias": self.alias,
                "provider": self.provider,
                "model": self.model,
                "cost_micro_usd": self.cost_micro_usd,
            }
        )
        # orjson never writes a raw newline, so the first one ends the metadata.
        payload = meta + b"\n" + self.body
        if compress and len(payload) > COMPRESS_OVER:
            return _ZLIB + zlib.compress(payload, 1)
        return _PLAIN + payload

    @classmethod
    def decode(cls, data: bytes) -> CacheEntry | None:
        """``None`` for anything that is not an entry (a foreign or damaged value)."""
        try:
            if data.startswith(_ZLIB):
                payload = zlib.decompress(data[len(_ZLIB) :])
            elif data.startswith(_PLAIN):
                payload = data[len(_PLAIN) :]
            else:
                return None
            meta_raw, sep, body = payload.partition(b"\n")
            meta = orjson.loads(meta_raw)
            if not sep or not isinstance(meta, dict):
                return None
            return cls(
                body=body,
                created=float(meta["created"]),
                expires=float(meta["expires"]),
                alias=str(meta["alias"]),
                provider=str(meta["provider"]),
                model=str(meta["model"]),
                cost_micro_usd=int(meta["cost_micro_usd"]),
            )
        except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
