"""Conversations with known customers, optionally tied to a user context."""

from __future__ import annotations

import uuid
from typing import Any

from ..auth import Principal
from ..errors import ValidationFailed
from ..models import Conversation
from .contexts import find_context
from .records import create_owned, get_owned, referenced_assistant, update_row


def create_conversation(principal: Principal, fields: dict[str, Any]) -> Conversation:
    assistant = referenced_assistant(principal.org_id, fields.pop("assistant_id"))
    fields = _resolve_context(principal.org_id, fields)
    return create_owned(Conversation, principal.org_id, {**fields, "assistant": assistant})


def update_conversation(
    principal: Principal, conversation_id: uuid.UUID, fields: dict[str, Any]
) -> Conversation:
    conversation = get_owned(Conversation, principal.org_id, conversation_id)
    return update_row(conversation, _resolve_context(principal.org_id, fields))


def _resolve_context(org_id: uuid.UUID, fields: dict[str, Any]) -> dict[str, Any]:
    """Swap `user_context_id` (an id or a user_reference) for the context it names."""
    if "user_context_id" not in fields:
        return fields
    fields = dict(fields)
    key = fields.pop("user_context_id")
    context = None if key is None else find_context(org_id, key)
    if key is not None and context is None:
        raise ValidationFailed("user_context_id", "User context not found.")
    fields["user_context"] = context
    return fields
