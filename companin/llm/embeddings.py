"""Embeddings from any provider litellm speaks to (OpenAI, Azure, Cohere, Ollama, ...).

Used instead of the built-in offline model when `COMPANIN_EMBEDDING_MODEL` names one, such
as `openai/text-embedding-3-small`. The API key comes from the argument or, as litellm does
it, from the provider's usual environment variable (OPENAI_API_KEY, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ProviderMalformed
from .provider import litellm, provider_error


class LiteLLMEmbedder:
    """Unit-length float32 vectors from a litellm embedding model, in batches."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        *,
        batch_size: int = 64,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.name = model
        self._api_base = api_base or None
        self._api_key = api_key or None
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        """The model's vector size; only the provider knows it, so the first use asks."""
        if self._dimension is None:
            self.embed(["dimension"])
        assert self._dimension is not None
        return self._dimension

    def check(self) -> None:
        """Nothing to check without calling the provider, which costs money."""

    def warm_up(self) -> None:
        """Import litellm now (seconds); the provider is not called: that costs money."""
        litellm()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text, in order. Raises a ProviderError."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        rows: list[Any] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._embed_batch(list(texts[start : start + self.batch_size])))
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except ValueError:  # ragged
            raise ProviderMalformed(f"{self.name} returned vectors of different sizes") from None
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.isfinite(vectors).all() or not (norms > 0).all():
            raise ProviderMalformed(f"{self.name} returned an empty or invalid vector")
        vectors /= norms
        self._dimension = vectors.shape[1]
        return vectors

    def _embed_batch(self, batch: list[str]) -> list[Any]:
        try:
            response = litellm().embedding(
                model=self.name,
                input=batch,
                api_base=self._api_base,
                api_key=self._api_key,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        except Exception as exc:  # litellm maps every provider's failure to its own types
            raise provider_error(exc, f"Embedding with {self.name}", self._api_key) from None
        items = sorted(response.data, key=lambda item: _field(item, "index"))
        if len(items) != len(batch):
            raise ProviderMalformed(
                f"{self.name} returned {len(items)} vectors for {len(batch)} texts"
            )
        return [_field(item, "embedding") for item in items]


def _field(item: Any, name: str) -> Any:
    """litellm gives plain dicts for some providers, objects for others."""
    return item[name] if isinstance(item, dict) else getattr(item, name)
