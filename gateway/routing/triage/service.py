"""Triage on the request path: decide the tier, then serve from it, escalating upward.

Decision order: bypass (every tier is one and the same member), the short-request
heuristic, the decision cache, the classifier. The tools/images/size floor then
raises a cached or classified verdict that is too low.

The answer is one plan through the attempt loop: the chosen tier's members, then
each tier above. So a member too small for the prompt, parked, or failing for
availability moves on to the next tier within ``max_attempts``, and a client error
returns at once, as on any route.

What depends only on the route and the profile (whether it is a bypass, each verdict's
plan and which tier each of its members comes from) is built with the route
(``gateway.routing.triage.ladder``): a decision that needs no classifier costs a few
lookups.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.observability.record import RequestRecord
from gateway.observability.tracing.hooks import stage_span
from gateway.resilience.attempts import AttemptRunner
from gateway.resilience.served import Served
from gateway.resilience.wire import CHAT_WIRE, ForwardedHeaders, WireFormat
from gateway.routing.policies import order_pool
from gateway.routing.table import Member, Route
from gateway.routing.triage.cache import DecisionCache
from gateway.routing.triage.classifier import ask_classifier
from gateway.routing.triage.deadline import Deadlines
from gateway.routing.triage.heuristics import judge
from gateway.routing.triage.ladder import Ladder, Ladders
from gateway.routing.triage.outcome import TriageOutcome
from gateway.routing.triage.prompt import transcript
from gateway.routing.triage.route import RANK, TriageRoute

_VERDICT_REASONS = frozenset(("classifier", "regex", "cache"))


@dataclass(slots=True)
class _Question:
    """What is left to ask when no rule decided at once."""

    conversation: str
    key: str | None  # in the decision cache; None when it is off
    floor: str | None


class TriageService:
    def __init__(self, runner: AttemptRunner, cache: DecisionCache, rng: random.Random) -> None:
        self.runner = runner
        self.cache = cache
        self.rng = rng
        self.deadlines = Deadlines()

    async def serve(
        self,
        route: Route,
        profile: str | None,
        payload: dict[str, Any],
        record: RequestRecord,
        prompt_estimate: int,
        user_keys: Mapping[str, str] | None = None,
        wire: WireFormat = CHAT_WIRE,
        headers: ForwardedHeaders | None = None,
    ) -> Served:
        """Classify, then serve from the chosen tier up. Users' own keys (BYOK) serve
        the answer; the classifier is the gateway's call, made with its own keys."""
        triage = route.triage
        assert triage is not None
        ladders = triage.ladders.get(profile) or triage.ladders[None]  # ladders_for, inline
        started = time.perf_counter()
        if record.trace is None:  # no span to open: a context manager costs as much as a rule
            outcome = self._at_once(triage, ladders, payload, record, prompt_estimate)
            if isinstance(outcome, _Question):
                outcome = await self._ask(triage, outcome, record, profile)
        else:
            with stage_span(record, "triage classify", {"gateway.route": route.name}) as span:
                outcome = await self.decide(route, profile, payload, record, prompt_estimate)
                if span is not None:
                    span.set_attribute("gateway.tier", outcome.chosen)
                    span.set_attribute("gateway.tier_reason", outcome.reason)
        outcome.duration_s = time.perf_counter() - started
        record.triage = outcome
        ladder = ladders.by_verdict[outcome.chosen]
        outcome.chosen = outcome.tier = ladder.name
        plan = ladder.fixed if ladder.fixed is not None else self._draw(triage, ladder, profile)
        served = await self.runner.run(
            plan, payload, record, prompt_estimate, user_keys, wire, headers
        )
        answered = ladder.tier_of.get(served.member.cooldown_key, ladder.start)
        if answered != ladder.start:
            outcome.tier = triage.tiers[answered].name
            outcome.reason = "escalated"
        return served

    def plan(self, triage: TriageRoute, start: int, profile: str | None) -> Sequence[Member]:
        """The plan from the tier at index ``start`` up, for ``profile``."""
        ladder = triage.ladders_for(profile).by_verdict[triage.tiers[start].name]
        return ladder.fixed if ladder.fixed is not None else self._draw(triage, ladder, profile)

    def _draw(self, triage: TriageRoute, ladder: Ladder, profile: str | None) -> list[Member]:
        """The ladder's plan with each tier's pool in its policy's order, drawn now."""
        seen: set[str] = set()
        plan: list[Member] = []
        for tier in triage.tiers[ladder.start :]:
            route = tier.route
            for member in order_pool(route.policy, route.members_for(profile), self.rng):
                if member.cooldown_key not in seen:
                    seen.add(member.cooldown_key)
                    plan.append(member)
        return plan

    async def decide(
        self,
        route: Route,
        profile: str | None,
        payload: dict[str, Any],
        record: RequestRecord,
        prompt_estimate: int,
    ) -> TriageOutcome:
        triage = route.triage
        assert triage is not None
        decided = self._at_once(
            triage, triage.ladders_for(profile), payload, record, prompt_estimate
        )
        if isinstance(decided, _Question):
            return await self._ask(triage, decided, record, profile)
        return decided

    def _at_once(
        self,
        triage: TriageRoute,
        ladders: Ladders,
        payload: dict[str, Any],
        record: RequestRecord,
        prompt_estimate: int,
    ) -> TriageOutcome | _Question:
        """The decision when a rule or this replica's cache gives it, else the question."""
        if ladders.bypass:
            return TriageOutcome(triage.default_tier, "bypass", triage.default_tier, "bypass")
        if record.operation != "chat":
            # The classifier reads chat messages; other operations get the default tier.
            return TriageOutcome(triage.default_tier, "default", triage.default_tier, "default")
        rules = triage.rules
        floor = None
        if rules is not None:
            verdict, floor = judge(payload, prompt_estimate, rules)
            if verdict is not None:
                return TriageOutcome(verdict, "heuristic", verdict, "heuristic")
        section = triage.section
        messages = payload.get("messages")
        conversation = transcript(
            messages if isinstance(messages, list) else [], section.max_classifier_tokens
        )
        key = None
        if section.cache_ttl_s > 0:
            key = self.cache.key(triage.cache_scope, conversation)
            cached = self.cache.recall(key)
            if cached is not None:
                return _floored(TriageOutcome(cached, "cache", cached, "cache"), floor)
        return _Question(conversation, key, floor)

    async def _ask(
        self, triage: TriageRoute, question: _Question, record: RequestRecord, profile: str | None
    ) -> TriageOutcome:
        """The shared cache's verdict, else the classifier's."""
        section = triage.section
        key = question.key
        if key is not None:
            shared = await self.cache.shared(key, section.cache_wait_ms / 1000, section.cache_ttl_s)
            if shared is not None:
                return _floored(TriageOutcome(shared, "cache", shared, "cache"), question.floor)
        answer = await ask_classifier(
            self.runner, triage, question.conversation, record, profile, self.rng, self.deadlines
        )
        record.upstream_s += answer.record.upstream_s
        tier = answer.tier
        if tier is None:
            default = triage.default_tier
            outcome = TriageOutcome(default, answer.reason, default, answer.reason)
        else:
            outcome = TriageOutcome(tier, answer.reason, tier, answer.reason)
            if key is not None:
                self.cache.put(key, tier, section.cache_ttl_s)
        outcome.raw = answer.raw
        outcome.classifier = answer.record
        return _floored(outcome, question.floor)


def _floored(outcome: TriageOutcome, floor: str | None) -> TriageOutcome:
    """Raise a verdict below the floor; a fallback (default, timeout, error) keeps its
    reason so that it is still counted as one."""
    if floor is None or RANK[outcome.chosen] >= RANK[floor]:
        return outcome
    outcome.chosen = outcome.tier = floor
    if outcome.reason in _VERDICT_REASONS:
        outcome.reason = outcome.decided_by = "heuristic"
    return outcome
