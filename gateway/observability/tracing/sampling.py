"""The sampling decision, made once per trace root with the OpenTelemetry SDK's rules.

The sampler is the SDK's: ``ParentBased(TraceIdRatioBased(tracing.sample_ratio))``, or
what the SDK itself reads from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``. Its
built-in kinds are turned into plain functions with the same outcome (the ratio compares
the trace id's lower 64 bits with ``round(ratio * 2**64)``, a parent-based sampler
follows the client's sampled flag); asking the SDK object costs 1.5 to 3 µs a request
(contexts, result objects). Any other sampler is asked through its ``should_sample``.
Spans below the root follow its decision, as the built-in samplers would decide them.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)

from gateway.observability.tracing.context import RemoteParent
from gateway.observability.tracing.spans import SampleFn

_LOW_64 = (1 << 64) - 1
_NO_PARENT = Context()


def configured_sampler(sample_ratio: float | None) -> Sampler:
    """The configured ratio, parent-based; None: the SDK's reading of ``OTEL_TRACES_*``."""
    if sample_ratio is not None:
        return ParentBased(TraceIdRatioBased(sample_ratio))
    return TracerProvider(shutdown_on_exit=False).sampler


def _fixed(sampler: Sampler) -> bool | None:
    """The decision of a sampler that decides alike for every trace, else None."""
    if type(sampler) is StaticSampler:  # ALWAYS_ON / ALWAYS_OFF
        return sampler._decision is Decision.RECORD_AND_SAMPLE
    if type(sampler) is TraceIdRatioBased and sampler.bound in (0, _LOW_64 + 1):
        return sampler.bound > 0  # ratio 0 or 1
    return None


def new_trace_bound(sampler: Sampler) -> int | None:
    """For a sampler whose decision on a new trace (no client parent) is a bound on the
    trace id's lower 64 bits, that bound (sampled when below it): the recorder then
    decides the usual request with one comparison, no call. None for any other."""
    if type(sampler) is ParentBased:
        sampler = sampler._root
    fixed = _fixed(sampler)
    if fixed is not None:
        return _LOW_64 + 1 if fixed else 0
    if type(sampler) is TraceIdRatioBased:
        bound: int = sampler.bound
        return bound
    return None


def sample_function(sampler: Sampler) -> SampleFn:
    """``sampler``'s decision for a request's span, as a plain function."""
    fixed = _fixed(sampler)
    if fixed is not None:
        return lambda trace_id, parent: fixed
    if type(sampler) is TraceIdRatioBased:
        bound = sampler.bound
        return lambda trace_id, parent: trace_id & _LOW_64 < bound
    if type(sampler) is ParentBased:
        root = sample_function(sampler._root)
        new_trace = _fixed(sampler._root)
        if_sampled = sample_function(sampler._remote_parent_sampled)
        if_not = sample_function(sampler._remote_parent_not_sampled)

        def parent_based(trace_id: int, parent: RemoteParent | None) -> bool:
            if parent is None:
                return root(trace_id, None) if new_trace is None else new_trace
            return (if_sampled if parent.sampled else if_not)(trace_id, parent)

        return parent_based
    return _asking(sampler)


def _asking(sampler: Sampler) -> SampleFn:
    def ask(trace_id: int, parent: RemoteParent | None) -> bool:
        context = _NO_PARENT
        if parent is not None:
            flags = TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT)
            remote = SpanContext(trace_id, parent.span_id, True, flags)
            context = set_span_in_context(NonRecordingSpan(remote))
        result = sampler.should_sample(context, trace_id, "request", SpanKind.SERVER)
        return result.decision is Decision.RECORD_AND_SAMPLE

    return ask
