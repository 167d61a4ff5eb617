"""``GET`` and ``DELETE /v1/responses/{id}``: served by the member that made the id."""

from __future__ import annotations

from typing import NoReturn

from gateway.doors.responses.request import check_response_id
from gateway.errors import GatewayError
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door
from gateway.resilience.attempts import Served

PATH = "/v1/responses/{response_id}"


class StoredResponseDoor(Door):
    api = "responses"

    def __init__(self, operation: str) -> None:
        self.operation = operation  # responses.retrieve | responses.delete

    def parse(self, raw: bytes, route_header: str | None) -> NoReturn:
        raise AssertionError("a stored response is named by its path: see parse_request")

    def parse_request(self, path: str, raw: bytes, route_header: str | None) -> Call:
        response_id = check_response_id(path.rstrip("/").rpartition("/")[2], "response_id")
        return Call(
            model=route_header or "",
            stream=False,
            body={"response_id": response_id},
            prompt_estimate=0,
            affinity_id=response_id,
        )

    def answer(self, served: Served, call: Call) -> Answer:
        content_type = served.headers.get("Content-Type", "application/json")
        return Answer(served.body, content_type.encode("latin-1", "replace"))

    def relay(self, served: Served, call: Call) -> NoReturn:
        raise AssertionError("a stored response is answered whole")

    def stream_error(self, message: str, code: str) -> bytes:
        raise AssertionError("a stored response is answered whole")

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()
