"""The console's Knowledge section: the organization's sources (files, Q&A pairs, web
pages) with their status, the upload, the Q&A editor, web pages and their crawl, and a
search tester.

Everyone reads (and searches); admins and owners change. Forms are checked by the API's
schemas and acted on by services/knowledge.py, exactly as the API's routes do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ..config import upload_body_limit
from ..enums import FILE_EXTENSIONS, SEARCH_MODES, SOURCE_STATUSES
from ..errors import PayloadTooLarge, ValidationFailed
from ..extensions import limiter
from ..models import KnowledgeSource
from ..schemas.knowledge import (
    FileFormSchema,
    KnowledgeSourceQueryArgsSchema,
    QASchema,
    QAUpdateSchema,
    SearchSchema,
    UrlSchema,
)
from ..services import assistants
from ..services import knowledge as knowledge_service
from ..state import app_state
from . import layout
from .blueprint import blp
from .forms import REFUSALS, load_form, refusal, uuid_or_none
from .guard import console_principal, console_requires

PER_PAGE = 25
# Sources one status request may ask about: the processing rows of one page, and more.
STATUS_IDS = 100
TYPE_LABELS = {"file": "File", "qa": "Q&A", "url": "Web page"}
SEARCH_SIZES = (5, 10, 20)
TOO_LARGE = "The file is larger than {size}, the largest this server accepts."

layout.notices(
    file_uploaded="File received. It is being indexed: its row says when it is ready.",
    qa_created="Q&A pair added. Customers' questions find it from now on.",
    qa_saved="Q&A pair saved.",
    url_added="Web page added. It is being fetched and indexed: its row says when it is ready.",
    url_refreshing="Fetching the page again; only what changed is indexed again.",
    source_deleted="Source deleted, with everything indexed from it.",
)


# --- the list and the upload ----------------------------------------------------------


@blp.get("/knowledge")
@limiter.exempt
@console_requires("agent")
def knowledge() -> tuple[str, int]:
    """Every source, newest first, by type and status, a page at a time; the upload form."""
    return _knowledge_page()


def _upload_sized(view: Callable[..., Any]) -> Callable[..., Any]:
    """Let the upload's body be as large as a file may be (other routes keep the smaller
    request limit); set before the console's guard reads the form."""

    @wraps(view)
    def sized(*args: Any, **kwargs: Any) -> Any:
        limit = upload_body_limit(current_app.config)
        if (request.content_length or 0) > limit:  # said clearly, before reading it
            raise PayloadTooLarge(TOO_LARGE.format(size=_size(_max_upload())))
        request.max_content_length = limit
        return view(*args, **kwargs)

    return sized


@blp.post("/knowledge/files")
@limiter.exempt
@_upload_sized
@console_requires("admin")
def knowledge_upload() -> Response | tuple[Any, int]:
    """Keep the file and index it in the background. The page's script asks for JSON (it
    shows the upload's progress, then reloads the list); a plain form gets the list."""
    try:
        filename, data = _received_file()
        fields = load_form(FileFormSchema(), _given(request.form, "title"))
        knowledge_service.create_file(
            console_principal(), fields, filename, data, app_state().ingestion
        )
    except REFUSALS as error:
        message, status = refusal(error)
        if _wants_json():
            return jsonify(error=message), status
        return _knowledge_page(upload_error=message, status=status)
    if _wants_json():
        return jsonify(location=url_for(".knowledge", notice="file_uploaded")), 201
    return layout.done("console.knowledge", "file_uploaded")


@blp.get("/knowledge/status")
@limiter.exempt
@console_requires("agent")
def knowledge_status() -> Response:
    """The rows of the sources `?id=...` (those of the organization), for the list's script
    to follow the ones still processing."""
    wanted = [uuid_or_none(value) for value in request.args.getlist("id")[:STATUS_IDS]]
    found = knowledge_service.sources_by_id(console_principal(), [i for i in wanted if i])
    return jsonify(sources=[_row(source) for source in found])


