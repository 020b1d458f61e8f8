"""The messages of a chat (a session or a conversation), and feedback on replies."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ForeignKeyField, ModelSelect

from ..db import write_transaction
from ..errors import NotFound, ValidationFailed
from ..identity import Principal
from ..models import Conversation, Message, Session, utcnow
from .records import get_owned

# The two kinds of chat, by the name URLs, the inbox and messages' columns give them.
CHAT_MODELS: dict[str, type[Session] | type[Conversation]] = {
    "session": Session,
    "conversation": Conversation,
}


def chat_kind(chat: Session | Conversation | type[Session] | type[Conversation]) -> str:
    """ "session" or "conversation", for a chat or its model."""
    model = chat if isinstance(chat, type) else type(chat)
    return "session" if issubclass(model, Session) else "conversation"


def owner_column(model: type[Session] | type[Conversation]) -> ForeignKeyField:
    """The column of a message that names its chat of this kind."""
    return Message.session if model is Session else Message.conversation


def add_message(chat: Session | Conversation, **fields: Any) -> Message:
    """Store a message in `chat` and make it the chat's latest (the inbox lists chats by
    their latest message). Inside the caller's write transaction."""
    message = Message.create(organization=chat.organization_id, **{chat_kind(chat): chat}, **fields)
    model = type(chat)
    model.update(last_message_at=message.created_at).where(model.id == chat.id).execute()
    return message


def history(chat: Session | Conversation, after: uuid.UUID | None = None) -> ModelSelect:
    """The chat's messages, oldest first; with `after`, those that came after that message
    of the chat (a 422 for a message not in it)."""
    owner = owner_column(type(chat))
    query = Message.select().where(owner == chat.id)
    if after is not None:
        known = Message.select(Message.created_at).where(owner == chat.id, Message.id == after)
        since = known.scalar()
        if since is None:
            raise ValidationFailed("after", "Not a message of this chat.")
        # A reply may be stored in the same microsecond as its question: those of the same
        # instant come too, bar the known one; the caller skips what it already shows.
        query = query.where(Message.created_at >= since, Message.id != after)
    return query.order_by(Message.created_at, Message.role.desc())


def chat_changes(fields: dict[str, Any]) -> dict[str, Any]:
    """A chat's changes as stored: setting `handoff` also sets (or clears) when it happened."""
    if "handoff" not in fields:
        return fields
    return {**fields, "handoff_at": utcnow() if fields["handoff"] else None}


def give_feedback(principal: Principal, message_id: uuid.UUID, fields: dict[str, Any]) -> Message:
    """Record a rating of an assistant's reply; a later one replaces it.

    A widget reaches only the replies in its own visitor's sessions.
    """
    message = get_owned(Message, principal.org_id, message_id)
    if principal.is_widget and (
        message.session_id is None or message.session.visitor_subject != principal.subject
    ):
        raise NotFound("Message not found")
    if message.role != "assistant":
        raise ValidationFailed("message_id", "Only the assistant's replies take feedback.")
    message.feedback_rating = fields["rating"]
    message.feedback_comment = fields.get("comment")
    message.feedback_at = utcnow()
    with write_transaction():
        message.save()
    return message
