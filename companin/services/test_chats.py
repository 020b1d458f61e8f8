"""The console's test chat: a person of the team asks an assistant as a customer would.

The question goes through the customers' answer pipeline (retrieval, the model or the
offline responder, the fallback and its handoff) in a session of its own, marked
`is_test`, so that the inbox and the insights can leave it out of what they list and count.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..identity import Principal
from ..knowledge.index import KnowledgeIndex
from ..models import Session
from . import answers
from .assistants import get_assistant
from .records import create_owned, owned


def open_test_session(
    principal: Principal, assistant_id: uuid.UUID, session_id: uuid.UUID | None = None
) -> Session:
    """The test session `session_id` of this assistant, or a new one.

    Only a test session of the same assistant is reused: an id that names anything else
    (a customer's session, another assistant's, another organization's) opens a new one.
    """
    assistant = get_assistant(principal, assistant_id)
    if session_id is not None:
        found = (
            owned(Session, principal.org_id)
            .where(
                Session.id == session_id,
                Session.assistant == assistant.id,
                Session.is_test == True,  # noqa: E712 - peewee builds SQL from ==
            )
            .first()
        )
        if found is not None:
            return found
    return create_owned(Session, principal.org_id, {"assistant": assistant, "is_test": True})


def ask(
    principal: Principal,
    assistant_id: uuid.UUID,
    content: str,
    *,
    session_id: uuid.UUID | None,
    settings: answers.AnswerSettings,
    index: KnowledgeIndex,
) -> dict[str, Any]:
    """Answer `content` in a test session; the reply, whether it hands off, and the
    passages it used (as stored with the reply: title, snippet, score...).

    Raises what the pipeline raises: ValidationFailed for an empty or too long question,
    ProviderError when the model fails.
    """
    chat = open_test_session(principal, assistant_id, session_id)
    processed = answers.start(principal, chat, {"content": content}, settings=settings, index=index)
    reply = processed.complete().assistant_message
    return {
        "session_id": str(chat.id),
        "reply": reply.content,
        "handoff": reply.handoff,
        "model": reply.model,
        "sources": reply.sources or [],
    }
