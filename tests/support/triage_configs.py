"""A triage route over one fake upstream: each model's upstream name is its alias, so
``FakeUpstream.order()`` lists the classifier and tier members in the order called."""

from __future__ import annotations

from typing import Any

# `judge` answers first, `judge-backup` is the classifier route's fallback.
CLASSIFIER_MODELS = ("judge", "judge-backup")
TIER_MODELS = ("flash", "mini", "sonnet", "sonnet-b", "opus")
PRICES = {
    "judge": {"input": 1.0, "output": 5.0},
    "sonnet": {"input": 3.0, "output": 15.0},
    "sonnet-b": {"input": 3.0, "output": 15.0},
}
# Long enough that the short-request heuristic leaves it to the classifier.
QUESTION = "Compare the trade-offs of optimistic and pessimistic locking in a busy shop."


def triage_config(
    base_url: str,
    *,
    triage: dict[str, Any] | None = None,
    resilience: dict[str, Any] | None = None,
    context_windows: dict[str, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for alias in (*CLASSIFIER_MODELS, *TIER_MODELS):
        model: dict[str, Any] = {"provider": "fake"}
        if alias in PRICES:
            model["price"] = PRICES[alias]
        if context_windows and alias in context_windows:
            model["context_window"] = context_windows[alias]
        models[alias] = model
    config: dict[str, Any] = {
        "providers": {
            "fake": {
                "kind": "openai",
                "base_url": base_url,
                "api_key_env": "FAKE_UPSTREAM_KEY",
                "timeout_s": 5,
                "connect_timeout_s": 1,
            }
        },
        "models": models,
        "routes": {
            "judges": {"pool": list(CLASSIFIER_MODELS)},
            "chat-expert": {"pool": ["opus"]},
            "assistant": {
                "triage": {
                    "classifier": "judges",
                    "tiers": {
                        "simple": ["flash"],
                        "medium": ["mini"],
                        "complex": ["sonnet", "sonnet-b"],
                        "expert": "chat-expert",
                    },
                    "default_tier": "medium",
                    "timeout_s": 3,
                    **(triage or {}),
                }
            },
        },
        "resilience": {"cooldown_s": 30, "ttft_timeout_s": 2, **(resilience or {})},
    }
    config.update(extra)
    return config
