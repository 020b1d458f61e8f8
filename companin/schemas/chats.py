"""Sessions (anonymous visitors), conversations (known customers) and their messages."""

import marshmallow as ma
from marshmallow import validate

from ..enums import FEEDBACK_RATINGS, MESSAGE_ROLES
from .common import ResourceSchema, StrictBoolean, UTCDateTime, metadata_field, text


class ChatSchema(ResourceSchema):
    """Whether the assistant handed the chat to a person, and when; the team clears it."""

    handoff = ma.fields.Boolean(
        dump_only=True, metadata={"description": "The assistant asked for a person."}
    )
    handoff_at = UTCDateTime(dump_only=True, allow_none=True)
    taken_over_by = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The display name of the person of the team answering the chat "
            "(the assistant stays quiet meanwhile), or null."
        },
    )
    last_message_at = UTCDateTime(dump_only=True, allow_none=True)


def handoff_update() -> StrictBoolean:
    return StrictBoolean(metadata={"description": "false once the handoff is dealt with."})


class SessionSchema(ChatSchema):
    """An anonymous visitor's chat with an assistant."""

    assistant_id = ma.fields.UUID(required=True)
    visitor_id = text(200, allow_none=True)
    locale = text(35, allow_none=True)
    metadata = metadata_field()


class SessionUpdateSchema(SessionSchema):
    """What may change in a session: not its assistant."""

    handoff = handoff_update()

    class Meta:
        exclude = ("assistant_id",)


class HistoryArgsSchema(ma.Schema):
    after = ma.fields.UUID(
        metadata={
            "description": "Only the messages that came after this one (a message of the "
            "chat): how the widget polls for a team member's replies."
        }
    )


class SessionQueryArgsSchema(ma.Schema):
    assistant_id = ma.fields.UUID()
    visitor_id = text(200)
    handoff = ma.fields.Boolean(metadata={"description": "Only chats handed off (or not)."})


class ConversationSchema(ChatSchema):
    """A known customer's chat, optionally personalised by a user context."""

    assistant_id = ma.fields.UUID(required=True)
    customer_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    title = text(500, allow_none=True)
    locale = text(35, allow_none=True)
    user_context_id = text(
        200,
        allow_none=True,
        metadata={"description": "A user context's id or its user_reference."},
    )
    metadata = metadata_field()


class ConversationUpdateSchema(ConversationSchema):
    """What may change in a conversation: not its assistant or customer."""

    handoff = handoff_update()

    class Meta:
        exclude = ("assistant_id", "customer_id")


class ConversationQueryArgsSchema(ma.Schema):
    assistant_id = ma.fields.UUID()
    customer_id = text(200)
    handoff = ma.fields.Boolean(metadata={"description": "Only chats handed off (or not)."})


class SourceSchema(ma.Schema):
    """A passage a reply was written from."""

    source_id = ma.fields.String()
    type = ma.fields.String()
    title = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    page = ma.fields.Integer(allow_none=True)
    snippet = ma.fields.String()
    score = ma.fields.Float()


class FeedbackDumpSchema(ma.Schema):
    rating = ma.fields.String(
        attribute="feedback_rating", metadata={"enum": list(FEEDBACK_RATINGS)}
    )
    comment = ma.fields.String(attribute="feedback_comment", allow_none=True)
    created_at = UTCDateTime(attribute="feedback_at")


class MessageSchema(ma.Schema):
    """One turn of a chat."""

    id = ma.fields.UUID(dump_only=True)
    role = ma.fields.String(metadata={"enum": list(MESSAGE_ROLES)})
    author = ma.fields.String(allow_none=True, metadata={"description": "An agent's name."})
    content = ma.fields.String()
    metadata = ma.fields.Dict()
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), allow_none=True)
    handoff = ma.fields.Boolean()
    model = ma.fields.String(allow_none=True)
    usage = ma.fields.Dict(allow_none=True)
    latency_ms = ma.fields.Integer(allow_none=True)
    feedback = ma.fields.Method("_feedback", allow_none=True)
    created_at = UTCDateTime(dump_only=True)

    def _feedback(self, message) -> dict | None:
        if not message.feedback_rating:
            return None
        return FeedbackDumpSchema().dump(message)
