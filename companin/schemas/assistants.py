import marshmallow as ma
from marshmallow import validate

from .common import ResourceSchema, StrictBoolean, name, text


class AssistantSchema(ResourceSchema):
    """An assistant persona: how it speaks and what it does."""

    name = name()
    description = text(5000)
    tone = text(100, metadata={"example": "professional"})
    language = text(35, metadata={"example": "en"})
    default_tasks = ma.fields.List(text(200), validate=validate.Length(max=50))
    is_active = StrictBoolean()
    instructions = text(20000)
    model = text(
        200, allow_none=True, metadata={"description": "litellm model; null uses the default"}
    )
    temperature = ma.fields.Float(validate=validate.Range(min=0, max=2))
    fallback_message = text(2000)


class AssistantUpdateSchema(AssistantSchema):
    """The fields to change; any subset (used with partial=True)."""
