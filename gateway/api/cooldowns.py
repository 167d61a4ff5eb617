"""``GET /v1/gateway/cooldowns``: which provider models are parked, and until when."""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.governance.audit import audit
from gateway.runtime import Gateway


class CooldownsEndpoint:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def list(self, request: Request) -> Response:
        gateway = self.gateway
        headers = dict(request.headers.raw)
        try:
            actor = gateway.authorize_admin(headers)
        except GatewayError as exc:
            return Response(exc.body(), status_code=exc.status, media_type="application/json")
        audit(actor, "cooldowns.read", "*")
        now = time.time()
        active = gateway.state.cooldowns.active(now)
        data = [
            {"key": key, "until": until, "remaining_s": round(max(0.0, until - now), 3)}
            for key, until in sorted(active.items(), key=lambda item: item[1])
        ]
        payload = {"object": "list", "data": data}
        return Response(orjson.dumps(payload), media_type="application/json")
