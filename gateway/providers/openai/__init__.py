"""Any OpenAI-compatible chat completions API: OpenAI, Ollama, vLLM, Gemini's
OpenAI endpoint, OpenRouter, a local fake."""

from gateway.providers.openai.provider import OpenAIProvider

__all__ = ["OpenAIProvider"]
