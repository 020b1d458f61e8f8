"""Turning a source into indexed chunks, off the request thread.

Sources wait in the database's job queue (services/jobs.py), which every process shares.
Each process has one worker thread that claims jobs in turn (the embedder already uses
both cores): at once when this process queued one, and every `INGEST_POLL_S` for those
another process queued. A source is `processing` until its chunks are in place, then
`ready` or `failed`. Whatever a crash interrupts is claimed again, by this process when it
starts again or by another one, and run again in full: indexing replaces a source's chunks
wholesale, so a half-done run leaves nothing behind once it is redone.
"""

from __future__ import annotations

import logging
import threading
import uuid
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
from ..models import KnowledgeChunk, KnowledgeSource, KnowledgeUpload, utcnow
from . import jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestionSettings:
    parse_timeout_s: float
    parse_memory_bytes: int
    max_pages: int
    max_chars: int
    fetch_timeout_s: float
    fetch_max_bytes: int
    allow_private_urls: bool
    lease_s: float
    poll_s: float


class Ingestion:
    """Runs ingestion jobs for one app: the services queue them, `wake` sets them going."""

    def __init__(self, index: KnowledgeIndex, settings: IngestionSettings) -> None:
        self.index = index
        self.settings = settings
        self.owner = jobs.process_name()
        self._polling = False
        self._warm_up_first = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # --- the queue --------------------------------------------------------------------

    def queue(self, source_id: uuid.UUID, full: bool = False) -> None:
        """Queue a source, in the caller's transaction; `wake` once it is committed.
        `full`: index everything again, trusting nothing already indexed."""
        jobs.enqueue(source_id, full=full)

    def hold(self, source_id: uuid.UUID) -> None:
        """Queue a source as this process's job already, in the caller's transaction: the
        caller indexes it now (`run`), and if this process dies first another takes it up."""
        jobs.enqueue(source_id, owner=self.owner, lease_s=self.settings.lease_s)

    def wake(self) -> None:
        """Have this process's worker look for jobs now (starting it if it is not running)."""
        with self._lock:
            self._wake.set()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, args=(db.obj,), name="ingest", daemon=True
                )
                self._worker.start()

    def start(self, warm_up: bool = False) -> int:
        """Work for the whole life of the process (`companin serve`): also on the jobs other
        processes queue, and on those of a process that died. `warm_up`: load the embedder
        first, so that neither the first search nor the first source waits for it.
        Returns how many jobs of a stopped process of this machine are taken up again."""
        with db.connection_context():
            freed = jobs.free_jobs_of_dead_processes(self.owner)
        self._polling, self._warm_up_first = True, warm_up
        self.wake()
        return freed

    def _work(self, database) -> None:
        """The worker: claim and run jobs until none is left (or, when polling, forever).
        It serves the database it was started on; an app made later in the same process
        (tests) has a worker of its own."""
        if self._warm_up_first:
            self._warm_up()
        while db.obj is database:
            job = self._next_job()
            if job is not None:
                self._run_job(job)
                continue
            with self._lock:
                woken = self._wake.is_set()  # a job queued since we looked: look again now
                self._wake.clear()
                if not woken and not self._polling:
                    self._worker = None
                    return
            if not woken:
                self._wake.wait(self.settings.poll_s)

    def _warm_up(self) -> None:
        """The embedder loaded, and the vector store opened (chromadb imported)."""
        try:
            self.index.warm_up()
            self.index.vectors_available()
        except Exception:  # noqa: BLE001 - the first real use reports it, with its cause
            log.debug("warm-up failed", exc_info=True)

    def _next_job(self) -> jobs.Job | None:
        try:
            with db.connection_context():
                jobs.free_jobs_of_dead_processes(self.owner)
                if not jobs.any_waiting():
                    return None
                return jobs.claim(self.owner, self.settings.lease_s)
        except Exception as error:  # noqa: BLE001 - a lost database: try again on the next poll
            log.warning("cannot reach the ingestion queue: %s", type(error).__name__)
            return None

    def _run_job(self, job: jobs.Job) -> None:
        """Run a claimed job, renewing its lease beside it until it is done."""
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(job.source_id, done), name="ingest-lease", daemon=True
        )
        keeper.start()
        try:
            with db.connection_context():
                if job.attempts > jobs.MAX_ATTEMPTS:
                    self._finish(
                        job.source_id,
                        status="failed",
                        error=f"Processing stopped {job.attempts - 1} times; upload it again "
                        "or check the server's log",
                    )
                else:
                    self._run_logged(job.source_id, job.full)
        except Exception as error:  # noqa: BLE001 - the job stays queued; its lease runs out
            log.error("ingestion of %s stopped: %s", job.source_id, type(error).__name__)
        finally:
            done.set()
            keeper.join()

    def _keep_lease(self, source_id: uuid.UUID, done: threading.Event) -> None:
        while not done.wait(self.settings.lease_s / 4):
            try:
                with db.connection_context():
                    if not jobs.renew(source_id, self.owner, self.settings.lease_s):
                        return  # deleted, or another process's now: nothing left to keep
            except Exception as error:  # noqa: BLE001 - try again; the lease has time left
                log.warning("cannot renew the lease of %s: %s", source_id, type(error).__name__)

    def _run_logged(self, source_id: uuid.UUID, full: bool) -> None:
        try:
            self.run(source_id, full)
        except ProviderError as error:  # recorded on the source by run()
            log.warning("ingestion of %s failed: %s", source_id, error)
        except Exception as error:  # noqa: BLE001 - a job must never kill the worker
            log.error("ingestion of %s failed: %s", source_id, type(error).__name__)
            self._finish(source_id, status="failed", error="Internal error while processing")

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
                self._finish(source.id, status="ready", error=f"Refresh failed: {error}")
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
        self._finish(
            source.id, status="ready", chunk_count=count, embedding_model=self.index.model, **fields
        )

    def _fail(self, source: KnowledgeSource, message: str) -> None:
        self.index.remove(source)
        self._finish(source.id, status="failed", error=message, chunk_count=0)

    def _file_chunks(self, source: KnowledgeSource) -> list[IndexedChunk]:
        upload = KnowledgeUpload.get_or_none(KnowledgeUpload.source == source.id)
        if upload is None:
            raise DocumentError("The uploaded file is missing; upload it again")
        return self._document_chunks(bytes(upload.data), source.file_type, source.filename)

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
                self._finish(source.id, status="ready", error=f"Refresh failed: {error}")
            else:
                self._fail(source, str(error))
            return
        hashes = {page.url: content_hash(page.body) for page in pages}
        overall = content_hash("\n".join(f"{u} {h}" for u, h in sorted(hashes.items())).encode())
        if refreshing and not full and overall == source.content_hash:
            self._finish(source.id, status="ready", error=None, fetched_at=utcnow())
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

    def _finish(self, source_id: uuid.UUID, **fields) -> None:
        """Record a run's result and end its job, in one transaction. Nothing is recorded
        if another process holds the job now (this one's lease ran out): it runs the source
        again and records its own result."""
        if fields.get("status") in FINISHED_STATUSES:
            fields.setdefault("progress", 1.0)
        with write_transaction():
            if not jobs.release(source_id, self.owner):
                log.warning("ingestion of %s was taken up by another process", source_id)
                return
            KnowledgeSource.update(updated_at=utcnow(), **fields).where(
                KnowledgeSource.id == source_id
            ).execute()

    # --- a new embedding model ---------------------------------------------------------

    def reembed(self, source: KnowledgeSource) -> None:
        """Embed the source again from its stored chunks, with the configured model: nothing
        is fetched or parsed. (A new model, or vectors lost from a restored backup.)"""
        self._index(source, qa_chunks(source) if source.type == "qa" else stored_chunks(source))

    def reindex(self, on_source=None) -> int:
        """Embed every indexed source again with the configured model, from its stored chunks,
        then drop the vectors of the models it replaces. Returns how many sources."""
        model = self.index.model
        done, replaced = 0, set()
        sources = KnowledgeSource.select().where(KnowledgeSource.status == "ready")
        for source in sources:
            if source.embedding_model and source.embedding_model != model:
                replaced.add((source.organization_id, source.embedding_model))
            self.reembed(source)
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


def _progress(source: KnowledgeSource, done: float) -> None:
    with write_transaction():
        KnowledgeSource.update(progress=round(done, 3)).where(
            KnowledgeSource.id == source.id
        ).execute()
