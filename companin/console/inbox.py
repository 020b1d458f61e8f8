"""The console's inbox: the chats, those handed off on top, and each one's transcript,
where a person of the team replies, takes the chat over, hands it back to the assistant
or marks its handoff as dealt with (services/takeover.py, as the API's rules have it).

Every role may do all of it: answering customers is what an agent is for.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from flask import Response, g, jsonify, render_template, request, url_for

from ..errors import CompaninError, ValidationFailed
from ..extensions import limiter
from ..models import Conversation, Session
from ..schemas.chats import MessageSchema
from ..services import assistants, messages, takeover
from ..services.inbox import InboxFilters, inbox_page
from . import layout
from .blueprint import blp
from .guard import console_principal, console_requires

# Paging by offset: far beyond any real inbox, well within what SQLite's OFFSET takes.
MAX_PAGE = 10_000
MAX_SEARCH_CHARS = 200
BAD_DATE = "A day is written as YYYY-MM-DD, for example 2025-01-31."

layout.notices(
    chat_replied="Reply sent. The assistant stays quiet in this chat until you hand it back.",
    chat_taken_over="You took this chat over: the assistant stays quiet until you hand it back.",
    chat_handed_back="Handed back: the assistant answers this chat's next messages.",
    chat_dealt_with="The handoff is marked as dealt with.",
)


@blp.get("/")
@limiter.exempt
@console_requires("agent")
def home() -> str:
    """The inbox: the organization's sessions and conversations, filtered and paged."""
    principal = console_principal()
    asked, filters, number = _inbox_form()
    found = inbox_page(principal, filters, number)
    return render_template(
        "console/home.html",
        inbox=found,
        asked=asked,
        filters=filters,
        assistants=list(assistants.list_assistants(principal)),
        newer=_page_link(asked, number - 1) if found.has_newer else None,
        older=_page_link(asked, number + 1) if found.has_older else None,
    )


@blp.get("/chats/<any(session, conversation):kind>/<uuid:chat_id>")
@limiter.exempt
@console_requires("agent")
def chat(kind: str, chat_id: uuid.UUID) -> str:
    """A chat's transcript (links elsewhere use `url_for("console.chat", kind, chat_id)`)."""
    return _transcript(_chat(kind, chat_id))[0]


@blp.get("/chats/<any(session, conversation):kind>/<uuid:chat_id>/messages")
@limiter.exempt
@console_requires("agent")
def chat_messages(kind: str, chat_id: uuid.UUID) -> Response:
    """The chat's messages after `?after=<message id>`, as JSON: what the transcript's
    script polls for, to show a customer's new messages without a reload."""
    after = _uuid_or_none(request.args.get("after", ""), "after")
    listed = messages.history(_chat(kind, chat_id), after)
    return jsonify(messages=MessageSchema(many=True).dump(listed))


@blp.post("/chats/<any(session, conversation):kind>/<uuid:chat_id>/reply")
@limiter.exempt
@console_requires("agent")
def chat_reply(kind: str, chat_id: uuid.UUID) -> Response | tuple[str, int]:
    """Write to the customer as oneself; writing takes the chat over."""
    found = _chat(kind, chat_id)
    content = request.form.get("content", "")
    try:
        takeover.write_as_agent(found, g.console_user, content)
    except ValidationFailed as refused:
        return _transcript(found, reply=content, error=refused)
    return layout.done("console.chat", "chat_replied", kind=kind, chat_id=chat_id)


@blp.post("/chats/<any(session, conversation):kind>/<uuid:chat_id>/take-over")
@limiter.exempt
@console_requires("agent")
def chat_take_over(kind: str, chat_id: uuid.UUID) -> Response:
    takeover.take_over(_chat(kind, chat_id), g.console_user)
    return layout.done("console.chat", "chat_taken_over", kind=kind, chat_id=chat_id)


