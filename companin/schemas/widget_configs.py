import marshmallow as ma
from marshmallow import validate

from .common import OriginField, ResourceSchema, StrictBoolean, text


class ThemeSchema(ma.Schema):
    primary_color = ma.fields.String(
        validate=validate.Regexp(r"^#[0-9A-Fa-f]{6}$", error="Use a #RRGGBB colour.")
    )
    position = ma.fields.String(validate=validate.OneOf(["bottom-right", "bottom-left"]))
    title = text(100)
    launcher_text = text(
        60, metadata={"description": "The launcher button's words (default: the title)."}
    )


class WidgetConfigSchema(ResourceSchema):
    """How a web widget looks, greets, and where it may be embedded."""

    assistant_id = ma.fields.UUID(required=True)
    name = text(200)
    greeting = text(1000)
    suggested_questions = ma.fields.List(text(300), validate=validate.Length(max=10))
    theme = ma.fields.Nested(ThemeSchema)
    allowed_origins = ma.fields.List(
        OriginField(),
        validate=validate.Length(max=50),
        metadata={"description": "Origins that may embed the widget; empty allows any."},
    )
    show_sources = StrictBoolean()


class WidgetConfigUpdateSchema(WidgetConfigSchema):
    assistant_id = ma.fields.UUID()
