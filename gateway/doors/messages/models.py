"""``GET /v1/models`` in Anthropic's list shape, for the Anthropic SDK's ``models.list()``.

The same path serves OpenAI clients, so the shape is chosen by the request: an
``anthropic-version`` header and none of OpenAI's own headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.routing.table import RouteTable

_OPENAI_ONLY = (b"openai-organization", b"openai-project", b"openai-beta")
# The gateway does not know when a route was made: the epoch stands for "unknown".
CREATED_AT = "1970-01-01T00:00:00Z"


def wants_anthropic_list(headers: Mapping[bytes, bytes]) -> bool:
    return b"anthropic-version" in headers and not any(h in headers for h in _OPENAI_ONLY)


def anthropic_model_list(table: RouteTable) -> dict[str, Any]:
    names = [*table.routes, *table.aliases]
    data = [
        {"type": "model", "id": name, "display_name": name, "created_at": CREATED_AT}
        for name in names
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }
