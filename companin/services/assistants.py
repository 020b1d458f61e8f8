"""Assistants: the personas an organization's chats talk to."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ModelSelect

from ..identity import Principal
from ..models import Assistant
from .records import create_owned, delete_row, get_owned, owned, update_row


def list_assistants(principal: Principal) -> ModelSelect:
    """The organization's assistants, oldest first."""
    return owned(Assistant, principal.org_id)


def create_assistant(principal: Principal, fields: dict[str, Any]) -> Assistant:
    return create_owned(Assistant, principal.org_id, fields)


def get_assistant(principal: Principal, assistant_id: uuid.UUID) -> Assistant:
    return get_owned(Assistant, principal.org_id, assistant_id)


def update_assistant(
    principal: Principal, assistant_id: uuid.UUID, fields: dict[str, Any]
) -> Assistant:
    return update_row(get_assistant(principal, assistant_id), fields)


def delete_assistant(principal: Principal, assistant_id: uuid.UUID) -> None:
    """Delete it; the database cascades to its widget configs, sessions and conversations."""
    delete_row(get_assistant(principal, assistant_id))
