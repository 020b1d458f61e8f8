"""Vectors in Chroma: one collection per organization and embedding model.

A collection per organization means no query can reach another organization's
vectors, and is faster than a metadata filter (1.6 ms against 9-20 ms at 10,000
chunks here). The model is part of the name, so vectors of two models never mix.
This is the only module that imports chromadb, and only when a store is first used: the
import takes a second, which every `companin` command would otherwise pay.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    import chromadb
    from chromadb.config import Settings

UNREACHABLE = "The vector store (a Chroma server) cannot be reached - try again shortly"

_CLIENTS: dict[str, chromadb.ClientAPI] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(path: str | None, url: str | None, token: str | None = None) -> chromadb.ClientAPI:
    """One client per process and place: Chroma's embedded client must not be opened twice.
    A server's client is made when the server first answers (its constructor calls it)."""
    import chromadb
    from chromadb.config import Settings

    key = url or f"file:{path}"
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            settings = Settings(anonymized_telemetry=False)
            if url:
                _CLIENTS[key] = _http_client(url, token, settings)
            else:
                _CLIENTS[key] = chromadb.PersistentClient(path=path, settings=settings)
        return _CLIENTS[key]


def _http_client(url: str, token: str | None, settings: Settings) -> chromadb.ClientAPI:
    """A client of the Chroma server at `url` (http or https; Chroma's port 8000 unless the
    URL names one), sending `token` as a bearer token when there is one."""
    import chromadb

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a Chroma server URL (http:// or https://): {url!r}")
    secure = parts.scheme == "https"
    return chromadb.HttpClient(
        host=parts.hostname,
        port=parts.port or (443 if secure and not parts.port else 8000),
        ssl=secure,
        headers={"Authorization": f"Bearer {token}"} if token else None,
        settings=settings,
    )


def _reaching(method: Callable) -> Callable:
    """A call to Chroma whose server may be down: a clear 503, not a 500."""

    @functools.wraps(method)
    def reaching(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except httpx.TransportError as error:
            raise ServiceUnavailable(UNREACHABLE) from error

    return reaching


class VectorStore:
    """Add, query and delete an organization's vectors; ids are strings chosen by the caller."""

    def __init__(
        self, path: str | None = None, url: str | None = None, token: str | None = None
    ) -> None:
        self._place = (path, url, token)
        self._handles: dict[tuple[uuid.UUID, str], Any] = {}

    @property
    def _client(self) -> chromadb.ClientAPI:
        """Made on first use, so that the app starts while a Chroma server is down (and
        /healthz says so), and reaches it once it is back, without a restart."""
        try:
            return _client(*self._place)
        except ValueError as error:  # chromadb: "Could not connect to a Chroma server"
            raise ServiceUnavailable(UNREACHABLE) from error

    def _cached_collection(self, org_id: uuid.UUID, model: str, fresh: bool = False):
        """The collection handle for reads, kept between searches (looking it up costs more
        than the search itself); `fresh` looks it up again, as after another process
        dropped and re-created it."""
        key = (org_id, model)
        if fresh or key not in self._handles:
            self._handles[key] = self._collection(org_id, model)
        return self._handles[key]

    def _collection(self, org_id: uuid.UUID, model: str):
        digest = hashlib.sha256(model.encode()).hexdigest()[:12]
        return self._client.get_or_create_collection(
            f"org-{org_id.hex}-{digest}",
            # Never Chroma's default embedder: it would download a model. We pass vectors.
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": model},
        )

    @_reaching
    def add(
        self,
        org_id: uuid.UUID,
        model: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        source_ids: Sequence[str],
    ) -> None:
        if not ids:
            return
        collection = self._collection(org_id, model)
        batch = 1000  # Chroma caps one call's size
        for start in range(0, len(ids), batch):
            end = start + batch
            collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=[{"source_id": s} for s in source_ids[start:end]],
            )

    def _read(self, org_id: uuid.UUID, model: str, read: Callable[[Any], Any]) -> Any:
        """`read(collection)` with the kept handle, looked up again if it went stale."""
        from chromadb.errors import NotFoundError

        try:
            return read(self._cached_collection(org_id, model))
        except NotFoundError:
            return read(self._cached_collection(org_id, model, fresh=True))

    @_reaching
    def query(
        self, org_id: uuid.UUID, model: str, vector: np.ndarray, limit: int
    ) -> list[tuple[str, float]]:
        """The `limit` nearest ids with their cosine similarity, best first."""
        result = self._read(
            org_id,
            model,
            lambda collection: collection.query(
                query_embeddings=[vector], n_results=limit, include=["distances"]
            ),
        )
        return [
            (vector_id, 1.0 - float(distance))
            for vector_id, distance in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    @_reaching
    def get(self, org_id: uuid.UUID, model: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those `ids` that exist."""
        result = self._read(
            org_id,
            model,
            lambda collection: collection.get(ids=list(ids), include=["embeddings"]),
        )
        return dict(zip(result["ids"], np.asarray(result["embeddings"]), strict=True))

    @_reaching
    def delete_ids(self, org_id: uuid.UUID, model: str, ids: Sequence[str]) -> None:
        if ids:
            self._collection(org_id, model).delete(ids=list(ids))

    @_reaching
    def delete_source(self, org_id: uuid.UUID, model: str, source_id: str) -> None:
        self._collection(org_id, model).delete(where={"source_id": source_id})

    @_reaching
    def count(self, org_id: uuid.UUID, model: str) -> int:
        return self._collection(org_id, model).count()

    @_reaching
    def drop(self, org_id: uuid.UUID, model: str) -> None:
        """Forget every vector of the organization for `model` (after a re-index)."""
        from chromadb.errors import NotFoundError

        digest = hashlib.sha256(model.encode()).hexdigest()[:12]
        self._handles.pop((org_id, model), None)
        try:
            self._client.delete_collection(f"org-{org_id.hex}-{digest}")
        except (ValueError, NotFoundError):
            pass

    def heartbeat(self) -> bool:
        try:
            self._client.heartbeat()
            return True
        except Exception:  # noqa: BLE001 - any failure means unavailable
            return False
