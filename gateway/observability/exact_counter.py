"""A Prometheus counter of USD fed with exact pico-USD amounts.

A counter's value is a double; adding each request's cost to it would round at every
step and drift. This keeps the exact integer sum and moves the counter to its nearest
double instead: the exposed value is off by at most one rounding, however many
requests were added.
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.pricing import pico_to_usd


class ExactUsdCounter:
    __slots__ = ("child", "pico", "shown")

    def __init__(self, child: Any) -> None:
        self.child = child  # a counter child with ``inc`` (lock-free or multiprocess)
        self.pico = 0
        self.shown = 0.0  # what the child holds: the same float additions, mirrored

    def add(self, pico: int) -> None:
        self.pico += pico
        delta = pico_to_usd(self.pico) - self.shown
        if delta > 0:  # a counter only goes up; a sub-ulp step waits for the next one
            self.child.inc(delta)
            self.shown += delta
