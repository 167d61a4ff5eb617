"""Google's Gemini API (``generateContent``), spoken to clients as OpenAI chat
completions. Like ``anthropic``, every part transforms: request, response, stream
and errors.

Gemini also serves an OpenAI-compatible endpoint; kind ``openai`` with
``base_url: https://generativelanguage.googleapis.com/v1beta/openai`` reaches it
without translation (README, provider presets).
"""

from gateway.providers.gemini.provider import GeminiProvider

__all__ = ["GeminiProvider"]
