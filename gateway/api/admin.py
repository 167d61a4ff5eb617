"""The gateway's own endpoints: model list, explain view, health."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.doors.messages.models import anthropic_model_list, wants_anthropic_list
from gateway.errors import GatewayError
from gateway.routing.explain import explain_view
from gateway.runtime import Gateway


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def error_response(error: GatewayError) -> Response:
    return Response(
        error.body(),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


class AdminEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def models(self, request: Request) -> Response:
        headers = dict(request.headers.raw)
        self.gateway.governor.caller(headers)  # 401 via handler
        table = self.gateway.snapshot.table
        if wants_anthropic_list(headers):
            return json_response(anthropic_model_list(table))
        data = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "gateway",
                "type": route.model_type,
            }
            for name, route in table.routes.items()
        ]
        data += [
            {
                "id": alias,
                "object": "model",
                "created": 0,
                "owned_by": route.pool[0].provider,
                "type": route.model_type,
            }
            for alias, route in table.aliases.items()
        ]
        return json_response({"object": "list", "data": data})

    async def routes(self, request: Request) -> Response:
        self.gateway.governor.caller(dict(request.headers.raw))  # 401 via handler
        snapshot = self.gateway.snapshot
        try:
            profile = snapshot.pick_profile(request.query_params.get("profile"), from_header=False)
        except GatewayError as exc:
            return error_response(exc)
        return json_response(explain_view(snapshot.table, profile, snapshot.planner))

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        state = self.gateway.state
        status = state.health()
        if self.gateway.draining:
            return json_response({"status": "draining", "state": state.backend}, 503)
        return json_response({"status": status, "state": state.backend})
