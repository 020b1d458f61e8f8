"""The embedder the knowledge base uses: all-MiniLM-L6-v2 offline, or any litellm model."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

from .minilm import MiniLMEmbedder


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors: one row per text, in order."""

    @property
    def name(self) -> str:
        """The model's name, stored with the index: vectors of two models never mix."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def check(self) -> None:
        """Raise a ProviderError if the model cannot work at all (its weights are missing);
        cheap, and never calls a paid provider."""
        ...

    def warm_up(self) -> None:
        """Load now what the first embed() would load; never calls a paid provider."""
        ...


def get_embedder(
    model: str = "", api_base: str | None = None, api_key: str | None = None
) -> Embedder:
    """The embedder for the `EMBEDDING_MODEL` setting, one per process and setting.

    "" is the built-in offline model; anything else is a litellm model name such as
    `openai/text-embedding-3-small`, reached at `api_base` if given.
    """
    return _embedder(model.strip(), api_base or None, api_key or None)


@lru_cache(maxsize=16)
def _embedder(model: str, api_base: str | None, api_key: str | None) -> Embedder:
    if not model:
        return MiniLMEmbedder()
    from ..llm.embeddings import LiteLLMEmbedder

    return LiteLLMEmbedder(model, api_base=api_base, api_key=api_key)
