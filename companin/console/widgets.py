"""The console's Widget section: the widget configs, a live preview of the real widget,
and the script tag a site pastes.

Everyone reads; admins and owners change. The form is read into the API's JSON shape and
validated by the API's own schema, then handed to the same service. The preview is a page
of its own (framed by the editor) that loads the server's /widget.js with the config as
edited: the editor's script reloads it with the form's fields in its query string, which
go through that same reading and schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Response, render_template, request, url_for

from ..errors import CompaninError
from ..extensions import limiter
from ..identity import Principal
from ..models import ApiKey, WidgetConfig
from ..schemas.widget_configs import ThemeSchema, WidgetConfigSchema
from ..services import assistants, widget_configs
from ..services.records import owned
from . import layout
from .blueprint import blp
from .forms import FormRefused, load_form, refusal_lines
from .guard import console_principal, console_requires
from .pages import CONTENT_SECURITY_POLICY

layout.notices(
    widget_created="Widget config created.",
    widget_saved="Widget config saved.",
    widget_deleted="Widget config deleted.",
)

THEME_FIELDS = tuple(ThemeSchema().fields)  # primary_color, position, title, launcher_text
POSITIONS = ("bottom-right", "bottom-left")
DEFAULT_COLOR = "#2563eb"  # the widget's own, when a config names none
# The instance id of the tag to paste: one widget per page needs no other.
INSTANCE_ID = "primary-widget"
PREVIEW_INSTANCE_ID = "console-preview"
# The preview is framed by the console, and by nothing else.
PREVIEW_POLICY = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@blp.get("/widgets")
@limiter.exempt
@console_requires("agent")
def widgets() -> str:
    """The organization's widget configs."""
    principal = console_principal()
    names = {a.id: a.name for a in assistants.list_assistants(principal)}
    return render_template(
        "console/widgets.html",
        configs=list(widget_configs.list_configs(principal)),
        assistant_names=names,
    )


@blp.get("/widgets/new")
@limiter.exempt
@console_requires("admin")
def widget_new() -> str:
    """An empty form for a new config."""
    return _editor(None)


@blp.post("/widgets/new")
@limiter.exempt
@console_requires("admin")
def widget_create() -> Response | tuple[str, int]:
    """Create a config from the form."""
    try:
        config = widget_configs.create_config(console_principal(), _submitted(request.form))
    except CompaninError as error:
        return _refused(None, error)
    return layout.done("console.widget_edit", "widget_created", config_id=config.id)


@blp.get("/widgets/<uuid:config_id>")
@limiter.exempt
@console_requires("agent")
def widget_edit(config_id: uuid.UUID) -> str:
    """A config's form (read-only below admin), its preview and its script tag."""
    return _editor(widget_configs.get_config(console_principal(), config_id))


@blp.post("/widgets/<uuid:config_id>")
@limiter.exempt
@console_requires("admin")
def widget_update(config_id: uuid.UUID) -> Response | tuple[str, int]:
    """Save the form over a config."""
    principal = console_principal()
    saved = widget_configs.get_config(principal, config_id)  # another organization's: 404
    try:
        widget_configs.update_config(principal, config_id, _submitted(request.form))
    except CompaninError as error:
        return _refused(saved, error)
    return layout.done("console.widget_edit", "widget_saved", config_id=config_id)


@blp.get("/widgets/<uuid:config_id>/delete")
@limiter.exempt
@console_requires("admin")
def widget_delete_confirm(config_id: uuid.UUID) -> str:
    """Ask before deleting: sites that embed this config lose their widget."""
    config = widget_configs.get_config(console_principal(), config_id)
    return render_template("console/widget_delete.html", config=config)


@blp.post("/widgets/<uuid:config_id>/delete")
@limiter.exempt
@console_requires("admin")
def widget_delete(config_id: uuid.UUID) -> Response:
    """Delete a config, once asked."""
    widget_configs.delete_config(console_principal(), config_id)
    return layout.done("console.widgets", "widget_deleted")


