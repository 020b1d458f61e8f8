"""Fields and bases the resource schemas share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ..services.origins import normalize


class UTCDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a `Z`, as the API promises (the database stores naive UTC)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def text(max_length: int, **kwargs: Any) -> ma.fields.String:
    """A string field with a length cap (every free text has one)."""
    return ma.fields.String(validate=validate.Length(max=max_length), **kwargs)


def name(max_length: int = 200, **kwargs: Any) -> ma.fields.String:
    """A required, non-empty name."""
    return ma.fields.String(
        required=True, validate=validate.Length(min=1, max=max_length), **kwargs
    )


def metadata_field(**kwargs: Any) -> ma.fields.Dict:
    """Free-form JSON object supplied by the client."""
    return ma.fields.Dict(keys=ma.fields.String(validate=validate.Length(max=200)), **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """A JSON true or false: "false", "yes" or 0 are refused rather than guessed at."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class OriginField(ma.fields.String):
    """A web origin such as `https://shop.example.com`, stored normalized."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        origin = normalize(raw)
        if origin is None:
            raise ma.ValidationError("Not an origin: use scheme://host[:port], no path.")
        return origin


class ResourceSchema(ma.Schema):
    """Fields every stored resource has, set by the server."""

    id = ma.fields.UUID(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
