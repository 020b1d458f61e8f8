"""The knowledge index of one app: chunks in SQLite (and FTS5), their vectors in Chroma.

SQLite is the record. A source's chunks are replaced in one SQL transaction; the
vector store follows. A reader may see a chunk id in Chroma whose row is gone: rows
are looked up after every query, so such ids simply drop out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..db import write_transaction
from ..enums import SEARCH_MODES
from ..llm.errors import ProviderError
from ..models import KnowledgeChunk, KnowledgeSource, fit
from . import fulltext
from .embedder import Embedder
from .retrieval import best_per_item, combine, keyword_depth
from .vectorstore import VectorStore

EMBED_BATCH = 32
_QUERY_EMBEDDER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-embed")


@dataclass
class IndexedChunk:
    """A chunk to store. `probes` are extra texts whose vectors also lead to this chunk
    (a Q&A pair's question alone, which a customer's paraphrase matches best)."""

    text: str
    title: str | None = None
    page: int | None = None
    url: str | None = None
    page_hash: str | None = None
    probes: list[str] = field(default_factory=list)


@dataclass
class Passage:
    """A search result: what the assistant would read, and where it comes from."""

    chunk_id: int
    source_id: uuid.UUID
    type: str
    title: str | None
    url: str | None
    page: int | None
    text: str
    score: float
    similarity: float | None


class KnowledgeIndex:
    def __init__(self, vectors: VectorStore, embedder: Callable[[], Embedder]) -> None:
        self._vectors = vectors
        self._embedder = embedder  # a factory: the model loads on first use, not at start-up

    @property
    def model(self) -> str:
        return self._embedder().name

    def warm_up(self) -> None:
        self._embedder().warm_up()

    def embedder_problem(self) -> str | None:
        """Why the embedder cannot work (its weights are not installed), or None."""
        try:
            self._embedder().check()
        except ProviderError as error:
            return str(error)
        return None

    def vectors_available(self) -> bool:
        return self._vectors.heartbeat()

    def embed(
        self, texts: Sequence[str], progress: Callable[[float], None] | None = None
    ) -> np.ndarray:
        """Vectors of `texts`, in batches, reporting the fraction done."""
        embedder = self._embedder()
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(embedder.embed(texts[start : start + EMBED_BATCH]))
            if progress:
                progress(min(1.0, (start + EMBED_BATCH) / len(texts)))
        return np.vstack(parts) if parts else np.zeros((0, 1), dtype=np.float32)

    def replace(
        self,
        source: KnowledgeSource,
        chunks: Sequence[IndexedChunk],
        progress: Callable[[float], None] | None = None,
        keep_pages: frozenset[str] = frozenset(),
    ) -> int:
        """Make the source's chunks `chunks`, everywhere, plus the chunks it already has of
        the web pages whose content hash is in `keep_pages` (those are not embedded again).
        Returns the source's chunk count."""
        texts, owners = [], []  # what to embed, and which chunk each vector leads to
        for position, chunk in enumerate(chunks):
            for text in (chunk.text, *chunk.probes):
                texts.append(text)
                owners.append(position)
        vectors = self.embed(texts, progress)
        with write_transaction():
            existing = KnowledgeChunk.select(KnowledgeChunk.id, KnowledgeChunk.page_hash).where(
                KnowledgeChunk.source == source
            )
            dropped = [row.id for row in existing if row.page_hash not in keep_pages]
            kept = len(existing) - len(dropped)
            self._drop_rows(dropped)
            rows = [
                KnowledgeChunk.create(
                    organization=source.organization_id,
                    source=source,
                    ordinal=kept + ordinal,
                    text=chunk.text,
                    title=fit(KnowledgeChunk.title, chunk.title),
                    page=chunk.page,
                    url=chunk.url,
                    page_hash=chunk.page_hash,
                )
                for ordinal, chunk in enumerate(chunks)
            ]
            fulltext.add(source.organization_id, ((r.id, r.text, r.title) for r in rows))
        model = self.model
        if keep_pages:
            # Chunks of pages without probes have one vector each, under their own id.
            self._vectors.delete_ids(source.organization_id, model, [str(i) for i in dropped])
        else:  # everything goes, including what an interrupted run may have left behind
            self._vectors.delete_source(source.organization_id, model, str(source.id))
        seen: dict[int, int] = {}
        ids = []
        for owner in owners:
            seen[owner] = seen.get(owner, -1) + 1
            ids.append(f"{rows[owner].id}" + (f":{seen[owner]}" if seen[owner] else ""))
        self._vectors.add(source.organization_id, model, ids, vectors, [str(source.id)] * len(ids))
        if not KnowledgeSource.select().where(KnowledgeSource.id == source.id).exists():
            # Deleted while we embedded: its rows went with it, the vectors must go too.
            self.drop_vectors(source)
        return kept + len(rows)

    def remove(self, source: KnowledgeSource) -> None:
        """Delete every chunk of the source, from SQLite, FTS5 and the vector store."""
        with write_transaction():
            self.drop_rows(source)
        self.drop_vectors(source)

    def drop_model(self, org_id: uuid.UUID, model: str) -> None:
        """Forget an organization's vectors of a model no longer in use."""
        self._vectors.drop(org_id, model)

    @classmethod
    def drop_rows(cls, source: KnowledgeSource) -> None:
        """Delete the source's chunk rows and their full-text entries (inside a transaction)."""
        query = KnowledgeChunk.select(KnowledgeChunk.id).where(KnowledgeChunk.source == source)
        cls._drop_rows([row.id for row in query])

    @staticmethod
    def _drop_rows(ids: Sequence[int]) -> None:
        fulltext.remove(ids)
        for start in range(0, len(ids), 500):
            KnowledgeChunk.delete().where(KnowledgeChunk.id.in_(ids[start : start + 500])).execute()

    def drop_vectors(self, source: KnowledgeSource) -> None:
        """Delete the source's vectors, of the current model and the one it was indexed with."""
        for model in {self.model, source.embedding_model} - {None}:
            self._vectors.delete_source(source.organization_id, model, str(source.id))

    def search(
        self,
        org_id: uuid.UUID,
        query: str,
        *,
        top_k: int = 5,
        mode: str = "hybrid",
        allowed: Callable[[KnowledgeSource], bool] | None = None,
    ) -> list[Passage]:
        """The organization's best passages for `query`, best first, ranked as `mode` says."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, not {mode!r}")
        depth = max(4 * top_k, 40)
        similarity: dict[int, float] = {}
        keyword: dict[int, float] = {}
        full_match = 0.0
        if mode != "keyword":
            # The query is embedded on another thread while the keyword search runs here:
            # both wait in C code (BLAS, SQLite) that lets the other go on.
            embedding = _QUERY_EMBEDDER.submit(self._embedder().embed, [query])
        if mode != "vector":
            keyword = dict(fulltext.search(org_id, query, keyword_depth(top_k)))
            full_match = fulltext.full_match_score(query) if keyword else 0.0
        if mode != "keyword":
            query_vector = embedding.result()[0]
            hits = self._vectors.query(org_id, self.model, query_vector, depth * 2)
            similarity = best_per_item([(_chunk_of(i), score) for i, score in hits])
        if mode == "hybrid":
            # A keyword hit beyond the nearest vectors is scored with its true similarity.
            missing = [chunk_id for chunk_id in keyword if chunk_id not in similarity]
            similarity.update(self._similarities(org_id, query_vector, missing))
            ordered = combine(similarity, keyword, full_match=full_match)
        else:
            weight = 1.0 if mode == "vector" else 0.0
            ordered = combine(similarity, keyword, vector_weight=weight, full_match=full_match)
        passages: list[Passage] = []
        # Rows are read a few at a time: most searches need only the first top_k candidates,
        # unless some belong to sources this assistant may not use (or were just deleted).
        step = 2 * top_k
        for start in range(0, len(ordered), step):
            batch = ordered[start : start + step]
            rows = _chunk_rows(org_id, [chunk_id for chunk_id, _ in batch])
            for chunk_id, score in batch:
                row = rows.get(chunk_id)
                if row is None or (allowed and not allowed(row.source)):
                    continue
                passages.append(_passage(row, score, similarity.get(chunk_id)))
                if len(passages) == top_k:
                    return passages
        return passages

    def _similarities(
        self, org_id: uuid.UUID, query_vector: np.ndarray, chunk_ids: Sequence[int]
    ) -> dict[int, float]:
        """Cosine similarity of the query to each chunk (its best vector)."""
        if not chunk_ids:
            return {}
        ids = [f"{c}{suffix}" for c in chunk_ids for suffix in ("", ":1")]
        vectors = self._vectors.get(org_id, self.model, ids)
        return best_per_item(
            [(_chunk_of(i), float(vector @ query_vector)) for i, vector in vectors.items()]
        )


def _chunk_of(vector_id: str) -> int:
    """The chunk a vector leads to: "123" and "123:1" both lead to chunk 123."""
    return int(vector_id.split(":")[0])


def _chunk_rows(org_id: uuid.UUID, chunk_ids: Sequence[int]) -> dict[int, KnowledgeChunk]:
    if not chunk_ids:
        return {}
    query = (
        KnowledgeChunk.select(KnowledgeChunk, KnowledgeSource)
        .join(KnowledgeSource)
        .where(KnowledgeChunk.id.in_(list(chunk_ids)), KnowledgeChunk.organization == org_id)
    )
    return {row.id: row for row in query}


def _passage(row: KnowledgeChunk, score: float, similarity: float | None) -> Passage:
    source = row.source
    return Passage(
        chunk_id=row.id,
        source_id=source.id,
        type=source.type,
        title=source.title or row.title,
        url=row.url or source.url,
        page=row.page,
        text=row.text,
        score=round(score, 6),
        similarity=None if similarity is None else round(similarity, 6),
    )
