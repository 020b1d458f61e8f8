"""A person of the team in a customer's chat: taking it over, writing in it, handing it
back, and marking its handoff as dealt with.

While a chat is taken over (`taken_over_by` holds the person's display name) the
assistant stays quiet in it: the customer's messages are stored and wait for the person
(see `answers.start`). The visitor's widget finds the person's messages by polling the
history for what came after the last message it shows.
"""

from __future__ import annotations

import uuid

from ..db import write_transaction
from ..errors import ValidationFailed
from ..identity import Principal
from ..models import Assistant, Conversation, Message, Session, User, utcnow
from .messages import CHAT_MODELS, add_message
from .records import get_owned

MAX_REPLY_CHARS = 4000


def get_chat(principal: Principal, kind: str, chat_id: uuid.UUID) -> Session | Conversation:
    """A session or a conversation of the organization (`kind` names which), with its
    assistant; another organization's is as absent as a missing one."""
    return get_owned(CHAT_MODELS[kind], principal.org_id, chat_id, joined=(Assistant,))


def take_over(chat: Session | Conversation, person: User) -> None:
    """From now on `person` answers in the chat, and the assistant stays quiet."""
    _set(chat, taken_over_by=person.display_name)


def hand_back(chat: Session | Conversation) -> None:
    """The assistant answers the chat's next messages again."""
    _set(chat, taken_over_by=None)


def mark_dealt_with(chat: Session | Conversation) -> None:
    """The handoff is settled: the chat leaves the top of the inbox."""
    _set(chat, handoff=False, handoff_at=None)


def write_as_agent(chat: Session | Conversation, person: User, content: str) -> Message:
    """`person`'s message in the chat (role agent, signed with their display name). Writing
    takes the chat over, so that the assistant does not answer over them."""
    content = content.strip()
    if not content:
        raise ValidationFailed("content", "Write something.")
    if len(content) > MAX_REPLY_CHARS:
        raise ValidationFailed("content", f"Longer than {MAX_REPLY_CHARS} characters.")
    with write_transaction():
        message = add_message(chat, role="agent", author=person.display_name, content=content)
        _set(chat, taken_over_by=person.display_name)
    return message


def _set(chat: Session | Conversation, **fields) -> None:
    model = type(chat)
    with write_transaction():
        model.update(updated_at=utcnow(), **fields).where(model.id == chat.id).execute()
    for name, value in fields.items():
        setattr(chat, name, value)
