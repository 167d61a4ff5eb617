"""Merging configured options into the client's body (spec §4).

Order: model options, then route options, then the client's body; the client wins
except for keys listed under ``force``. ``extra_body`` in options is deep-merged
into the upstream body, the way the OpenAI SDK flattens it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def flatten_extra_body(options: Mapping[str, Any]) -> dict[str, Any]:
    extra = options.get("extra_body")
    rest = {k: v for k, v in options.items() if k != "extra_body"}
    if isinstance(extra, dict):
        return deep_merge(rest, extra)
    return rest


def merge_body(
    defaults: Mapping[str, Any],
    client: Mapping[str, Any],
    forced: Mapping[str, Any],
    upstream_model: str,
) -> dict[str, Any]:
    """The upstream body: defaults under the client's body, forced keys on top."""
    if defaults:
        body = dict(defaults)
        for key, value in client.items():
            current = body.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                body[key] = deep_merge(current, value)
            else:
                body[key] = value
    else:
        body = dict(client)
    if forced:
        for key, value in forced.items():
            current = body.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                body[key] = deep_merge(current, value)
            else:
                body[key] = value
    body["model"] = upstream_model
    return body
