"""``GET /v1/gateway/usage`` reads the shared counters; ``DELETE`` resets them (admin).

Query: ``window=minute|day|month`` (default ``day``), ``last=N`` buckets back including
the current one (default 1),
``group_by=route,profile,provider,model,api_key,cache,purpose,byok,key,team`` (default:
totals only). With the redis backend any replica answers for all of them.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.accounting.counters import RETENTION_BUCKETS, WINDOWS, parse_group_by
from gateway.errors import GatewayError, InvalidRequest
from gateway.governance.audit import audit
from gateway.runtime import Gateway


class StateUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "state_unavailable"


def _error(exc: GatewayError) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type="application/json")


def _query(request: Request) -> tuple[str, int, list[str]]:
    params = request.query_params
    window = params.get("window", "day")
    if window not in WINDOWS:
        raise InvalidRequest(f"window must be one of: {', '.join(WINDOWS)}", param="window")
    raw_last = params.get("last", "1")
    limit = RETENTION_BUCKETS[window]
    # str.isdigit() is true for "²" and "٣" too, and int() refuses the first (and
    # any string over 4,300 digits): only short ASCII digits reach int().
    valid = raw_last.isascii() and raw_last.isdigit() and len(raw_last) <= 9
    if not valid or not 1 <= int(raw_last) <= limit:
        raise InvalidRequest(f"last must be an integer from 1 to {limit}", param="last")
    try:
        group_by = parse_group_by(params.get("group_by"))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="group_by") from None
    return window, int(raw_last), group_by


class UsageEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def read(self, request: Request) -> Response:
        gateway = self.gateway
        try:
            gateway.governor.caller(dict(request.headers.raw))
            window, last, group_by = _query(request)
            try:
                rows, totals = await gateway.state.read_usage(window, last, group_by)
            except gateway.state.unavailable_errors as exc:
                raise StateUnavailable(f"the shared state store is unavailable: {exc}") from None
        except GatewayError as exc:
            return _error(exc)
        payload = {
            "object": "gateway.usage",
            "window": window,
            "last": last,
            "group_by": group_by,
            "state": gateway.state.backend,
            "data": rows,
            "totals": totals,
        }
        return Response(orjson.dumps(payload), media_type="application/json")

    async def reset(self, request: Request) -> Response:
        gateway = self.gateway
        try:
            actor = gateway.authorize_admin(dict(request.headers.raw))
            try:
                await gateway.state.reset_usage()
            except gateway.state.unavailable_errors as exc:
                raise StateUnavailable(f"the shared state store is unavailable: {exc}") from None
        except GatewayError as exc:
            return _error(exc)
        audit(actor, "usage.reset", "*")
        return Response(
            orjson.dumps({"object": "gateway.usage", "reset": True}), media_type="application/json"
        )
