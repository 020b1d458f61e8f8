"""The envelope every response shares, as documented in OpenAPI."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

_ENVELOPE_SCHEMAS: dict[tuple[str, bool], type[ma.Schema]] = {}


class EnvelopeSchema(ma.Schema):
    """The fields every response shares; `data` is refined per route."""

    status = ma.fields.String(required=True, metadata={"enum": ["success", "error"]})
    status_code = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    data = ma.fields.Raw(required=True, allow_none=True)


class ErrorEnvelopeSchema(EnvelopeSchema):
    """An error: `data` is null or, for validation errors, the messages of each bad field."""

    data = ma.fields.Dict(required=True, allow_none=True)


def envelope_schema(schema: ma.Schema | None, lift: bool = False) -> type[ma.Schema]:
    """The documented envelope around `schema` (one class per schema, so names stay unique).

    With `lift`, the fields of `data` also stand at the top level.
    """
    if schema is None:
        return EnvelopeSchema
    name = type(schema).__name__.removesuffix("Schema")
    key = (name, bool(schema.many))
    if key not in _ENVELOPE_SCHEMAS:
        fields: dict[str, Any] = dict(type(schema)._declared_fields) if lift else {}
        fields["data"] = ma.fields.Nested(type(schema), many=schema.many, required=True)
        class_name = f"{name}{'List' if schema.many else ''}EnvelopeSchema"
        _ENVELOPE_SCHEMAS[key] = type(class_name, (EnvelopeSchema,), fields)
    return _ENVELOPE_SCHEMAS[key]