@blp.post("/chats/<any(session, conversation):kind>/<uuid:chat_id>/hand-back")
@limiter.exempt
@console_requires("agent")
def chat_hand_back(kind: str, chat_id: uuid.UUID) -> Response:
    takeover.hand_back(_chat(kind, chat_id))
    return layout.done("console.chat", "chat_handed_back", kind=kind, chat_id=chat_id)


@blp.post("/chats/<any(session, conversation):kind>/<uuid:chat_id>/dealt-with")
@limiter.exempt
@console_requires("agent")
def chat_dealt_with(kind: str, chat_id: uuid.UUID) -> Response:
    takeover.mark_dealt_with(_chat(kind, chat_id))
    return layout.done("console.chat", "chat_dealt_with", kind=kind, chat_id=chat_id)


# --- the transcript -------------------------------------------------------------------


def _chat(kind: str, chat_id: uuid.UUID) -> Session | Conversation:
    """The organization's chat; another organization's is a 404 page, as a missing one."""
    return takeover.get_chat(console_principal(), kind, chat_id)


def _transcript(
    found: Session | Conversation, reply: str = "", error: CompaninError | None = None
) -> tuple[str, int]:
    kind = messages.chat_kind(found)
    page = render_template(
        "console/chat.html",
        chat=found,
        kind=kind,
        who=_who(found),
        messages=list(messages.history(found)),
        reply=reply,
        max_reply=takeover.MAX_REPLY_CHARS,
        error=None if error is None else _refusal_text(error),
        web_link=web_link,
    )
    return page, 200 if error is None else error.code


def _who(found: Session | Conversation) -> str:
    if isinstance(found, Session):
        return found.visitor_id or "Visitor"
    return found.customer_id


def _refusal_text(error: CompaninError) -> str:
    """The field's own words ("Write something."), without the API's "Invalid value for
    content:" before them."""
    fields = (error.data or {}).get("messages", {}).get("json", {})
    said = [message for field in fields.values() for message in field]
    return " ".join(said) or str(error.description)


def web_link(url: str | None) -> str | None:
    """A source's address if a browser may follow it (http or https), else None: a stored
    `javascript:` address must never become a link."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


# --- the inbox's form -----------------------------------------------------------------


def _inbox_form() -> tuple[dict[str, str], InboxFilters, int]:
    """What the inbox's form asked for (the fields to keep in the pager's links), as the
    service's filters, and the page; a value the form cannot send is a 400 page."""
    args = request.args
    asked = {
        name: args.get(name, "").strip()
        for name in ("assistant", "handoff", "down", "from", "to", "q")
    }
    asked = {name: value for name, value in asked.items() if value}
    filters = InboxFilters(
        assistant_id=_uuid_or_none(asked.get("assistant", ""), "assistant"),
        handed_off="handoff" in asked,
        thumbs_down="down" in asked,
        active_from=_day(asked.get("from", "")),
        active_to=_day(asked.get("to", "")),
        search=_search(asked.get("q", "")),
    )
    if filters.active_from and filters.active_to and filters.active_from > filters.active_to:
        raise CompaninError("The first day of the range comes after its last day.")
    return asked, filters, _page_number(args.get("page", ""))


def _uuid_or_none(value: str, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CompaninError(f"The {field} filter is not an id of this console.") from None


def _day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CompaninError(BAD_DATE) from None


def _search(value: str) -> str:
    if len(value) > MAX_SEARCH_CHARS:
        raise CompaninError(f"Search for at most {MAX_SEARCH_CHARS} characters.")
    return value


def _page_number(value: str) -> int:
    if not value:
        return 1
    if not re.fullmatch(r"[0-9]{1,6}", value) or not 1 <= int(value) <= MAX_PAGE:
        raise CompaninError(f"There is no page {value[:20]!r}: pages go from 1 to {MAX_PAGE}.")
    return int(value)


def _page_link(asked: dict[str, str], number: int) -> str:
    """Another page of the same filtered list."""
    return url_for("console.home", **asked, **({"page": number} if number > 1 else {}))
