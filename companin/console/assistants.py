"""The console's Assistants section: the list, the persona's form and a test chat beside it.

Everyone reads and may use the test chat (it changes no persona and no knowledge, and its
chats are marked as tests); admins and owners create and edit. The form's fields go
through the API's own schema and services/assistants.py, so a rule is written once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, render_template, request

from ..extensions import limiter
from ..models import Assistant
from ..schemas.assistants import AssistantSchema, AssistantUpdateSchema
from ..services import assistants as assistants_service
from ..services import test_chats
from ..state import app_state
from . import layout
from .blueprint import blp
from .forms import REFUSALS, load_form, refusal, uuid_or_none
from .guard import console_principal, console_requires

# The persona's free texts, as the form and the schema name them.
TEXT_FIELDS = ("name", "description", "tone", "language", "instructions", "fallback_message")

layout.notices(
    assistant_created="Assistant created. Try it in the test chat beside its form.",
    assistant_saved="Assistant saved.",
)


@blp.get("/assistants")
@limiter.exempt
@console_requires("agent")
def assistants() -> str:
    """The organization's assistants (a handful: no paging)."""
    found = assistants_service.list_assistants(console_principal())
    return render_template("console/assistants.html", assistants=list(found))


@blp.get("/assistants/new")
@limiter.exempt
@console_requires("admin")
def assistant_new() -> tuple[str, int]:
    """An empty persona form, with the defaults a new assistant gets."""
    return _new_page(_persona_values(Assistant()))


@blp.post("/assistants")
@limiter.exempt
@console_requires("admin")
def assistant_create() -> Response | tuple[str, int]:
    values = _persona_form()
    try:
        fields = load_form(AssistantSchema(), _persona_fields(values))
        created = assistants_service.create_assistant(console_principal(), fields)
    except REFUSALS as error:
        return _new_page(values, error)
    return layout.done("console.assistant_edit", "assistant_created", assistant_id=created.id)


@blp.get("/assistants/<uuid:assistant_id>")
@limiter.exempt
@console_requires("agent")
def assistant_edit(assistant_id: uuid.UUID) -> str:
    """The persona's form (read-only for an agent) and the test chat."""
    assistant = assistants_service.get_assistant(console_principal(), assistant_id)
    return _edit_page(assistant, _persona_values(assistant))


@blp.post("/assistants/<uuid:assistant_id>")
@limiter.exempt
@console_requires("admin")
def assistant_update(assistant_id: uuid.UUID) -> Response | tuple[str, int]:
    assistant = assistants_service.get_assistant(console_principal(), assistant_id)
    values = _persona_form()
    try:
        fields = load_form(AssistantUpdateSchema(partial=True), _persona_fields(values))
        assistants_service.update_assistant(console_principal(), assistant_id, fields)
    except REFUSALS as error:
        return _edit_page(assistant, values, error)
    return layout.done("console.assistant_edit", "assistant_saved", assistant_id=assistant_id)


@blp.post("/assistants/<uuid:assistant_id>/test-chat")
@limiter.exempt
@console_requires("agent")
def assistant_test_chat(assistant_id: uuid.UUID) -> tuple[Response, int]:
    """Ask the assistant as a customer would; JSON for the page's script: the reply, its
    handoff and the passages it used, or a readable `error` (a model that failed too)."""
    state = app_state()
    try:
        answer = test_chats.ask(
            console_principal(),
            assistant_id,
            request.form.get("content", ""),
            session_id=uuid_or_none(request.form.get("session_id")),
            settings=state.answers,
            index=state.ingestion.index,
        )
    except REFUSALS as error:
        message, status = refusal(error)
        return jsonify(error=message), status
    return jsonify(answer), 200


# --- the persona's form ---------------------------------------------------------------


def _persona_values(assistant: Assistant) -> dict[str, Any]:
    """A stored (or new) assistant as the form shows it."""
    return {
        **{name: getattr(assistant, name) or "" for name in TEXT_FIELDS},
        "default_tasks": "\n".join(assistant.default_tasks or []),
        "model": assistant.model or "",
        "temperature": str(assistant.temperature),
        "is_active": assistant.is_active,
    }


def _persona_form() -> dict[str, Any]:
    """What the form sent, as the page shows it again if it is refused."""
    form = request.form
    return {
        **{name: form.get(name, "") for name in TEXT_FIELDS},
        "default_tasks": form.get("default_tasks", ""),
        "model": form.get("model", ""),
        "temperature": form.get("temperature", ""),
        "is_active": "is_active" in form,  # an unticked box sends nothing
    }


def _persona_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the API's schema takes them: a task a line, an empty model
    for the configured one, an empty temperature for the default."""
    fields: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS}
    fields["name"] = fields["name"].strip()
    fields["default_tasks"] = [t.strip() for t in values["default_tasks"].splitlines() if t.strip()]
    fields["model"] = values["model"].strip() or None
    fields["is_active"] = values["is_active"]
    if values["temperature"].strip():
        fields["temperature"] = values["temperature"].strip()
    return fields


def _new_page(values: dict[str, Any], error: Exception | None = None) -> tuple[str, int]:
    message, status = refusal(error) if error else (None, 200)
    page = render_template("console/assistant_new.html", values=values, error=message)
    return page, status


def _edit_page(
    assistant: Assistant, values: dict[str, Any], error: Exception | None = None
) -> tuple[str, int]:
    message, status = refusal(error) if error else (None, 200)
    page = render_template(
        "console/assistant.html", assistant=assistant, values=values, error=message
    )
    return page, status
