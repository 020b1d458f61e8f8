"""What goes wrong with a model provider, as errors the API can answer with.

One family for every model the product calls: the chat model that answers customers, a
litellm embedding model, and the built-in embedder whose weights may be missing. Each
error knows the HTTP status it becomes (502, 503 or 504) and its message is safe to show:
it names what failed and why, never a key.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A model could not do its job. `status` is the HTTP status the API answers with."""

    status = 502
    title = "Model provider failed"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """The provider refused, failed or could not be reached (502)."""


class ProviderMalformed(ProviderUnavailable):
    """The provider answered with something that is not a usable reply (502)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer, or stopped writing, within the deadline (504)."""

    status = 504
    title = "Model provider timed out"


class ProviderRateLimited(ProviderError):
    """The provider asks us to slow down (503, with Retry-After when it said how long)."""

    status = 503
    title = "Model provider is rate limiting"


class ModelMissing(ProviderError):
    """The built-in embedder's weights are not installed (503 until they are)."""

    status = 503
    title = "Embedding model not installed"
