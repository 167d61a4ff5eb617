"""An OpenAI-compatible LLM gateway: routes, fallback pools, shared cooldowns, usage accounting."""

__version__ = "0.1.0"
