"""Knowledge sources as the API sees them: create, read, change, delete, search."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from peewee import ModelSelect

from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity import Principal
from ..knowledge import parsers
from ..knowledge.documents import DocumentError
from ..knowledge.fetcher import FetchError, check_url
from ..knowledge.index import Passage
from ..llm.errors import ProviderError
from ..models import Assistant, KnowledgeSource, KnowledgeUpload, fit
from .ingestion import Ingestion
from .records import delete_row, get_owned, label, owned, update_row


def list_sources(principal: Principal, filters: dict[str, Any]) -> ModelSelect:
    return owned(KnowledgeSource, principal.org_id, filters)


def get_source(
    principal: Principal, source_id: uuid.UUID, type: str | None = None
) -> KnowledgeSource:
    """One of the organization's sources; of another type it is as absent as a missing one."""
    source = get_owned(KnowledgeSource, principal.org_id, source_id)
    if type and source.type != type:
        raise NotFound(f"{label(KnowledgeSource)} not found")
    return source


def _title_from(text: str) -> str:
    """A default title from a question, a file name or a URL, within the title's length."""
    return fit(KnowledgeSource.title, text)


def _check_assistants(org_id: uuid.UUID, assistant_ids: list[uuid.UUID]) -> list[str]:
    """The ids as stored, after checking each names one of the organization's assistants."""
    wanted = set(assistant_ids)
    found = {a.id for a in owned(Assistant, org_id).where(Assistant.id.in_(list(wanted)))}
    if wanted - found:
        raise ValidationFailed("assistant_ids", "Assistant not found.")
    return sorted(str(a) for a in wanted)


def _create(
    principal: Principal, job: Callable[[uuid.UUID], None], data: bytes | None = None, **fields: Any
) -> KnowledgeSource:
    """A new `processing` source, with its indexing job (`Ingestion.queue` or `.hold`) and
    the file's bytes if it is one, all in one transaction: never one without the others."""
    fields["assistant_ids"] = _check_assistants(principal.org_id, fields.get("assistant_ids", []))
    with write_transaction():
        source = KnowledgeSource.create(organization=principal.org_id, **fields)
        if data is not None:
            KnowledgeUpload.create(source=source.id, data=data)
        job(source.id)
    return source


def create_qa(
    principal: Principal, fields: dict[str, Any], ingestion: Ingestion
) -> KnowledgeSource:
    """Store and index a Q&A pair at once: it is small, and a customer may ask it next."""
    source = _create(
        principal,
        ingestion.hold,
        type="qa",
        title=fields.get("title") or _title_from(fields["question"]),
        question=fields["question"],
        answer=fields["answer"],
        tags=fields.get("tags", []),
        origin=fields.get("source"),
        assistant_ids=fields.get("assistant_ids", []),
    )
    try:
        ingestion.index_qa(source)
    except ProviderError:
        delete_row(source)  # the client is told it failed: nothing of it stays
        raise
    return KnowledgeSource.get_by_id(source.id)


def update_qa(
    principal: Principal, source_id: uuid.UUID, fields: dict[str, Any], ingestion: Ingestion
) -> KnowledgeSource:
    source = get_source(principal, source_id, type="qa")
    if (
        "question" in fields
        and "title" not in fields
        and source.title == _title_from(source.question)
    ):
        fields["title"] = _title_from(fields["question"])  # a title taken from the question
    if "source" in fields:
        fields["origin"] = fields.pop("source")
    before = {name: getattr(source, name) for name in fields}
    source = _change(principal, source, fields)
    if {"question", "answer"} & set(fields):
        try:
            ingestion.index_qa(source)
        except ProviderError:
            update_row(source, before)  # the client is told it failed: the pair is as it was
            raise
        return KnowledgeSource.get_by_id(source.id)
    return source


def create_file(
    principal: Principal,
    fields: dict[str, Any],
    filename: str,
    data: bytes,
    ingestion: Ingestion,
) -> KnowledgeSource:
    """Keep the upload in the database and index it in the background."""
    source = store_file(principal, fields, filename, data, ingestion.queue)
    ingestion.wake()
    return source


