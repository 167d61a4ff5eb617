"""The adaptive orders: by latency, by requests in flight, by price. Each is a
stable sort of the pool (ties keep the configured order), read from the local
signal board only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    estimate = board.estimate
    unmeasured: list[Member] = []
    measured: list[tuple[float, int, Member]] = []
    for i, member in enumerate(members):
        value = estimate(member.cooldown_key, metric)
        if value is None:
            unmeasured.append(member)
        else:
            measured.append((value, i, member))
    measured.sort()
    return unmeasured + [m for _, _, m in measured]


def by_in_flight(members: Sequence[Member], board: SignalBoard, ask: Ask) -> list[Member]:
    in_flight = board.in_flight
    ranked = [(in_flight(m.cooldown_key), i, m) for i, m in enumerate(members)]
    ranked.sort()
    return [m for _, _, m in ranked]


def estimated_cost(member: Member, board: SignalBoard, ask: Ask) -> float:
    """Micro-USD of this request on ``member``, to rank members (never billed): the
    prompt estimate, and ``max_tokens`` or else the member's usual answer length. A
    member without a price is free, as in accounting."""
    price = member.price
    if price is None:
        return 0.0
    output = ask.max_output_tokens
    if output is None:
        usual = board.estimate(member.cooldown_key, Metric.OUTPUT_TOKENS)
        output = round(usual) if usual is not None else DEFAULT_OUTPUT_TOKENS
    return ask.prompt_tokens * price.input + output * price.output


def by_cost(members: Sequence[Member], board: SignalBoard, ask: Ask) -> list[Member]:
    """Cheapest first among the members whose context fits the prompt (and
    ``max_tokens``); those that do not fit go last, where the plan skips them."""
    needed = ask.prompt_tokens + (ask.max_output_tokens or 0)
    ranked = []
    for i, member in enumerate(members):
        window = member.context_window
        too_small = window is not None and needed > window
        ranked.append((too_small, estimated_cost(member, board, ask), i, member))
    ranked.sort()  # the index is unique: members themselves are never compared
    return [row[3] for row in ranked]
