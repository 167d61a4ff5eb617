"""Per-test Redis key prefixes: tests share one Redis db, so each cleans up only its own."""

from __future__ import annotations

import os

import redis


def new_prefix() -> str:
    return "test-" + os.urandom(6).hex()


def drop_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        # The gateway's keys are prefix:... (on a Cluster {prefix}:..., a hash tag); other tests'
        # own keys use it bare too.
        names = [
            *client.scan_iter(match=prefix + ":*", count=500),
            *client.scan_iter(match="{" + prefix + "}:*", count=500),
        ]
        if names:
            client.delete(*names)
    finally:
        client.close()
