"""What a door makes of a request's bytes: the part every stage may read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Call:
    """One parsed request, whatever door it came through.

    ``body`` is the client's JSON object, parsed once; the plan merges each member's
    options into it. ``model`` is the name to resolve (the ``X-Gateway-Route`` header
    wins over the body's field). ``prompt_estimate`` is a token estimate for the
    context-window checks.
    """

    model: str
    stream: bool
    body: dict[str, Any]
    prompt_estimate: int
    # The door asked the upstream for a usage event the client did not ask for: the
    # relay removes it again.
    strip_usage: bool = False
