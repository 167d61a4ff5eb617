"""The cache key: a hash of everything that decides the answer, and nothing else."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.routing.table import Member

# Fields that change how an answer is delivered or labelled, not what it says.
IGNORED_FIELDS = frozenset(("stream", "stream_options", "user", "metadata"))


def pool_signature(members: Sequence[Member]) -> bytes:
    """What the pool adds to a request: each member's upstream model and options.

    A reload that changes a member, its model or its options changes the key, so an
    answer from the old pool is never served for the new one.
    """
    parts = [[m.provider, m.upstream_model, dict(m.defaults), dict(m.forced)] for m in members]
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).digest()


@functools.lru_cache(maxsize=4096)  # a route's name is hashed on every cached request
def route_tag(route: str) -> str:
    """A short, glob-safe name for a route inside store keys (purge by route)."""
    return hashlib.sha256(route.encode()).hexdigest()[:16]


def answer_key(
    route: str,
    profile: str | None,
    signature: bytes,
    body: Mapping[str, Any],
    caller: str | None,
) -> str:
    """``<route tag>:<digest>``; ``caller`` is the key id when entries are per key."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    digest = hashlib.sha256()
    digest.update(orjson.dumps([route, profile or "", caller or ""]))
    digest.update(signature)
    # Sorted keys at every level: the same request written in another order is a hit.
    digest.update(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS))
    return f"{route_tag(route)}:{digest.hexdigest()}"


def is_deterministic(body: Mapping[str, Any], first: Member | None) -> bool:
    """Does the request ask for a repeatable answer (``temperature: 0`` or a ``seed``)?

    The value the first member would send counts: a forced option, else the client's,
    else the member's default.
    """

    def effective(name: str) -> Any:
        if first is not None and name in first.forced:
            return first.forced[name]
        if name in body:
            return body[name]
        return first.defaults.get(name) if first is not None else None

    temperature = effective("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        if temperature == 0:
            return True
    seed = effective("seed")
    return isinstance(seed, int) and not isinstance(seed, bool)
