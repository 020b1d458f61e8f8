import marshmallow as ma
from marshmallow import validate


class WidgetTokenRequestSchema(ma.Schema):
    client_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    assistant_id = ma.fields.UUID(metadata={"description": "Bind the token to this assistant."})
    config_id = ma.fields.UUID(metadata={"description": "Bind the token to this widget config."})
    visitor_key = ma.fields.String(
        validate=validate.Length(min=16, max=128),
        metadata={
            "description": "A random secret the widget keeps for its visitor, so that the "
            "visitor's later tokens reach the same sessions."
        },
    )


class WidgetTokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    token_type = ma.fields.String(required=True)
