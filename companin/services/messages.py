"""The messages of a chat (a session or a conversation)."""

from __future__ import annotations

from peewee import ModelSelect

from ..models import Conversation, Message, Session


def history(chat: Session | Conversation) -> ModelSelect:
    """The chat's messages, oldest first."""
    owner = Message.session if isinstance(chat, Session) else Message.conversation
    return (
        Message.select().where(owner == chat.id).order_by(Message.created_at, Message.role.desc())
    )
