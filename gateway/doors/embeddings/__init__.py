"""``POST /v1/embeddings``: OpenAI's embeddings wire format."""

from gateway.doors.embeddings.door import EmbeddingsDoor

__all__ = ["EmbeddingsDoor"]
