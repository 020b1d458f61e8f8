"""Reading and writing an organization's rows: every lookup is scoped to its owner."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from peewee import ModelSelect

from ..db import write_transaction
from ..errors import NotFound, ValidationFailed
from ..models import Assistant, OwnedModel

Row = TypeVar("Row", bound=OwnedModel)


def label(model: type[OwnedModel]) -> str:
    """ "WidgetConfig" -> "Widget config", for messages."""
    words = "".join(f" {c}" if c.isupper() else c for c in model.__name__).split()
    return " ".join([words[0], *(w.lower() for w in words[1:])])


def owned(
    model: type[Row], org_id: uuid.UUID, filters: dict[str, Any] | None = None
) -> ModelSelect:
    """The organization's rows of `model`, oldest first, matching every filter.

    Filters are keyed by column name, so `assistant_id` filters on the assistant.
    """
    query = model.select().where(model.organization == org_id)
    for column, value in (filters or {}).items():
        query = query.where(model._meta.columns[column] == value)
    return query.order_by(model.created_at, model.id)


def get_owned(
    model: type[Row], org_id: uuid.UUID, row_id: uuid.UUID, *, joined: tuple[type, ...] = ()
) -> Row:
    """One row of the organization; another organization's row is as absent as a missing one.

    `joined`: models its (required) foreign keys lead to, read in the same query, so that
    `row.assistant` costs no second query."""
    query = owned(model, org_id).where(model.id == row_id)
    for related in joined:
        query = query.select_extend(*related._meta.sorted_fields).join_from(model, related)
    row = query.first()
    if row is None:
        raise NotFound(f"{label(model)} not found")
    return row


def create_owned(model: type[Row], org_id: uuid.UUID, fields: dict[str, Any]) -> Row:
    with write_transaction():
        return model.create(organization=org_id, **fields)


def update_row(row: Row, fields: dict[str, Any]) -> Row:
    for name, value in fields.items():
        setattr(row, name, value)
    with write_transaction():
        row.save()
    return row


def delete_row(row: OwnedModel) -> None:
    with write_transaction():
        row.delete_instance()


def referenced_assistant(org_id: uuid.UUID, assistant_id: uuid.UUID) -> Assistant:
    """The assistant a request body names, or a 422 on that field."""
    assistant = owned(Assistant, org_id).where(Assistant.id == assistant_id).first()
    if assistant is None:
        raise ValidationFailed("assistant_id", "Assistant not found.")
    return assistant
