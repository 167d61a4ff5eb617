"""``POST /v1/messages``: Anthropic's Messages API, for the Anthropic SDKs and Claude Code.

``anthropic`` members serve it natively (the body and the answer's bytes pass through);
other members serve it through the chat bridge (``gateway/translate/anthropic``).
"""

from gateway.doors.messages.door import MessagesDoor

__all__ = ["MessagesDoor"]
