"""``/v1/responses``: OpenAI's Responses API (create, stream, retrieve, delete)."""

from gateway.doors.responses.door import ResponsesDoor
from gateway.doors.responses.stored import StoredResponseDoor

__all__ = ["ResponsesDoor", "StoredResponseDoor"]
