"""Triage on the request path: decide the tier, then serve from it, escalating upward.

Decision order: bypass (every tier is one and the same member), the short-request
heuristic, the decision cache, the classifier. The tools/images/size floor then
raises a cached or classified verdict that is too low.

The answer is one plan through the attempt loop: the chosen tier's members, then
each tier above. So a member too small for the prompt, parked, or failing for
availability moves on to the next tier within ``max_attempts``, and a client error
returns at once, as on any route.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.observability.record import RequestRecord
from gateway.observability.tracing.hooks import stage_span
from gateway.resilience.attempts import AttemptRunner, Served
from gateway.resilience.wire import CHAT_WIRE, ForwardedHeaders, WireFormat
from gateway.routing.policies import order_pool
from gateway.routing.table import Member, Route
from gateway.routing.triage.cache import DecisionCache
from gateway.routing.triage.classifier import ask_classifier
from gateway.routing.triage.heuristics import floor_tier, heuristic_verdict, read_signals
from gateway.routing.triage.outcome import TriageOutcome
from gateway.routing.triage.prompt import transcript
from gateway.routing.triage.route import RANK, TriageRoute

_VERDICT_REASONS = frozenset(("classifier", "regex", "cache"))


class TriageService:
    def __init__(self, runner: AttemptRunner, cache: DecisionCache, rng: random.Random) -> None:
        self.runner = runner
        self.cache = cache
        self.rng = rng
        self._bypass: dict[tuple[str, str | None], bool] = {}
        # Plans whose order never changes (every tier `priority`), built once.
        self._plans: dict[tuple[int, int, str | None], tuple[Member, ...]] = {}

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
        started = time.perf_counter()
        with stage_span(record, "triage classify", {"gateway.route": route.name}) as span:
            outcome = await self.decide(route, profile, payload, record, prompt_estimate)
            if span is not None:
                span.set_attribute("gateway.tier", outcome.chosen)
                span.set_attribute("gateway.tier_reason", outcome.reason)
        outcome.duration_s = time.perf_counter() - started
        record.triage = outcome
        start = triage.position(outcome.chosen)
        outcome.chosen = outcome.tier = triage.tiers[start].name
        plan = self.plan(triage, start, profile)
        served = await self.runner.run(
            plan, payload, record, prompt_estimate, user_keys, wire, headers
        )
        answered = triage.tier_of(served.member, start)
        if answered != start:
            outcome.tier = triage.tiers[answered].name
            outcome.reason = "escalated"
        return served

    def plan(self, triage: TriageRoute, start: int, profile: str | None) -> Sequence[Member]:
        """The chosen tier's members, then each tier's above; a model already listed
        in a lower tier is not tried again."""
        key = (id(triage), start, profile)
        fixed = self._plans.get(key)
        if fixed is not None:
            return fixed
        seen: set[str] = set()
        plan: list[Member] = []
        tiers = triage.tiers[start:]
        for tier in tiers:
            route = tier.route
            for member in order_pool(route.policy, route.members_for(profile), self.rng):
                if member.cooldown_key not in seen:
                    seen.add(member.cooldown_key)
                    plan.append(member)
        if all(tier.route.policy == "priority" for tier in tiers):
            fixed = self._plans[key] = tuple(plan)
            return fixed
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
        section = triage.section
        if self._is_bypass(route.name, triage, profile):
            return TriageOutcome(triage.default_tier, "bypass")
        if record.operation != "chat":
            # The classifier reads chat messages; other operations get the default tier.
            return TriageOutcome(triage.default_tier, "default")
        rules = section.heuristics
        floor = None
        if rules is not None:
            signals = read_signals(payload, prompt_estimate, rules)
            if heuristic_verdict(rules, signals) is not None:
                return TriageOutcome("simple", "heuristic")
            floor = floor_tier(rules, signals)
        messages = payload.get("messages")
        conversation = transcript(
            messages if isinstance(messages, list) else [], section.max_classifier_tokens
        )
        key = None
        if section.cache_ttl_s > 0:
            key = self.cache.key(triage.cache_scope, conversation)
            cached = await self.cache.get(key, section.cache_wait_ms / 1000, section.cache_ttl_s)
            if cached is not None:
                return _floored(TriageOutcome(cached, "cache"), floor)
        answer = await ask_classifier(self.runner, triage, conversation, record, profile, self.rng)
        record.upstream_s += answer.record.upstream_s
        tier = answer.tier
        if tier is None:
            outcome = TriageOutcome(triage.default_tier, answer.reason)
        else:
            outcome = TriageOutcome(tier, answer.reason)
            if key is not None:
                self.cache.put(key, tier, section.cache_ttl_s)
        outcome.raw = answer.raw
        outcome.classifier = answer.record
        return _floored(outcome, floor)

    def _is_bypass(self, name: str, triage: TriageRoute, profile: str | None) -> bool:
        known = self._bypass.get((name, profile))
        if known is None:
            keys = {m.cooldown_key for t in triage.tiers for m in t.route.members_for(profile)}
            known = self._bypass[(name, profile)] = len(keys) == 1
        return known


def _floored(outcome: TriageOutcome, floor: str | None) -> TriageOutcome:
    """Raise a verdict below the floor; a fallback (default, timeout, error) keeps its
    reason so that it is still counted as one."""
    if floor is None or RANK[outcome.chosen] >= RANK[floor]:
        return outcome
    outcome.chosen = outcome.tier = floor
    if outcome.reason in _VERDICT_REASONS:
        outcome.reason = outcome.decided_by = "heuristic"
    return outcome
