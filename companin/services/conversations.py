"""Conversations with known customers, optionally tied to a user context."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ModelSelect

from ..errors import ValidationFailed
from ..identity import Principal
from ..models import Assistant, Conversation
from .contexts import find_context
from .messages import chat_changes, history
from .records import (
    create_owned,
    delete_row,
    get_owned,
    owned,
    referenced_assistant,
    update_row,
)


def list_conversations(principal: Principal, filters: dict[str, Any]) -> ModelSelect:
    """The organization's conversations matching `filters`, oldest first (not the
    console's test chats)."""
    return owned(Conversation, principal.org_id, filters).where(
        Conversation.is_test == False  # noqa: E712
    )


def get_conversation(principal: Principal, conversation_id: uuid.UUID) -> Conversation:
    return get_owned(Conversation, principal.org_id, conversation_id, joined=(Assistant,))


def create_conversation(principal: Principal, fields: dict[str, Any]) -> Conversation:
    assistant = referenced_assistant(principal.org_id, fields.pop("assistant_id"))
    fields = _resolve_context(principal.org_id, fields)
    return create_owned(Conversation, principal.org_id, {**fields, "assistant": assistant})


def update_conversation(
    principal: Principal, conversation_id: uuid.UUID, fields: dict[str, Any]
) -> Conversation:
    conversation = get_conversation(principal, conversation_id)
    return update_row(conversation, chat_changes(_resolve_context(principal.org_id, fields)))


def delete_conversation(principal: Principal, conversation_id: uuid.UUID) -> None:
    """Delete it; the database cascades to its messages."""
    delete_row(get_conversation(principal, conversation_id))


def conversation_messages(
    principal: Principal, conversation_id: uuid.UUID, after: uuid.UUID | None = None
) -> ModelSelect:
    """A conversation's history, oldest first (with `after`: only what came after it)."""
    return history(get_conversation(principal, conversation_id), after)


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