def _knowledge_page(upload_error: str | None = None, status: int = 200) -> tuple[str, int]:
    filters = load_form(KnowledgeSourceQueryArgsSchema(), _given(request.args, "type", "status"))
    query = knowledge_service.newest_sources(console_principal(), filters)
    total = query.count()
    pages = max(1, -(-total // PER_PAGE))
    number = min(max(request.args.get("page", 1, type=int), 1), pages)
    page = render_template(
        "console/knowledge.html",
        rows=[_row(source) for source in query.paginate(number, PER_PAGE)],
        pager={"number": number, "pages": pages, "total": total},
        filters=filters,
        types=TYPE_LABELS,
        statuses=SOURCE_STATUSES,
        upload_error=upload_error,
        max_upload=_max_upload(),
        max_upload_label=_size(_max_upload()),
        accepted=",".join(f".{extension}" for extension in FILE_EXTENSIONS),
    )
    return page, status


def _received_file() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("file", "Choose a file to upload.")
    limit = _max_upload()
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(TOO_LARGE.format(size=_size(limit)))
    return upload.filename, data


# --- Q&A pairs ------------------------------------------------------------------------


@blp.get("/knowledge/qa/new")
@limiter.exempt
@console_requires("admin")
def knowledge_qa_new() -> tuple[str, int]:
    """An empty Q&A form; `?question=` fills in the question (Insights' "add as Q&A")."""
    return _qa_page(None, {"question": request.args.get("question", ""), "answer": "", "tags": ""})


@blp.post("/knowledge/qa")
@limiter.exempt
@console_requires("admin")
def knowledge_qa_create() -> Response | tuple[str, int]:
    values = _qa_form()
    try:
        fields = load_form(QASchema(), _qa_fields(values))
        knowledge_service.create_qa(console_principal(), fields, app_state().ingestion)
    except REFUSALS as error:
        return _qa_page(None, values, error)
    return layout.done("console.knowledge", "qa_created", type="qa")


@blp.get("/knowledge/qa/<uuid:source_id>")
@limiter.exempt
@console_requires("agent")
def knowledge_qa_edit(source_id: uuid.UUID) -> tuple[str, int]:
    """A Q&A pair's form (read-only for an agent)."""
    pair = knowledge_service.get_source(console_principal(), source_id, type="qa")
    return _qa_page(pair, {"question": pair.question, "answer": pair.answer, "tags": _tags(pair)})


@blp.post("/knowledge/qa/<uuid:source_id>")
@limiter.exempt
@console_requires("admin")
def knowledge_qa_update(source_id: uuid.UUID) -> Response | tuple[str, int]:
    pair = knowledge_service.get_source(console_principal(), source_id, type="qa")
    values = _qa_form()
    try:
        fields = load_form(QAUpdateSchema(partial=True), _qa_fields(values))
        # Only what changed: a pair whose question and answer stay is not embedded again.
        changed = {name: value for name, value in fields.items() if getattr(pair, name) != value}
        knowledge_service.update_qa(console_principal(), source_id, changed, app_state().ingestion)
    except REFUSALS as error:
        return _qa_page(pair, values, error)
    return layout.done("console.knowledge_qa_edit", "qa_saved", source_id=source_id)


def _qa_form() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in ("question", "answer", "tags")}


def _qa_fields(values: dict[str, str]) -> dict[str, Any]:
    """The form as the API's schema takes it: tags are comma separated, each once."""
    tags = [tag.strip() for tag in values["tags"].split(",")]
    return {
        "question": values["question"].strip(),
        "answer": values["answer"].strip(),
        "tags": list(dict.fromkeys(tag for tag in tags if tag)),
    }


def _tags(pair: KnowledgeSource) -> str:
    return ", ".join(pair.tags or [])


def _qa_page(
    pair: KnowledgeSource | None, values: dict[str, str], error: Exception | None = None
) -> tuple[str, int]:
    message, status = refusal(error) if error else (None, 200)
    page = render_template(
        "console/knowledge_qa.html",
        pair=pair,
        row=_row(pair) if pair else None,
        values=values,
        error=message,
    )
    return page, status


# --- web pages ------------------------------------------------------------------------


@blp.get("/knowledge/urls/new")
@limiter.exempt
@console_requires("admin")
def knowledge_url_new() -> tuple[str, int]:
    """The form for a web page and how far to crawl from it."""
    return _url_page({"url": "", "title": "", "max_pages": "1", "same_domain": True})


@blp.post("/knowledge/urls")
@limiter.exempt
@console_requires("admin")
def knowledge_url_create() -> Response | tuple[str, int]:
    form = request.form
    values = {
        "url": form.get("url", ""),
        "title": form.get("title", ""),
        "max_pages": form.get("max_pages", ""),
        "same_domain": "same_domain" in form,  # an unticked box sends nothing
    }
    crawl = {"max_pages": values["max_pages"].strip() or 1, "same_domain": values["same_domain"]}
    try:
        fields = load_form(UrlSchema(), {**_given(form, "url", "title"), "crawl": crawl})
        knowledge_service.create_url(console_principal(), fields, app_state().ingestion)
    except REFUSALS as error:
        return _url_page(values, error)
    return layout.done("console.knowledge", "url_added")


@blp.post("/knowledge/urls/<uuid:source_id>/refresh")
@limiter.exempt
@console_requires("admin")
def knowledge_url_refresh(source_id: uuid.UUID) -> Response | tuple[str, int]:
    """Fetch the page (and its crawl) again."""
    source = knowledge_service.get_source(console_principal(), source_id, type="url")
    try:
        knowledge_service.refresh_url(console_principal(), source_id, app_state().ingestion)
    except REFUSALS as error:  # being processed already
        return _source_page(source, error)
    return layout.done("console.knowledge_source", "url_refreshing", source_id=source_id)


def _url_page(values: dict[str, Any], error: Exception | None = None) -> tuple[str, int]:
    message, status = refusal(error) if error else (None, 200)
    return render_template("console/knowledge_url.html", values=values, error=message), status


# --- one source, and deleting it ------------------------------------------------------


@blp.get("/knowledge/sources/<uuid:source_id>")
@limiter.exempt
@console_requires("agent")
def knowledge_source(source_id: uuid.UUID) -> Response | tuple[str, int]:
    """A file or a web page: its status, what was read of it; a Q&A pair is its form."""
    source = knowledge_service.get_source(console_principal(), source_id)
    if source.type == "qa":
        return redirect(url_for(".knowledge_qa_edit", source_id=source_id))
    return _source_page(source)


@blp.post("/knowledge/sources/<uuid:source_id>/delete")
@limiter.exempt
@console_requires("admin")
def knowledge_delete(source_id: uuid.UUID) -> Response:
    """Delete a source and every chunk of it (the page asked to confirm first)."""
    knowledge_service.delete_source(console_principal(), source_id, app_state().ingestion)
    return layout.done("console.knowledge", "source_deleted")


def _source_page(source: KnowledgeSource, error: Exception | None = None) -> tuple[str, int]:
    message, status = refusal(error) if error else (None, 200)
    page = render_template(
        "console/knowledge_source.html", source=source, row=_row(source), error=message
    )
    return page, status


# --- the search tester ----------------------------------------------------------------


@blp.get("/knowledge/search")
@limiter.exempt
@console_requires("agent")
def knowledge_search() -> tuple[str, int]:
    """The passages an assistant (or any) would be given for a question, with their scores."""
    args = request.args
    values = {
        "query": args.get("query", ""),
        "assistant_id": args.get("assistant_id", ""),
        "mode": args.get("mode", SEARCH_MODES[0]),
        "top_k": args.get("top_k", str(SEARCH_SIZES[0])),
    }
    passages, message, status = None, None, 200
    if "query" in args:
        try:
            fields = load_form(SearchSchema(), _given(args, *values))
            passages = knowledge_service.search(console_principal(), fields, app_state().ingestion)
        except REFUSALS as error:
            message, status = refusal(error)
    page = render_template(
        "console/knowledge_search.html",
        values=values,
        passages=passages,
        error=message,
        assistants=list(assistants.list_assistants(console_principal())),
        modes=SEARCH_MODES,
        sizes=SEARCH_SIZES,
    )
    return page, status


# --- shared -----------------------------------------------------------------------------


def _row(source: KnowledgeSource) -> dict[str, Any]:
    """A source as the list shows it, and as the status route sends it to the list's script."""
    return {
        "id": str(source.id),
        "type": source.type,
        "type_label": TYPE_LABELS.get(source.type, source.type),
        "title": source.title or source.filename or source.url or source.question or "Untitled",
        "detail": _detail(source),
        "tags": source.tags or [],
        "href": url_for(
            ".knowledge_qa_edit" if source.type == "qa" else ".knowledge_source",
            source_id=source.id,
        ),
        "status": source.status,
        "error": source.error,
        "progress": round((source.progress or 0) * 100),
        "chunk_count": source.chunk_count,
        "updated": _when(source.updated_at),
    }


def _detail(source: KnowledgeSource) -> str:
    """What a source is, under its title: a file's name and size, a crawl's pages."""
    if source.type == "file":
        kind = (source.file_type or "").upper()
        return " · ".join(p for p in (source.filename, kind, _size(source.size_bytes)) if p)
    if source.type == "url":
        pages = f"{source.page_count} page(s)" if source.page_count is not None else None
        fetched = f"fetched {_when(source.fetched_at)}" if source.fetched_at else "not fetched yet"
        return " · ".join(p for p in (source.url, pages, fetched) if p)
    return ""


def _given(values: MultiDict, *names: str) -> dict[str, str]:
    """The fields among `names` that were filled in (an empty one is left to its default)."""
    return {name: values[name].strip() for name in names if values.get(name, "").strip()}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _max_upload() -> int:
    return current_app.config["MAX_UPLOAD_BYTES"]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _size(count: int | None) -> str:
    if count is None:
        return ""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
