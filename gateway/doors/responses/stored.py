"""Calls on a stored response (``/v1/responses/{id}``, ``…/input_items``, ``…/cancel``):
served by the member that made the id, and by no other."""

from __future__ import annotations

import re
from typing import NoReturn

from gateway.doors.responses.request import check_response_id
from gateway.errors import GatewayError, InvalidRequest
from gateway.pipeline.call import Call
from gateway.pipeline.door import Answer, Door
from gateway.resilience.served import Served

# (method, path) → the operation; the provider knows each operation's upstream call.
STORED_RESPONSE_CALLS = {
    ("GET", "/v1/responses/{response_id}"): "responses.retrieve",
    ("DELETE", "/v1/responses/{response_id}"): "responses.delete",
    ("GET", "/v1/responses/{response_id}/input_items"): "responses.input_items",
    ("POST", "/v1/responses/{response_id}/cancel"): "responses.cancel",
}
_ID_IN_PATH = re.compile(r"/v1/responses/([^/]*)")
# The query (`include[]`, a list's `limit`, `after`, `order`) goes upstream as sent:
# only characters a URL query may carry unescaped, or escaped.
_QUERY = re.compile(rb"[A-Za-z0-9_.~%=&+,\[\]-]{0,2000}")


class StoredResponseDoor(Door):
    api = "responses"

    def __init__(self, operation: str) -> None:
        self.operation = operation
        # No well-known GenAI name fits a call on a stored response: its own name.
        self.gen_ai_operation = operation

    def parse(self, raw: bytes, route_header: str | None) -> NoReturn:
        raise AssertionError("a stored response is named by its path: see parse_request")

    def parse_request(self, path: str, query: bytes, raw: bytes, route_header: str | None) -> Call:
        found = _ID_IN_PATH.match(path)
        response_id = check_response_id(found.group(1) if found else "", "response_id")
        if not _QUERY.fullmatch(query):
            raise InvalidRequest("the query string has characters a URL cannot carry")
        return Call(
            model=route_header or "",
            stream=False,
            body={"response_id": response_id, "query": query.decode("ascii")},
            prompt_estimate=0,
            affinity_id=response_id,
        )

    def answer(self, served: Served, call: Call, metered: bool = True) -> Answer:
        content_type = served.headers.get("Content-Type", "application/json")
        return Answer(served.body, content_type.encode("latin-1", "replace"))

    def relay(self, served: Served, call: Call) -> NoReturn:
        raise AssertionError("a stored response is answered whole")

    def stream_error(self, message: str, code: str) -> bytes:
        raise AssertionError("a stored response is answered whole")

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()
