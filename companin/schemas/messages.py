"""A customer's message to the assistant, the reply, and feedback on it."""

import marshmallow as ma
from marshmallow import validate

from ..enums import FEEDBACK_RATINGS
from .chats import MessageSchema
from .common import metadata_field, text


class MessagePostSchema(ma.Schema):
    """What the customer wrote (its longest length is a setting, checked by the service)."""

    content = ma.fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    metadata = metadata_field()


class ProcessedMessageSchema(ma.Schema):
    """The customer's message and the assistant's reply."""

    session_id = ma.fields.UUID(metadata={"description": "For a session's message."})
    conversation_id = ma.fields.UUID(metadata={"description": "For a conversation's message."})
    user_message = ma.fields.Nested(MessageSchema, required=True)
    assistant_message = ma.fields.Nested(
        MessageSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "null while a person of the team has taken the chat over: "
            "they answer it, and their messages (role `agent`) appear in the history."
        },
    )


class FeedbackSchema(ma.Schema):
    """A customer's opinion of a reply; sending it again replaces it."""

    rating = ma.fields.String(required=True, validate=validate.OneOf(FEEDBACK_RATINGS))
    comment = text(2000, allow_none=True)
