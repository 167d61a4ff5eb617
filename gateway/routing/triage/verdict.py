"""Reading the classifier's answer: JSON first, then the first tier word, else nothing."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.config.triage import TIERS

_TIER_WORD = re.compile(r"\b(" + "|".join(TIERS) + r")\b", re.IGNORECASE)
# The answers a classifier in JSON mode gives nearly always, read without a parse.
_EXACT = {form % tier: tier for tier in TIERS for form in ('{"tier": "%s"}', '{"tier":"%s"}')}
# The raw answer is shown in logs of `gateway triage` and kept short in records.
RAW_LIMIT = 200


def answer_text(completion: Any) -> str | None:
    """The first choice's message content of a parsed OpenAI chat completion."""
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def parse_verdict(text: str) -> tuple[str, str] | None:
    """``(tier, reason)``: reason ``classifier`` for a JSON verdict, ``regex`` for a tier
    word found in prose; ``None`` when the answer names no tier."""
    exact = _EXACT.get(text)
    if exact is not None:
        return exact, "classifier"
    try:
        parsed: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        tier = parsed.get("tier")
        if isinstance(tier, str) and tier.strip().lower() in TIERS:
            return tier.strip().lower(), "classifier"
    match = _TIER_WORD.search(text)
    if match is not None:
        return match.group(1).lower(), "regex"
    return None
