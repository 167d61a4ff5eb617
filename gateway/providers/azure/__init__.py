"""Azure OpenAI: the OpenAI wire format, addressed per deployment, keyed by ``api-key``.

For Azure's newer ``/openai/v1`` API, which takes the model in the body like OpenAI
does, use kind ``openai`` with ``base_url: https://<resource>.openai.azure.com/openai/v1``
and the key in ``headers: {api-key: ...}``.
"""

from gateway.providers.azure.provider import AzureOpenAIProvider

__all__ = ["AzureOpenAIProvider"]
