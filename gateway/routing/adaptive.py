"""The adaptive orders: by latency, by requests in flight, by price. Each is a
stable sort of the pool (ties keep the configured order), read from the local
signal board only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.accounting.pricing import cost_micro_usd
from gateway.observability.record import Usage
from gateway.routing.signals import Metric, SignalBoard
from gateway.routing.table import Member

# The cost policy's guess at an answer's length when the request sets no max_tokens
# and the member has answered nothing yet.
DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Ask:
    """What a policy may know of a request before it is sent."""

    stream: bool = False
    prompt_tokens: int = 0
    max_output_tokens: int | None = None


def by_latency(members: Sequence[Member], board: SignalBoard, ask: Ask) -> list[Member]:
    """Unmeasured members first (so they get measured), then the fastest."""
    metric = Metric.TTFT if ask.stream else Metric.PER_TOKEN

    def rank(item: tuple[int, Member]) -> tuple[int, float, int]:
        i, member = item
        estimate = board.estimate(member.cooldown_key, metric)
        return (0, 0.0, i) if estimate is None else (1, estimate, i)

    return [m for _, m in sorted(enumerate(members), key=rank)]


def by_in_flight(members: Sequence[Member], board: SignalBoard, ask: Ask) -> list[Member]:
    ranked = sorted(enumerate(members), key=lambda im: (board.in_flight(im[1].cooldown_key), im[0]))
    return [m for _, m in ranked]


def estimated_cost(member: Member, board: SignalBoard, ask: Ask) -> int:
    """Micro-USD of this request on ``member``: the prompt estimate, and ``max_tokens``
    or else the member's usual answer length. A member without a price is free."""
    output = ask.max_output_tokens
    if output is None:
        usual = board.estimate(member.cooldown_key, Metric.OUTPUT_TOKENS)
        output = round(usual) if usual is not None else DEFAULT_OUTPUT_TOKENS
    return cost_micro_usd(member.price, Usage(ask.prompt_tokens, output))


def by_cost(members: Sequence[Member], board: SignalBoard, ask: Ask) -> list[Member]:
    """Cheapest first among the members whose context fits the prompt (and
    ``max_tokens``); those that do not fit go last, where the plan skips them."""

    def rank(item: tuple[int, Member]) -> tuple[bool, int, int]:
        i, member = item
        window = member.context_window
        fits = window is None or ask.prompt_tokens + (ask.max_output_tokens or 0) <= window
        return (not fits, estimated_cost(member, board, ask), i)

    return [m for _, m in sorted(enumerate(members), key=rank)]
