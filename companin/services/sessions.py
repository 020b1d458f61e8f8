"""Anonymous visitor sessions, as server keys and widget tokens may see them."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ModelSelect

from ..errors import Forbidden, NotFound
from ..identity import Principal
from ..models import Assistant, Session
from .messages import chat_changes, history
from .records import create_owned, delete_row, get_owned, owned, referenced_assistant, update_row


def list_sessions(principal: Principal, filters: dict[str, Any]) -> ModelSelect:
    """The organization's sessions matching `filters`, oldest first (not the console's
    test chats)."""
    return owned(Session, principal.org_id, filters).where(Session.is_test == False)  # noqa: E712


def create_session(principal: Principal, fields: dict[str, Any]) -> Session:
    """Open a session; a widget may only open one with an active assistant it is bound to."""
    assistant = referenced_assistant(principal.org_id, fields["assistant_id"])
    if principal.is_widget:
        if principal.assistant_id and principal.assistant_id != assistant.id:
            raise Forbidden("This widget token is bound to another assistant")
        if not assistant.is_active:
            raise Forbidden("This assistant is not active")
        fields = {**fields, "visitor_subject": principal.subject}
    fields["assistant"] = fields.pop("assistant_id")
    return create_owned(Session, principal.org_id, fields)


def get_session(principal: Principal, session_id: uuid.UUID) -> Session:
    """A session of the organization; a widget only reaches its own visitor's sessions."""
    session = get_owned(Session, principal.org_id, session_id, joined=(Assistant,))
    if principal.is_widget and session.visitor_subject != principal.subject:
        raise NotFound("Session not found")
    return session


# What the widget may change of its visitor's session: who they are (`Companin.identify`)
# and their language; not the handoff, which is the team's to clear.
WIDGET_MAY_CHANGE = frozenset({"metadata", "locale"})


def update_session(principal: Principal, session_id: uuid.UUID, fields: dict[str, Any]) -> Session:
    if principal.is_widget and set(fields) - WIDGET_MAY_CHANGE:
        raise Forbidden(
            "A widget may change only its session's metadata and locale; "
            "the rest needs a server key"
        )
    return update_row(get_session(principal, session_id), chat_changes(fields))


def delete_session(principal: Principal, session_id: uuid.UUID) -> None:
    """Delete it; the database cascades to its messages."""
    delete_row(get_session(principal, session_id))


def session_messages(
    principal: Principal, session_id: uuid.UUID, after: uuid.UUID | None = None
) -> ModelSelect:
    """A session's history, oldest first (with `after`: only what came after it)."""
    return history(get_session(principal, session_id), after)
