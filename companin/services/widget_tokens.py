"""Deciding whether a browser may have a widget token, and for what; then issuing it."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..errors import Forbidden, Unauthorized, ValidationFailed
from ..identity import WIDGET, Principal, issue_widget_token
from ..models import ApiKey, WidgetConfig
from . import origins
from .records import owned, referenced_assistant


def widget_token(signing_key: bytes, ttl: int, **request: Any) -> dict[str, Any]:
    """A widget token for the browser asking (see `widget_principal`), valid `ttl` seconds."""
    token = issue_widget_token(signing_key, widget_principal(**request), ttl)
    return {"token": token, "expires_in": ttl, "token_type": "Bearer"}


def widget_principal(
    client_id: str,
    origin: str | None,
    assistant_id: uuid.UUID | None = None,
    config_id: uuid.UUID | None = None,
    visitor_key: str | None = None,
) -> Principal:
    """The principal a widget token for `client_id` will carry."""
    key = ApiKey.get_or_none(ApiKey.client_id == client_id)
    if key is None:
        raise Unauthorized("Unknown client_id")
    org_id = key.organization_id
    if not origins.is_allowed(org_id, origin):
        raise Forbidden("Origin not allowed for this organization's widgets")
    if config_id is not None:
        config = owned(WidgetConfig, org_id).where(WidgetConfig.id == config_id).first()
        if config is None:
            raise ValidationFailed("config_id", "Widget config not found.")
        if assistant_id is not None and assistant_id != config.assistant_id:
            raise ValidationFailed("assistant_id", "Does not match the widget config's assistant.")
        assistant_id = config.assistant_id
    if assistant_id is not None and not referenced_assistant(org_id, assistant_id).is_active:
        raise ValidationFailed("assistant_id", "Assistant is not active.")
    return Principal(
        kind=WIDGET,
        org_id=org_id,
        assistant_id=assistant_id,
        config_id=config_id,
        subject=_visitor_subject(org_id, visitor_key),
    )


def _visitor_subject(org_id: uuid.UUID, visitor_key: str | None) -> str:
    """Who the visitor is, as stored: a hash of their key, or a one-off id without one."""
    if visitor_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{org_id}:{visitor_key}".encode()).hexdigest()[:40]