@blp.get("/widgets/new/preview", defaults={"config_id": None})
@blp.get("/widgets/<uuid:config_id>/preview")
@limiter.exempt
@console_requires("agent")
def widget_preview(config_id: uuid.UUID | None) -> Response:
    """The real widget on a page of this server, with the config as saved or, given the
    editor's fields (`draft=1`), as edited."""
    principal = console_principal()
    config = widget_configs.get_config(principal, config_id) if config_id else None
    shown, errors = _previewed(config)
    assistant_id = shown.get("assistant_id", "")
    # A token for the config and another assistant is refused: a draft that moves the
    # config to another assistant is previewed as that assistant's, unbound.
    bound = config is not None and str(config.assistant_id) == assistant_id
    page = render_template(
        "console/widget_preview.html",
        script_url=url_for("web.widget_js"),
        client_id=_client_id(principal),
        config_id=config_id if bound else None,
        assistant_id=assistant_id,
        config_json=json.dumps(shown),
        instance_id=PREVIEW_INSTANCE_ID,
        errors=errors,
    )
    response = Response(page, status=422 if errors else 200)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _previewed(saved: WidgetConfig | None) -> tuple[dict[str, Any], list[str]]:
    """The config the preview shows, as the widget reads it, and what is wrong with the
    draft (then shown instead)."""
    if not request.args.get("draft"):
        return (WidgetConfigSchema().dump(saved) if saved else {}), []
    try:
        return WidgetConfigSchema().dump(_submitted(request.args)), []
    except FormRefused as error:
        return {}, error.lines


def embed_snippet(client_id: str, assistant_id: Any, config_id: Any) -> str:
    """The script tag a site pastes before </body>, naming this server."""
    script_url = request.host_url.rstrip("/") + url_for("web.widget_js")
    return (
        f'<script src="{script_url}"\n'
        f'        data-client-id="{client_id}"\n'
        f'        data-assistant-id="{assistant_id}"\n'
        f'        data-config-id="{config_id}"\n'
        f'        data-instance-id="{INSTANCE_ID}"></script>'
    )


def _submitted(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's fields in the API's shape, validated by its schema (FormRefused).
    One per line: questions and origins; blank theme fields: the widget's defaults."""
    theme = {name: form.get(f"theme_{name}", "").strip() for name in THEME_FIELDS}
    fields: dict[str, Any] = {
        "assistant_id": form.get("assistant_id", ""),
        "greeting": form.get("greeting", "").strip(),
        "suggested_questions": _lines(form.get("suggested_questions", "")),
        "allowed_origins": _lines(form.get("allowed_origins", "")),
        "theme": {name: value for name, value in theme.items() if value},
        "show_sources": form.get("show_sources") == "on",
    }
    if form.get("name", "").strip():
        fields["name"] = form["name"].strip()
    return load_form(WidgetConfigSchema(), fields)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _refused(saved: WidgetConfig | None, error: Exception) -> tuple[str, int]:
    """The form again, as it was sent, saying what is wrong; nothing was stored."""
    errors, status = refusal_lines(error)
    return _editor(saved, _as_row(request.form), errors), status


def _as_row(form: Mapping[str, str]) -> WidgetConfig:
    """An unsaved config holding the form's text as typed, to show it again."""
    return WidgetConfig(
        assistant=form.get("assistant_id") or None,
        name=form.get("name", ""),
        greeting=form.get("greeting", ""),
        suggested_questions=_lines(form.get("suggested_questions", "")),
        allowed_origins=_lines(form.get("allowed_origins", "")),
        theme={name: form.get(f"theme_{name}", "") for name in THEME_FIELDS},
        show_sources=form.get("show_sources") == "on",
    )


def _client_id(principal: Principal) -> str:
    """The client id a site's widget names: the organization's first server key's."""
    key = owned(ApiKey, principal.org_id).first()
    return key.client_id if key else ""


def _editor(
    saved: WidgetConfig | None, shown: WidgetConfig | None = None, errors: list[str] | None = None
) -> str:
    """The editor of `saved` (None: a new config) showing `shown` (what was sent, when it
    was refused; else `saved`). The preview and the script tag are the saved config's."""
    principal = console_principal()
    client_id = _client_id(principal)
    if shown is None:
        shown = saved or WidgetConfig(theme={}, suggested_questions=[], allowed_origins=[])
    snippet = None
    if saved is not None and client_id:
        snippet = embed_snippet(client_id, saved.assistant_id, saved.id)
    return render_template(
        "console/widget_edit.html",
        saved=saved,
        config=shown,
        theme=shown.theme or {},
        assistants=list(assistants.list_assistants(principal)),
        positions=POSITIONS,
        default_color=DEFAULT_COLOR,
        snippet=snippet,
        errors=errors or [],
    )
