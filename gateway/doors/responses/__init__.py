"""``/v1/responses``: OpenAI's Responses API (create and stream; retrieve, delete,
input items and cancel on a stored response)."""

from gateway.doors.responses.door import ResponsesDoor
from gateway.doors.responses.stored import StoredResponseDoor

__all__ = ["ResponsesDoor", "StoredResponseDoor"]
