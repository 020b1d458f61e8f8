"""Turning a source into indexed chunks, off the request thread.

One worker thread per process takes sources in turn (the embedder already uses both
cores). A source is `processing` until its chunks are in place, then `ready` or
`failed`. Whatever a crash interrupts is still `processing` at the next start and is
simply run again: indexing replaces a source's chunks wholesale, so a half-done run
leaves nothing behind once it is redone.
"""

from __future__ import annotations

import logging
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..db import db, write_transaction
from ..enums import FINISHED_STATUSES
from ..knowledge import parsers
from ..knowledge.chunking import chunk_document
from ..knowledge.crawler import crawl
from ..knowledge.documents import DocumentError
from ..knowledge.fetcher import FetchedPage, FetchError, content_hash, fetch
from ..knowledge.index import IndexedChunk, KnowledgeIndex
from ..llm.errors import ProviderError
from ..models import KnowledgeChunk, KnowledgeSource, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestionSettings:
    uploads_path: str
    parse_timeout_s: float
    parse_memory_bytes: int
    max_pages: int
    max_chars: int
    fetch_timeout_s: float
    fetch_max_bytes: int
    allow_private_urls: bool


class Ingestion:
    """Runs ingestion jobs for one app; `submit` returns at once."""

    def __init__(self, index: KnowledgeIndex, settings: IngestionSettings) -> None:
        self.index = index
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    # --- the queue --------------------------------------------------------------------

    def submit(self, source_id: uuid.UUID, full: bool = False) -> Future:
        """Queue a source. `full`: index everything again, trusting nothing already indexed."""
        return self._executor.submit(self._run_in_thread, source_id, full)

    def warm_up(self) -> Future:
        """Load the embedder on the worker now, so that neither the first search nor the
        first source waits for it. A failure is left to the first real use to report."""
        return self._executor.submit(self.index.warm_up)

    def recover(self) -> int:
        """Run again every source a previous process left `processing`."""
        with db.connection_context():
            stuck = [
                s.id for s in KnowledgeSource.select().where(KnowledgeSource.status == "processing")
            ]
        for source_id in stuck:
            self.submit(source_id, full=True)
        return len(stuck)

    def _run_in_thread(self, source_id: uuid.UUID, full: bool) -> None:
        with db.connection_context():
            try:
                self.run(source_id, full)
            except ProviderError as error:  # recorded on the source by run()
                log.warning("ingestion of %s failed: %s", source_id, error)
            except Exception as error:  # noqa: BLE001 - a job must never kill the worker
                log.error("ingestion of %s failed: %s", source_id, type(error).__name__)
                _finish(source_id, status="failed", error="Internal error while processing")

    # --- one job ----------------------------------------------------------------------

    def run(self, source_id: uuid.UUID, full: bool = False) -> None:
        """Index one source now, in this thread.

        A ProviderError (the embedder failed) is recorded on the source, then raised.
        """
        source = KnowledgeSource.get_or_none(KnowledgeSource.id == source_id)
        if source is None:  # deleted while queued
            return
        try:
            if source.type == "url":
                self._run_url(source, full)
                return
            chunks = self._file_chunks(source) if source.type == "file" else qa_chunks(source)
            self._index(source, chunks)
        except (DocumentError, FetchError) as error:
            self._fail(source, str(error))
        except ProviderError as error:
            if source.type == "url" and source.fetched_at is not None:
                # A refresh: what was indexed before is still there and still searchable.
                _finish(source.id, status="ready", error=f"Refresh failed: {error}")
            else:
                self._fail(source, str(error))
            raise

    def index_qa(self, source: KnowledgeSource) -> None:
        """Index a Q&A pair now. On a ProviderError nothing has changed: the vectors are
        computed before any chunk is replaced."""
        self._index(source, qa_chunks(source))

    def _index(
        self,
        source: KnowledgeSource,
        chunks: list[IndexedChunk],
        keep_pages: frozenset[str] = frozenset(),
        **fields,
    ) -> None:
        count = self.index.replace(
            source, chunks, progress=lambda done: _progress(source, done), keep_pages=keep_pages
        )
        fields.setdefault("error", None)
        _finish(
            source.id, status="ready", chunk_count=count, embedding_model=self.index.model, **fields
        )

    def _fail(self, source: KnowledgeSource, message: str) -> None:
        self.index.remove(source)
        _finish(source.id, status="failed", error=message, chunk_count=0)

    def _file_chunks(self, source: KnowledgeSource) -> list[IndexedChunk]:
        path = upload_path(self.settings.uploads_path, source.id)
        if not os.path.exists(path):
            raise DocumentError("The uploaded file is missing; upload it again")
        with open(path, "rb") as handle:
            data = handle.read()
        return self._document_chunks(data, source.file_type, source.filename)

    def _document_chunks(
        self, data: bytes, file_type: str | None, filename: str | None, **place
    ) -> list[IndexedChunk]:
        detected = parsers.detect_type(data, file_type, filename)
        document = parsers.parse_isolated(
            data,
            detected,
            timeout_s=self.settings.parse_timeout_s,
            memory_limit_bytes=self.settings.parse_memory_bytes,
            max_pages=self.settings.max_pages,
            max_chars=self.settings.max_chars,
        )
        return [
            IndexedChunk(text=c.text, title=c.heading or document.title, page=c.page, **place)
            for c in chunk_document(document)
        ]

    # --- web pages --------------------------------------------------------------------

    def _fetch(self, url: str) -> FetchedPage:
        return fetch(
            url,
            allow_private=self.settings.allow_private_urls,
            max_bytes=self.settings.fetch_max_bytes,
            timeout_s=self.settings.fetch_timeout_s,
        )

    def _run_url(self, source: KnowledgeSource, full: bool) -> None:
        """Fetch the page (and its crawl); on a refresh, embed only the pages that changed."""
        crawl_options = source.crawl or {}
        refreshing = source.fetched_at is not None
        skipped: list[str] = []
        try:
            pages = list(
                crawl(
                    source.url,
                    max_pages=int(crawl_options.get("max_pages", 1)),
                    same_domain=bool(crawl_options.get("same_domain", True)),
                    fetch=self._fetch,
                    on_error=lambda url, error: skipped.append(f"{url} ({error})"),
                )
            )
        except (FetchError, DocumentError) as error:
            if refreshing:  # keep what was indexed; say the refresh failed
                _finish(source.id, status="ready", error=f"Refresh failed: {error}")
            else:
                self._fail(source, str(error))
            return
        hashes = {page.url: content_hash(page.body) for page in pages}
        overall = content_hash("\n".join(f"{u} {h}" for u, h in sorted(hashes.items())).encode())
        if refreshing and not full and overall == source.content_hash:
            _finish(source.id, status="ready", error=None, fetched_at=utcnow())
            return
        # A page whose content hash we indexed before keeps its chunks and vectors. After an
        # interrupted run (`full`), nothing is trusted and everything is indexed again.
        known = set() if full else _indexed_page_hashes(source)
        chunks, kept = [], set()
        for page in pages:
            if hashes[page.url] in known:
                kept.add(hashes[page.url])
                continue
            try:
                chunks += self._document_chunks(
                    page.body, None, None, url=page.url, page_hash=hashes[page.url]
                )
            except DocumentError as error:
                log.info("skipping %s: %s", page.url, error)
        if not chunks and not kept:
            self._fail(source, "No readable text on the page(s)")
            return
        self._index(
            source,
            chunks,
            keep_pages=frozenset(kept),
            content_hash=overall,
            fetched_at=utcnow(),
            page_count=len(pages),
            error=_skipped_note(skipped),
        )

    # --- a new embedding model ---------------------------------------------------------

    def reindex(self, on_source=None) -> int:
        """Embed every indexed source again with the configured model, from its stored chunks,
        then drop the vectors of the models it replaces. Returns how many sources."""
        model = self.index.model
        done, replaced = 0, set()
        sources = KnowledgeSource.select().where(KnowledgeSource.status == "ready")
        for source in sources:
            if source.embedding_model and source.embedding_model != model:
                replaced.add((source.organization_id, source.embedding_model))
            chunks = qa_chunks(source) if source.type == "qa" else stored_chunks(source)
            self._index(source, chunks)
            done += 1
            if on_source:
                on_source(source)
        for org_id, old_model in replaced:
            self.index.drop_model(org_id, old_model)
        return done