def store_file(
    principal: Principal,
    fields: dict[str, Any],
    filename: str,
    data: bytes,
    job: Callable[[uuid.UUID], None],
) -> KnowledgeSource:
    """A new `processing` file source with its bytes kept for (re-)processing, and its
    job (`Ingestion.queue` or `.hold`).

    The type is read from the content: a wrong or unknown one is a 422 at once.
    """
    try:
        file_type = parsers.detect_type(data, fields.get("file_type"), filename)
    except DocumentError as error:
        raise ValidationFailed("file", str(error)) from None
    return _create(
        principal,
        job,
        data,
        type="file",
        title=fields.get("title") or _title_from(filename),
        file_type=file_type,
        filename=fit(KnowledgeSource.filename, filename),
        size_bytes=len(data),
        assistant_ids=fields.get("assistant_ids", []),
    )


def create_url(
    principal: Principal, fields: dict[str, Any], ingestion: Ingestion
) -> KnowledgeSource:
    """Check the address now (a clear 422), fetch and index it in the background."""
    try:
        check_url(fields["url"], allow_private=ingestion.settings.allow_private_urls)
    except FetchError as error:  # unsafe, or a host that does not resolve (a typo)
        raise ValidationFailed("url", str(error)) from None
    source = _create(
        principal,
        ingestion.queue,
        type="url",
        title=fields.get("title") or _title_from(fields["url"]),
        url=fields["url"],
        crawl=fields.get("crawl") or {"max_pages": 1, "same_domain": True},
        assistant_ids=fields.get("assistant_ids", []),
    )
    ingestion.wake()
    return source


def refresh_url(
    principal: Principal, source_id: uuid.UUID, ingestion: Ingestion
) -> KnowledgeSource:
    source = get_source(principal, source_id, type="url")
    with write_transaction():
        # One UPDATE that checks and claims, so two refreshes at once cannot both start.
        claimed = (
            KnowledgeSource.update(status="processing", progress=0.0)
            .where(KnowledgeSource.id == source.id, KnowledgeSource.status != "processing")
            .execute()
        )
        if claimed:
            ingestion.queue(source.id)
    if not claimed:
        raise Conflict("This source is being processed already")
    ingestion.wake()
    return KnowledgeSource.get_by_id(source.id)


def update_source(
    principal: Principal, source_id: uuid.UUID, fields: dict[str, Any]
) -> KnowledgeSource:
    """Rename a source or change which assistants may use it."""
    return _change(principal, get_source(principal, source_id), fields)


def _change(
    principal: Principal, source: KnowledgeSource, fields: dict[str, Any]
) -> KnowledgeSource:
    """Save changed fields, after checking the assistants they name."""
    if "assistant_ids" in fields:
        fields["assistant_ids"] = _check_assistants(principal.org_id, fields["assistant_ids"])
    return update_row(source, fields)


def delete_source(
    principal: Principal, source_id: uuid.UUID, ingestion: Ingestion, type: str | None = None
) -> None:
    """Remove the source, its upload, its job and every chunk of it, from every index."""
    source = get_source(principal, source_id, type=type)
    with write_transaction():
        ingestion.index.drop_rows(source)
        source.delete_instance()  # its upload and job go with it (ON DELETE CASCADE)
    ingestion.index.drop_vectors(source)


def search(principal: Principal, fields: dict[str, Any], ingestion: Ingestion) -> list[Passage]:
    """The passages an assistant (or, without one, the organization) would see."""
    assistant_id = fields.get("assistant_id")
    allowed = None
    if assistant_id is not None:
        if not owned(Assistant, principal.org_id).where(Assistant.id == assistant_id).exists():
            raise ValidationFailed("assistant_id", "Assistant not found.")
        allowed = usable_by(str(assistant_id))
    return ingestion.index.search(
        principal.org_id,
        fields["query"],
        top_k=fields.get("top_k", 5),
        mode=fields.get("mode", "hybrid"),
        allowed=allowed,
    )


def usable_by(assistant_id: str):
    """Whether a source may be used by the assistant (a source for none in particular may)."""

    def allowed(source: KnowledgeSource) -> bool:
        return not source.assistant_ids or assistant_id in source.assistant_ids

    return allowed


def newest_sources(principal: Principal, filters: dict[str, Any]) -> ModelSelect:
    """The organization's sources matching `filters`, the newest first (the console's list,
    where what was just added is what a person looks for)."""
    return list_sources(principal, filters).order_by(
        KnowledgeSource.created_at.desc(), KnowledgeSource.id.desc()
    )


def sources_by_id(principal: Principal, source_ids: list[uuid.UUID]) -> ModelSelect:
    """Those of `source_ids` that are the organization's; any other id is left out, as a
    missing one would be."""
    return list_sources(principal, {}).where(KnowledgeSource.id.in_(source_ids))
