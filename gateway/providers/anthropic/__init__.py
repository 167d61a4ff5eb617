"""Anthropic's Messages API, spoken to clients as OpenAI chat completions.

Unlike the ``openai`` and ``azure`` kinds, every part transforms: the request body,
the response body, the event stream and error bodies.
"""

from gateway.providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
