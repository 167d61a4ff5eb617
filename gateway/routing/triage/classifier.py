"""Asking the classifier: its own plan through the attempt loop, bounded by ``timeout_s``
(``gateway.routing.triage.deadline``).

The call gets a record of its own, so its attempts, usage and cost are accounted
under the route with ``purpose=triage`` and never count against the answer's
``max_attempts``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.accounting.pricing import cost_pico_usd, pico_to_usd
from gateway.accounting.usage import usage_from_mapping
from gateway.errors import GatewayError
from gateway.observability.record import RequestRecord
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.policies import order_pool
from gateway.routing.triage.deadline import Deadlines
from gateway.routing.triage.prompt import CHARS_PER_TOKEN, classifier_body
from gateway.routing.triage.route import TriageRoute
from gateway.routing.triage.verdict import RAW_LIMIT, answer_text, parse_verdict


@dataclass(slots=True)
class ClassifierAnswer:
    tier: str | None  # None: no usable verdict, see `reason`
    reason: str  # classifier | regex | default | timeout | error
    raw: str | None
    record: RequestRecord
    latency_s: float


def _call_record(parent: RequestRecord, triage: TriageRoute, profile: str | None) -> RequestRecord:
    # The id and start positionally, the rest set after: a record has some fifty fields,
    # and each keyword argument is matched against all of them.
    record = RequestRecord(parent.request_id, time.perf_counter())
    record.route = parent.route
    record.route_label = parent.route_label
    record.profile = triage.classifier.profile_used(profile)
    record.api_key_id = parent.api_key_id
    # The classifier's attempts are spans of the request's trace, not a trace apart.
    record.trace = parent.trace
    return record


async def ask_classifier(
    runner: AttemptRunner,
    triage: TriageRoute,
    conversation: str,
    parent: RequestRecord,
    profile: str | None,
    rng: random.Random,
    deadlines: Deadlines,
) -> ClassifierAnswer:
    record = _call_record(parent, triage, profile)
    classifier = triage.classifier
    members = classifier.members_for(profile)
    plan = (
        members if classifier.policy == "priority" else order_pool(classifier.policy, members, rng)
    )
    body = classifier_body(triage.prompt, conversation, triage.json_mode)
    estimate = (len(triage.prompt) + len(conversation)) // CHARS_PER_TOKEN
    task = deadlines.start(triage.section.timeout_s)
    try:
        try:
            served = await runner.run(plan, body, record, estimate)
        finally:
            timed_out = deadlines.end(task)
    except asyncio.CancelledError:
        if not timed_out:
            raise
        record.status = 504
        record.error_type = "triage_timeout"
        if record.attempts and record.attempts[-1].outcome == "client_disconnect":
            cut = record.attempts[-1]
            cut.outcome = "triage_timeout"  # our deadline, not the client going away
            record.upstream_s += cut.duration_s
        return _answer(None, "timeout", None, record)
    except GatewayError as exc:
        record.status = exc.status
        record.error_type = exc.code or exc.type
        return _answer(None, "error", None, record)
    member = served.member
    record.provider = member.provider
    record.model = member.upstream_model
    record.alias = member.alias
    record.status = served.status
    if served.status >= 400:
        record.error_type = record.attempts[-1].outcome if record.attempts else "upstream_error"
        return _answer(None, "error", None, record)
    try:
        completion: Any = orjson.loads(served.body)
    except orjson.JSONDecodeError:
        completion = None
    usage = usage_from_mapping(completion.get("usage")) if isinstance(completion, dict) else None
    if usage is not None:
        record.usage = usage
        record.cost_pico_usd = cost_pico_usd(member.price, usage)
        record.cost_usd = pico_to_usd(record.cost_pico_usd)
    text = answer_text(completion)
    raw = text[:RAW_LIMIT] if text is not None else None
    verdict = parse_verdict(text) if text is not None else None
    if verdict is None:
        return _answer(None, "default", raw, record)
    return _answer(verdict[0], verdict[1], raw, record)


def _answer(
    tier: str | None, reason: str, raw: str | None, record: RequestRecord
) -> ClassifierAnswer:
    record.latency_s = time.perf_counter() - record.started
    if record.alias is None and record.attempts:
        # No answer: the usage event names the member tried last.
        last = record.attempts[-1]
        record.provider, record.model, record.alias = last.provider, last.model, last.alias
    return ClassifierAnswer(tier, reason, raw, record, record.latency_s)
