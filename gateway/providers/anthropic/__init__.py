"""Anthropic's Messages API, spoken to clients as OpenAI chat completions.

Unlike the ``openai`` and ``azure`` kinds, every part transforms: the request body,
the response body, the event stream and error bodies. The translations live in
``gateway/translate/anthropic``, beside their inverses, which the ``/v1/messages``
door uses.
"""

from gateway.providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
