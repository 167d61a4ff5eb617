"""``POST /v1/chat/completions``: OpenAI's chat completions wire format."""

from gateway.doors.chat.door import ChatDoor

__all__ = ["ChatDoor"]
