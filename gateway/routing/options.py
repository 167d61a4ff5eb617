"""Merging configured options into the client's body (spec §4).

Order: model options, then route options, then the client's body; the client wins
except for keys listed under ``force``. ``extra_body`` in options is deep-merged
into the upstream body, the way the OpenAI SDK flattens it.

Object values are deep-merged (``provider`` preferences, ``metadata``,
``stream_options``...), except OpenAI parameters whose object is one choice
(``ATOMIC_KEYS``): there the winning layer's value replaces the other whole, so a
client's ``{"type": "json_schema", ...}`` never mixes with a default's
``{"type": "json_object"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ATOMIC_KEYS = frozenset(
    {"response_format", "tool_choice", "function_call", "prediction", "audio", "logit_bias"}
)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and key not in ATOMIC_KEYS:
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def flatten_extra_body(options: Mapping[str, Any]) -> dict[str, Any]:
    if not options:
        return {}
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
    body = deep_merge(defaults, client) if defaults else dict(client)
    if forced:
        body = deep_merge(body, forced)
    body["model"] = upstream_model
    return body
