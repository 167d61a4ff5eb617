"""Ordering a pool into a plan.

``priority`` keeps the configured order; ``weighted`` draws by weight without
replacement so that later members remain fallbacks; ``latency``, ``least_busy`` and
``cost`` sort by live signals (``gateway.routing.adaptive``) and may explore: send a
share of requests to another usable member first, so that a member that became
faster (or recovered) is noticed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.observability.record import RequestRecord
from gateway.resilience.cooldowns import CooldownBook
from gateway.resilience.recovery import MemberState, member_state
from gateway.routing.adaptive import Ask, by_cost, by_in_flight, by_latency
from gateway.routing.signals import SignalBoard
from gateway.routing.table import Member, Route


def priority_order(members: Sequence[Member], rng: random.Random) -> list[Member]:
    return list(members)


def weighted_order(members: Sequence[Member], rng: random.Random) -> list[Member]:
    # Efraimidis-Spirakis: sort by u ** (1 / w); equivalent to drawing by weight
    # without replacement. Weight 0 is standby: after every weighted member.
    weighted = [m for m in members if m.weight > 0]
    standby = [m for m in members if m.weight <= 0]
    if len(weighted) > 1:
        keyed = [(rng.random() ** (1.0 / m.weight), i) for i, m in enumerate(weighted)]
        keyed.sort(reverse=True)
        weighted = [weighted[i] for _, i in keyed]
    return weighted + standby


POLICIES = {"priority": priority_order, "weighted": weighted_order}
AdaptiveOrder = Callable[[Sequence[Member], SignalBoard, Ask], list[Member]]
ADAPTIVE: Mapping[str, AdaptiveOrder] = {
    "latency": by_latency,
    "least_busy": by_in_flight,
    "cost": by_cost,
}


def order_pool(policy: str, members: Sequence[Member], rng: random.Random) -> list[Member]:
    """A pool in its policy's order where no live signals are at hand (a triage tier,
    a classifier, count_tokens): an adaptive policy keeps the order it is listed in."""
    return POLICIES.get(policy, priority_order)(members, rng)


def ask_of(payload: Mapping[str, Any], prompt_tokens: int) -> Ask:
    limit = payload.get("max_completion_tokens", payload.get("max_tokens"))
    valid = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    return Ask(payload.get("stream") is True, prompt_tokens, limit if valid else None)


class Planner:
    """Turns a route's pool into one request's plan; reads only local state.

    A planner without a running gateway (``gateway routes``) has an empty board and
    cooldown book: every member available and unmeasured.
    """

    def __init__(
        self,
        board: SignalBoard | None = None,
        cooldowns: CooldownBook | None = None,
        rng: random.Random | None = None,
        half_open: bool = True,
    ) -> None:
        self.board = SignalBoard() if board is None else board
        # Not ``or``: an empty book is falsy (it has a length).
        self.cooldowns = CooldownBook() if cooldowns is None else cooldowns
        self.rng = random.Random() if rng is None else rng
        self.half_open = half_open

    def plan(
        self,
        route: Route,
        members: Sequence[Member],
        payload: Mapping[str, Any],
        prompt_tokens: int,
        record: RequestRecord,
    ) -> Sequence[Member]:
        policy = route.policy
        if policy == "priority" or len(members) < 2:
            plan: Sequence[Member] = members
        elif policy == "weighted":
            plan = weighted_order(members, self.rng)
        else:
            ordered = ADAPTIVE[policy](members, self.board, ask_of(payload, prompt_tokens))
            exploration = route.exploration
            if exploration and len(ordered) > 1 and self.rng.random() < exploration:
                record.explored = self._explore(ordered)
            plan = ordered
        record.plan = plan
        return plan

    def order(self, route: Route, members: Sequence[Member], ask: Ask) -> list[Member]:
        """The order the policy gives now, before exploration (for the explain view);
        for ``weighted``, the likeliest: by weight."""
        adaptive = ADAPTIVE.get(route.policy)
        if adaptive is not None:
            return adaptive(members, self.board, ask)
        if route.policy == "weighted":
            return sorted(members, key=lambda m: -m.weight)
        return list(members)

    def state_of(self, member: Member) -> MemberState:
        now = self.cooldowns.now()
        return member_state(self.cooldowns, member.cooldown_key, now, self.half_open)

    def _explore(self, plan: list[Member]) -> bool:
        """Move one usable non-best member to the front; never a parked or probing one."""
        usable = [m for m in plan[1:] if self.state_of(m) is MemberState.AVAILABLE]
        if not usable:
            return False
        pick = self.rng.choice(usable)
        plan.remove(pick)
        plan.insert(0, pick)
        return True