def _skipped_note(skipped: list[str]) -> str | None:
    """What a ready crawl could not read, for the source's `error`."""
    if not skipped:
        return None
    shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return f"{len(skipped)} page(s) skipped: {shown}"


def _indexed_page_hashes(source: KnowledgeSource) -> set[str]:
    query = KnowledgeChunk.select(KnowledgeChunk.page_hash).where(KnowledgeChunk.source == source)
    return {row.page_hash for row in query.distinct() if row.page_hash}


def stored_chunks(source: KnowledgeSource) -> list[IndexedChunk]:
    """The source's chunks as indexed, to embed again without fetching or parsing."""
    rows = (
        KnowledgeChunk.select()
        .where(KnowledgeChunk.source == source)
        .order_by(KnowledgeChunk.ordinal)
    )
    return [
        IndexedChunk(text=r.text, title=r.title, page=r.page, url=r.url, page_hash=r.page_hash)
        for r in rows
    ]


def qa_chunks(source: KnowledgeSource) -> list[IndexedChunk]:
    """A Q&A pair is one chunk, found by its question's vector as well as its own."""
    text = f"{source.question}\n{source.answer}"
    return [IndexedChunk(text=text, title=source.question, probes=[source.question])]


def upload_path(uploads_path: str, source_id: uuid.UUID) -> str:
    return os.path.join(uploads_path, source_id.hex)


def _progress(source: KnowledgeSource, done: float) -> None:
    with write_transaction():
        KnowledgeSource.update(progress=round(done, 3)).where(
            KnowledgeSource.id == source.id
        ).execute()


def _finish(source_id: uuid.UUID, **fields) -> None:
    if fields.get("status") in FINISHED_STATUSES:
        fields.setdefault("progress", 1.0)
    with write_transaction():
        KnowledgeSource.update(updated_at=utcnow(), **fields).where(
            KnowledgeSource.id == source_id
        ).execute()
