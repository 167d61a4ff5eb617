"""The attempt loop: one iterative plan per request (spec §5). No recursion."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config.schema import ResilienceSection
from gateway.errors import InvalidRequest, NoMemberAvailable
from gateway.observability.record import AttemptRecord, RequestRecord
from gateway.providers.base import Provider, UpstreamError, UpstreamRequest, UpstreamResponse
from gateway.providers.sse import END_OVERLAP, has_event_end
from gateway.resilience.classify import (
    AVAILABILITY_FAILURES,
    Outcome,
    classify_exception,
    classify_status,
    retry_after_seconds,
)
from gateway.routing.options import merge_body
from gateway.routing.table import Member
from gateway.state.base import StateStore

if TYPE_CHECKING:
    from gateway.governance.provider_quota import ProviderQuotas

# Honouring a Retry-After longer than this on a client-facing call means we'd
# rather fall over to the next member than keep the client waiting.
SHOULD_RETRY_HORIZON_S = 60.0
_ERROR_EVENT_PREFIXES = (b'data: {"error"', b'data:{"error"')


@dataclass(slots=True)
class Served:
    """The answer the client gets: a buffered body, or a committed stream."""

    member: Member
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    response: UpstreamResponse | None = None
    first_chunk: bytes = b""


@dataclass(slots=True)
class _Result:
    outcome: Outcome
    served: Served | None = None
    status: int | None = None
    retry_after: float | None = None


class AttemptRunner:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        state: StateStore,
        settings: ResilienceSection,
        rng: random.Random | None = None,
        quotas: ProviderQuotas | None = None,
    ) -> None:
        self.providers = providers
        self.state = state
        self.settings = settings
        self.rng = rng or random.Random()
        self.quotas = quotas

    async def run(
        self,
        plan: Sequence[Member],
        client_body: dict[str, Any],
        record: RequestRecord,
        prompt_estimate: int,
    ) -> Served:
        settings = self.settings
        stream = record.stream
        operation = record.operation
        attempts = record.attempts
        failures: list[Outcome] = []
        context_floor: int | None = None
        context_error: Served | None = None
        too_small = 0
        candidates = 0
        # A larger member existed after a context-length error but was parked or
        # failed: that is an availability problem (503), not the client's (400).
        larger_unavailable = False
        capped = False
        for member in plan:
            if len(attempts) >= settings.max_attempts:
                capped = True
                break
            provider = self.providers[member.provider]
            if operation not in provider.operations:
                record.skipped.append(f"{member.alias}:unsupported")
                continue
            window = member.context_window
            if context_floor is not None and (window is None or window <= context_floor):
                record.skipped.append(f"{member.alias}:smaller_context")
                continue
            if window is not None and prompt_estimate > window:
                record.skipped.append(f"{member.alias}:too_small")
                too_small += 1
                continue
            candidates += 1
            if self.state.is_parked(member.cooldown_key, self.state.cooldowns.now()):
                record.skipped.append(f"{member.alias}:parked")
                if context_floor is not None:
                    larger_unavailable = True
                continue
            if member.limits is not None and not self._within_quota(
                member, record, client_body, prompt_estimate
            ):
                record.skipped.append(f"{member.alias}:at_limit")
                if context_floor is not None:
                    larger_unavailable = True
                continue
            body = merge_body(member.defaults, client_body, member.forced, member.upstream_model)
            retries = 0
            while True:
                started = time.perf_counter()
                try:
                    result = await self._attempt(
                        provider,
                        member,
                        UpstreamRequest(body, stream, record.request_id, operation),
                    )
                except asyncio.CancelledError:
                    # The client went away: the plan ends here, no further attempts.
                    attempts.append(
                        AttemptRecord(
                            member.alias,
                            member.provider,
                            member.upstream_model,
                            Outcome.CLIENT_DISCONNECT.value,
                            None,
                            time.perf_counter() - started,
                        )
                    )
                    raise
                elapsed = time.perf_counter() - started
                record.upstream_s += elapsed
                attempts.append(
                    AttemptRecord(
                        member.alias,
                        member.provider,
                        member.upstream_model,
                        result.outcome.value,
                        result.status,
                        elapsed,
                    )
                )
                outcome = result.outcome
                if outcome is Outcome.SUCCESS or outcome is Outcome.CLIENT_ERROR:
                    assert result.served is not None
                    return result.served
                if outcome is Outcome.CONTEXT_LENGTH:
                    context_error = result.served
                    if window is not None:
                        context_floor = max(context_floor or 0, window)
                    break
                failures.append(outcome)
                if context_floor is not None:
                    larger_unavailable = True
                if self._should_retry(retries, result, len(attempts)):
                    retries += 1
                    await asyncio.sleep(self._retry_wait(retries, result.retry_after))
                    continue
                self._park(member, result)
                break
        if context_error is not None and not larger_unavailable:
            return context_error
        if candidates == 0 and too_small:
            raise InvalidRequest(
                f"the prompt (about {prompt_estimate} tokens) exceeds the context window "
                "of every member of this route",
                param="messages",
                code="context_length_exceeded",
            )
        raise self._exhausted(plan, record, failures, capped)

    def _within_quota(
        self, member: Member, record: RequestRecord, body: dict[str, Any], estimate: int
    ) -> bool:
        assert member.limits is not None
        quotas = self.quotas
        return quotas is None or quotas.take(member.alias, member.limits, record, body, estimate)

    def _should_retry(self, retries: int, result: _Result, attempts: int) -> bool:
        settings = self.settings
        if retries >= settings.member_retries or attempts >= settings.max_attempts:
            return False
        if result.outcome is Outcome.BAD_CREDENTIALS:
            return False
        return result.retry_after is None or result.retry_after <= settings.max_retry_wait_s

    def _retry_wait(self, retries: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        base = self.settings.retry_backoff_s * (2 ** (retries - 1))
        return float(base * self.rng.uniform(0.5, 1.5))

    def _park(self, member: Member, result: _Result) -> None:
        settings = self.settings
        if result.outcome is Outcome.BAD_CREDENTIALS:
            seconds = settings.max_cooldown_s
        elif result.retry_after is not None:
            seconds = min(result.retry_after, settings.max_cooldown_s)
        else:
            seconds = min(settings.cooldown_s, settings.max_cooldown_s)
        if seconds > 0:
            now = self.state.cooldowns.now()
            self.state.park(member.cooldown_key, now + seconds, result.outcome.value)

    async def _attempt(
        self,
        provider: Provider,
        member: Member,
        request: UpstreamRequest,
    ) -> _Result:
        response: UpstreamResponse | None = None
        try:
            if request.stream:
                try:
                    async with asyncio.timeout(self.settings.ttft_timeout_s):
                        response = await provider.send(request)
                        if response.status < 400:
                            return await self._first_chunk(member, response)
                except TimeoutError:
                    if response is not None:
                        response.close()
                    return _Result(Outcome.TTFT_TIMEOUT)
            else:
                response = await provider.send(request)
            data = await response.read()
        except UpstreamError as exc:
            if response is not None:
                response.close()
            return _Result(classify_exception(exc))
        except BaseException:
            if response is not None:
                response.close()
            raise
        status = response.status
        context = 400 <= status < 500 and provider.is_context_length_error(status, data)
        outcome = classify_status(status, context)
        served = Served(member, status, response.headers, body=data)
        retry_after = None
        if outcome in AVAILABILITY_FAILURES:
            retry_after = retry_after_seconds(response.headers, self.state.cooldowns.now())
        return _Result(outcome, served, status, retry_after)

    async def _first_chunk(self, member: Member, response: UpstreamResponse) -> _Result:
        try:
            first = await response.read_chunk()
            # Nothing is forwarded before one whole event has arrived, so until then
            # the stream can still fail over (spec §5); ttft_timeout_s bounds the wait.
            if not has_event_end(first):
                first = await _until_event_end(first, response)
        except UpstreamError as exc:
            response.close()
            return _Result(classify_exception(exc), status=response.status)
        if not first:
            # The body ended before one whole event: nothing the client could use.
            response.close()
            return _Result(Outcome.CONNECT_ERROR, status=response.status)
        if first.startswith(_ERROR_EVENT_PREFIXES):
            # An error event before any content is still a failover point.
            response.close()
            return _Result(Outcome.UPSTREAM_5XX, status=response.status)
        served = Served(
            member,
            response.status,
            response.headers,
            response=response,
            first_chunk=first,
        )
        return _Result(Outcome.SUCCESS, served, response.status)

    def _exhausted(
        self,
        plan: Sequence[Member],
        record: RequestRecord,
        failures: list[Outcome],
        capped: bool = False,
    ) -> NoMemberAvailable:
        now = self.state.cooldowns.now()
        soonest = self.state.cooldowns.soonest((m.cooldown_key for m in plan), now)
        wait = max(1, math.ceil(soonest - now)) if soonest is not None else 1
        # Members at their provider quota come back when their window resets.
        skipped = set(record.skipped)
        at_limit = any(f"{m.alias}:at_limit" in skipped for m in plan)
        if at_limit and self.quotas is not None:
            reset = max(1, math.ceil(self.quotas.reset_s()))
            wait = min(wait, reset) if soonest is not None else reset
        parts = [
            f"{a.alias} → {a.outcome}" + (f" ({a.status})" if a.status else "")
            for a in record.attempts
        ]
        # Then the members never called: parked, or too small for this prompt.
        parts += [" → ".join(s.rsplit(":", 1)) for s in record.skipped]
        listed = "; ".join(parts) or "no member was eligible"
        if capped:
            listed += f"; stopped after max_attempts={self.settings.max_attempts}"
        # 429 only when everything between the client and an answer is a rate limit:
        # this request's failures, and the reasons members it skipped were parked.
        parked_reasons = [
            self.state.cooldowns.reason(m.cooldown_key)
            for m in plan
            if f"{m.alias}:parked" in skipped
        ]
        all_rate_limited = (
            bool(failures or parked_reasons or at_limit)
            and all(f is Outcome.RATE_LIMITED for f in failures)
            and all(r == Outcome.RATE_LIMITED.value for r in parked_reasons)
        )
        headers = {"Retry-After": str(wait)}
        if wait > SHOULD_RETRY_HORIZON_S:
            headers["x-should-retry"] = "false"
        return NoMemberAvailable(
            f"no member of '{record.route}' could answer: {listed}",
            all_rate_limited=all_rate_limited,
            headers=headers,
        )


async def _until_event_end(first: bytes, response: UpstreamResponse) -> bytes:
    """Read until the buffered bytes hold one whole SSE event. Pieces are kept in a list
    and only each new piece (with 3 bytes of overlap) is searched, so a giant first
    event costs linear time, not quadratic. ``b""`` if the body ends first."""
    if not first:
        return b""
    pieces = [first]
    tail = first[-END_OVERLAP:]
    while True:
        piece = await response.read_chunk()
        if not piece:
            return b""
        pieces.append(piece)
        window = tail + piece
        if has_event_end(window):
            return b"".join(pieces)
        tail = window[-END_OVERLAP:]
