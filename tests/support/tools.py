"""Tool definitions the tests send, as OpenAI clients write them."""

from __future__ import annotations

from typing import Any

# A strict-mode schema, as the OpenAI SDK writes one from a pydantic model.
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
