"""The attempt loop: one iterative plan per request (spec §5). No recursion."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway.config.schema import ResilienceSection
from gateway.errors import InvalidRequest
from gateway.observability.record import AttemptRecord, RequestRecord
from gateway.providers.base import Provider, UpstreamError, UpstreamRequest, UpstreamResponse
from gateway.providers.byok import key_required, scrub
from gateway.resilience.classify import (
    AVAILABILITY_FAILURES,
    Outcome,
    classify_exception,
    classify_status,
    retry_after_seconds,
)
from gateway.resilience.exhausted import exhausted_error
from gateway.resilience.recovery import Recovery
from gateway.resilience.served import AttemptHook, AttemptResult, Served
from gateway.resilience.wire import CHAT_WIRE, Bridge, ForwardedHeaders, WireFormat, read_opening
from gateway.routing.options import merge_body
from gateway.routing.signals import SignalBoard
from gateway.routing.table import Member
from gateway.state.base import StateStore

OVERLOADED = 529
# Under a user's own key these are that user's (their key, their quota): returned to
# them, and the member stays up for everyone else.
USER_KEY_FAILURES = frozenset({Outcome.BAD_CREDENTIALS, Outcome.RATE_LIMITED})

if TYPE_CHECKING:
    from gateway.governance.provider_quota import ProviderQuotas


class AttemptRunner:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        state: StateStore,
        settings: ResilienceSection,
        rng: random.Random | None = None,
        signals: SignalBoard | None = None,
        quotas: ProviderQuotas | None = None,
        hook: AttemptHook | None = None,
    ) -> None:
        self.providers = providers
        self.state = state
        self.settings = settings
        self.rng = rng or random.Random()
        # Both None when off: then they cost the loop nothing but a test for None.
        self.signals = signals
        self.recovery = Recovery(state, settings.max_cooldown_s) if settings.half_open else None
        self.quotas = quotas
        self.hook = hook  # None when tracing is off: one test per attempt

    async def run(
        self,
        plan: Sequence[Member],
        client_body: dict[str, Any],
        record: RequestRecord,
        prompt_estimate: int,
        user_keys: Mapping[str, str] | None = None,
        wire: WireFormat = CHAT_WIRE,
        headers: ForwardedHeaders | None = None,
    ) -> Served:
        """Serve ``client_body`` from the first member of ``plan`` that answers.

        ``user_keys`` are the request's own provider keys (BYOK), by provider name.
        ``wire`` is the door's: where a stream's opening ends, and the bridges to
        members that serve the operation through another one. ``headers`` go to
        members that serve the operation natively, not through a bridge.
        """
        settings = self.settings
        stream = record.stream
        operation = record.operation
        attempts = record.attempts
        failures: list[Outcome] = []
        context_floor: int | None = None
        context_error: Served | None = None
        too_small = 0
        unsupported = 0
        candidates = 0
        # A larger member existed after a context-length error but was parked or
        # failed: that is an availability problem (503), not the client's (400).
        larger_unavailable = False
        capped = False
        keyless: list[str] = []  # providers skipped for want of the user's key
        overloaded_only = True
        for member in plan:
            if len(attempts) >= settings.max_attempts:
                capped = True
                break
            provider = self.providers[member.provider]
            bridge: Bridge | None = None
            if operation not in provider.operations:
                bridge = wire.bridge_to(provider.operations)
                if bridge is None:
                    record.skipped.append(f"{member.alias}:unsupported")
                    unsupported += 1
                    continue
            window = member.context_window
            if context_floor is not None and (window is None or window <= context_floor):
                record.skipped.append(f"{member.alias}:smaller_context")
                continue
            if window is not None and prompt_estimate > window:
                record.skipped.append(f"{member.alias}:too_small")
                too_small += 1
                continue
            user_key = user_keys.get(member.provider) if user_keys else None
            if user_key is None and provider.byok == "required":
                record.skipped.append(f"{member.alias}:no_byok_key")
                keyless.append(member.provider)
                continue
            candidates += 1
            key = member.cooldown_key
            if self.state.is_parked(key, self.state.cooldowns.now()):
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
            # Set when this member owes a probe (half-open): this request must win it.
            probe = self.recovery if self.recovery and self.recovery.awaits_probe(key) else None
            if probe is not None and not await probe.claim(key):
                record.skipped.append(f"{member.alias}:probing")
                if context_floor is not None:
                    larger_unavailable = True
                continue
            signals = self.signals
            if bridge is None:
                body = merge_body(
                    member.defaults, client_body, member.forced, member.upstream_model
                )
                upstream = UpstreamRequest(
                    body, stream, record.request_id, operation, api_key=user_key, headers=headers
                )
            else:
                # Options are written in the member's own format: merged after the
                # translation, so none is lost to it.
                translated = bridge.request(client_body, stream)
                body = merge_body(member.defaults, translated, member.forced, member.upstream_model)
                upstream = UpstreamRequest(
                    body, stream, record.request_id, bridge.operation, api_key=user_key
                )
            record.byok = user_key is not None
            retries = 0
            hook = self.hook
            while True:
                started = time.perf_counter()
                if signals is not None:
                    signals.started(key)
                token = hook.begin(provider, member, upstream, record) if hook is not None else None
                try:
                    result = await self._attempt(provider, member, upstream, wire, bridge)
                except asyncio.CancelledError:
                    if hook is not None:
                        hook.abandon(token, provider, member, record, Outcome.CLIENT_DISCONNECT)
                    if signals is not None:
                        signals.finished(key)
                    if probe is not None:
                        probe.abandoned(key)
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
                except BaseException as exc:
                    if hook is not None:
                        hook.abandon(token, provider, member, record, type(exc).__name__)
                    raise
                if hook is not None:
                    hook.end(token, provider, member, record, result)
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
                answered = outcome not in AVAILABILITY_FAILURES
                if probe is not None and answered:
                    probe.succeeded(key)
                if signals is not None:
                    if answered and outcome is not Outcome.CONTEXT_LENGTH:
                        record.in_flight_key = key  # busy until the request is done
                    else:
                        signals.finished(key)
                if (
                    user_key is not None
                    and result.served is not None
                    and outcome is not Outcome.SUCCESS
                ):
                    result.served.body = scrub(result.served.body, user_key)
                    if outcome in USER_KEY_FAILURES:
                        if probe is not None and not answered:
                            # The user's own quota or key says nothing of the member.
                            probe.abandoned(key)
                        return result.served
                if outcome is Outcome.SUCCESS or outcome is Outcome.CLIENT_ERROR:
                    assert result.served is not None
                    return result.served
                if outcome is Outcome.CONTEXT_LENGTH:
                    context_error = result.served
                    if window is not None:
                        context_floor = max(context_floor or 0, window)
                    break
                failures.append(outcome)
                if result.status != OVERLOADED:
                    overloaded_only = False
                if context_floor is not None:
                    larger_unavailable = True
                if probe is None and self._should_retry(retries, result, len(attempts)):
                    retries += 1
                    await asyncio.sleep(self._retry_wait(retries, result.retry_after))
                    continue
                self._park(member, result, probe)
                break
        if context_error is not None and not larger_unavailable:
            return context_error
        if keyless and not attempts and len(keyless) == len(record.skipped):
            raise key_required(keyless)
        if candidates == 0 and too_small:
            raise InvalidRequest(
                f"the prompt (about {prompt_estimate} tokens) exceeds the context window "
                "of every member of this route",
                param="messages",
                code="context_length_exceeded",
            )
        if candidates == 0 and unsupported == len(plan):
            raise InvalidRequest(
                f"no member of '{record.route}' can serve {operation} (its providers' "
                "kinds do not speak it); use a route whose members can",
                param="model",
                code="unsupported_operation",
            )
        raise exhausted_error(
            self.state, self.settings, plan, record, failures, capped, overloaded_only, self.quotas
        )

    def _within_quota(
        self, member: Member, record: RequestRecord, body: dict[str, Any], estimate: int
    ) -> bool:
        assert member.limits is not None
        quotas = self.quotas
        return quotas is None or quotas.take(member.alias, member.limits, record, body, estimate)

    def _should_retry(self, retries: int, result: AttemptResult, attempts: int) -> bool:
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

    def _park(self, member: Member, result: AttemptResult, probe: Recovery | None = None) -> None:
        settings = self.settings
        if result.outcome is Outcome.BAD_CREDENTIALS:
            seconds = settings.max_cooldown_s
        elif result.retry_after is not None:
            seconds = min(result.retry_after, settings.max_cooldown_s)
        else:
            seconds = min(settings.cooldown_s, settings.max_cooldown_s)
        if probe is not None:
            seconds = probe.next_park_s(member.cooldown_key, seconds)
            probe.failed(member.cooldown_key, seconds)
        if seconds > 0:
            now = self.state.cooldowns.now()
            reason = "overloaded" if result.status == OVERLOADED else result.outcome.value
            self.state.park(member.cooldown_key, now + seconds, reason)

    async def _attempt(
        self,
        provider: Provider,
        member: Member,
        request: UpstreamRequest,
        wire: WireFormat,
        bridge: Bridge | None,
    ) -> AttemptResult:
        """One call to one member."""
        response: UpstreamResponse | None = None
        try:
            if request.stream:
                try:
                    async with asyncio.timeout(self.settings.ttft_timeout_s):
                        response = await provider.send(request)
                        if bridge is not None:
                            response = bridge.response(response, True)
                        if response.status < 400:
                            return await self._opening(member, response, wire)
                except TimeoutError:
                    if response is not None:
                        response.close()
                    return AttemptResult(Outcome.TTFT_TIMEOUT)
            else:
                response = await provider.send(request)
                if bridge is not None:
                    response = bridge.response(response, False)
            data = await response.read()
        except UpstreamError as exc:
            if response is not None:
                response.close()
            return AttemptResult(classify_exception(exc))
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
        return AttemptResult(outcome, served, status, retry_after)

    async def _opening(
        self, member: Member, response: UpstreamResponse, wire: WireFormat
    ) -> AttemptResult:
        # Nothing is forwarded before the stream's opening (one whole event, for chat)
        # has arrived, so until then the stream can still fail over (spec §5);
        # ttft_timeout_s bounds the wait.
        try:
            opening = await read_opening(response, wire.opening)
        except UpstreamError as exc:
            response.close()
            return AttemptResult(classify_exception(exc), status=response.status)
        if response.status >= 400:
            # A translating kind read a refusal in the stream's first event (a blocked
            # prompt): an error answer, as it would be without streaming.
            response.close()
            served = Served(member, response.status, response.headers, body=opening)
            return AttemptResult(classify_status(response.status), served, response.status)
        if not opening:
            # The body ended before the opening did: nothing the client could use.
            response.close()
            return AttemptResult(Outcome.CONNECT_ERROR, status=response.status)
        error_status = wire.opening.error_status(opening)
        if error_status is not None:
            # An error event before any content is still a failover point.
            response.close()
            outcome = classify_status(error_status)
            if outcome is Outcome.SUCCESS or outcome is Outcome.CLIENT_ERROR:
                outcome = Outcome.UPSTREAM_5XX
            return AttemptResult(outcome, status=error_status)
        served = Served(
            member,
            response.status,
            response.headers,
            response=response,
            first_chunk=opening,
        )
        return AttemptResult(Outcome.SUCCESS, served, response.status)
