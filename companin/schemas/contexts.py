import marshmallow as ma
from marshmallow import validate

from ..models import UserContext
from .common import ResourceSchema, metadata_field


class ContextSchema(ResourceSchema):
    """What the business knows about one of its users, for personalised answers."""

    user_reference = ma.fields.String(
        required=True, validate=validate.Length(min=1, max=UserContext.user_reference.max_length)
    )
    traits = metadata_field()


class ContextTraitsSchema(ma.Schema):
    """The traits of a context: replaced by PUT, merged by PATCH (null removes a trait)."""

    traits = metadata_field(required=True)
