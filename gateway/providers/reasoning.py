"""Reasoning options, one spelling for every provider.

A body (the client's, or a route's or model's ``options``) may carry OpenAI's
``reasoning_effort`` or the portable ``thinking: {budget_tokens: N,
include_thoughts: bool}``. Each kind reads them here and maps them to its own field
with its own table (``THINKING_BUDGETS`` in its ``request`` module), or drops them
with a debug log. An explicit budget wins over an effort level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("gateway.reasoning")

EFFORTS = ("none", "minimal", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Reasoning:
    effort: str | None = None
    budget: int | None = None
    include_thoughts: bool = False

    def budget_from(self, table: Mapping[str, int]) -> int | None:
        """The token budget: the explicit one, else the effort's entry in ``table``."""
        if self.budget is not None:
            return self.budget
        return table.get(self.effort) if self.effort is not None else None


def read_reasoning(body: Mapping[str, Any]) -> Reasoning | None:
    """The reasoning a body asks for, or None when it asks for none."""
    effort = body.get("reasoning_effort")
    thinking = body.get("thinking")
    if effort is None and thinking is None:
        return None
    if effort is not None and effort not in EFFORTS:
        log.debug("reasoning_effort dropped", value=str(effort)[:32])
        effort = None
    budget: int | None = None
    include = False
    if isinstance(thinking, dict):
        raw = thinking.get("budget_tokens")
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            budget = raw
        include = thinking.get("include_thoughts") is True
        if thinking.get("type") == "disabled":
            budget = 0
    if effort is None and budget is None and not include:
        return None
    return Reasoning(effort, budget, include)


def dropped(kind: str, names: tuple[str, ...]) -> None:
    log.debug("reasoning options dropped", kind=kind, options=list(names))
