"""Sessions (anonymous visitors), conversations (known customers) and their messages."""

import marshmallow as ma
from marshmallow import validate

from .common import ResourceSchema, UTCDateTime, metadata_field, text


class SessionSchema(ResourceSchema):
    """An anonymous visitor's chat with an assistant."""

    assistant_id = ma.fields.UUID(required=True)
    visitor_id = text(200, allow_none=True)
    locale = text(35, allow_none=True)
    metadata = metadata_field()


class SessionUpdateSchema(SessionSchema):
    """What may change in a session: not its assistant."""

    class Meta:
        exclude = ("assistant_id",)


class SessionQueryArgsSchema(ma.Schema):
    assistant_id = ma.fields.UUID()
    visitor_id = text(200)


class ConversationSchema(ResourceSchema):
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

    class Meta:
        exclude = ("assistant_id", "customer_id")


class ConversationQueryArgsSchema(ma.Schema):
    assistant_id = ma.fields.UUID()
    customer_id = text(200)


class SourceSchema(ma.Schema):
    source_id = ma.fields.String()
    type = ma.fields.String()
    title = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    snippet = ma.fields.String()
    score = ma.fields.Float()


class MessageSchema(ma.Schema):
    """One turn of a chat."""

    id = ma.fields.UUID(dump_only=True)
    role = ma.fields.String(metadata={"enum": ["user", "assistant"]})
    content = ma.fields.String()
    metadata = ma.fields.Dict()
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), allow_none=True)
    handoff = ma.fields.Boolean()
    model = ma.fields.String(allow_none=True)
    usage = ma.fields.Dict(allow_none=True)
    latency_ms = ma.fields.Integer(allow_none=True)
    created_at = UTCDateTime(dump_only=True)
