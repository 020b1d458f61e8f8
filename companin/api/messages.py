"""Customers' messages and the assistant's replies: the answer pipeline's routes."""

import math
import time

import limits
from flask import current_app, request
from flask.views import MethodView
from werkzeug.exceptions import TooManyRequests

from ..auth import current_principal, is_poll, requires
from ..errors import envelope
from ..extensions import limiter
from ..schemas.chats import HistoryArgsSchema, MessageSchema
from ..schemas.messages import (
    FeedbackSchema,
    MessagePostSchema,
    ProcessedMessageSchema,
)
from ..services import answers, conversations, messages, sessions
from ..state import app_state
from .blueprint import Blueprint, QueryPage
from .streaming import event_stream

blp = Blueprint("messages", __name__, url_prefix="/api/v1", description="Messages and answers")

PROCESSED = "Message processed"


def _chat_limit() -> str:
    return f"{current_app.config['CHAT_MESSAGES_PER_DAY']}/day"


def _answered(response) -> bool:
    """Only messages taken in count against the cap, not refused ones."""
    return response.status_code < 400


def _chat_key() -> str:
    """Messages are counted per chat, whoever sends them."""
    args = request.view_args or {}
    return f"chat:{args.get('session_id') or args.get('conversation_id')}"


def _answer(chat, fields):
    """Store the message and answer it, as server-sent events if the client asks for them
    (`Accept: text/event-stream` or `?stream=true`; see streaming.py)."""
    state = app_state()
    outcome = answers.start(
        current_principal(),
        chat,
        fields,
        settings=state.answers,
        index=state.ingestion.index,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    streamed = (
        request.args.get("stream", "").lower() in ("true", "1")
        or request.accept_mimetypes.best == "text/event-stream"
    )
    if not streamed:
        return outcome.complete().data()
    return event_stream(outcome.events(), _done_envelope)


def _done_envelope(processed: answers.Processed) -> dict:
    return envelope(201, PROCESSED, ProcessedMessageSchema().dump(processed.data()))


# Messages are counted per chat and day; only those taken in count.
_per_chat = limiter.limit(_chat_limit, key_func=_chat_key, deduct_when=_answered)


def _poll_limit() -> str:
    return f"{current_app.config['CHAT_POLLS_PER_MINUTE']}/minute"


def _count_poll() -> None:
    """An open widget asks for what came after its last message every few seconds (a team
    member may be writing). Such polls spend no organization budget (auth.is_poll), which
    they would soon use up; they are counted per chat here instead. (Not with a limiter
    decorator: on the requests it exempts, it would drop the budget's X-RateLimit headers.)"""
    if not is_poll():
        return
    item = limits.parse(_poll_limit())
    key = ("polls", _chat_key())
    if not limiter.limiter.hit(item, *key):
        reset_at, _ = limiter.limiter.get_window_stats(item, *key)
        wait = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(description=_poll_limit(), retry_after=wait)


@blp.route("/sessions/<uuid:session_id>/messages")
class SessionMessages(MethodView):
    @requires(widget=True)
    @blp.arguments(HistoryArgsSchema, location="query")
    @blp.response(200, MessageSchema(many=True), description="Messages listed")
    @blp.paginate(QueryPage)
    def get(self, args, session_id):
        """A session's messages, oldest first (a widget token only its own visitor's;
        `?after=<message id>`: only the newer ones)"""
        _count_poll()
        return sessions.session_messages(current_principal(), session_id, args.get("after"))

    @requires(widget=True)
    @_per_chat
    @blp.arguments(MessagePostSchema)
    @blp.response(201, ProcessedMessageSchema, description=PROCESSED)
    def post(self, fields, session_id):
        """Send a visitor's message and get the assistant's reply (`?stream=true`: as events)"""
        return _answer(sessions.get_session(current_principal(), session_id), fields)


@blp.route("/conversations/<uuid:conversation_id>/messages")
class ConversationMessages(MethodView):
    @requires()
    @blp.arguments(HistoryArgsSchema, location="query")
    @blp.response(200, MessageSchema(many=True), description="Messages listed")
    @blp.paginate(QueryPage)
    def get(self, args, conversation_id):
        """A conversation's messages, oldest first (`?after=<message id>`: only the newer ones)"""
        _count_poll()
        principal = current_principal()
        return conversations.conversation_messages(principal, conversation_id, args.get("after"))

    @requires()
    @_per_chat
    @blp.arguments(MessagePostSchema)
    @blp.response(201, ProcessedMessageSchema, description=PROCESSED)
    def post(self, fields, conversation_id):
        """Send a customer's message and get the assistant's reply (`?stream=true`: as events)"""
        chat = conversations.get_conversation(current_principal(), conversation_id)
        return _answer(chat, fields)


@blp.route("/messages/<uuid:message_id>/feedback")
class MessageFeedback(MethodView):
    @requires(widget=True)
    @blp.arguments(FeedbackSchema)
    @blp.response(200, MessageSchema, description="Feedback recorded")
    def post(self, fields, message_id):
        """Rate a reply up or down, with an optional comment (sending again replaces it)"""
        return messages.give_feedback(current_principal(), message_id, fields)
