"""Widget configs: an assistant's look and greeting on a web site."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ModelSelect

from ..identity import Principal
from ..models import WidgetConfig
from .records import create_owned, delete_row, get_owned, owned, referenced_assistant, update_row


def list_configs(principal: Principal) -> ModelSelect:
    """The organization's widget configs, oldest first."""
    return owned(WidgetConfig, principal.org_id)


def get_config(principal: Principal, config_id: uuid.UUID) -> WidgetConfig:
    return get_owned(WidgetConfig, principal.org_id, config_id)


def create_config(principal: Principal, fields: dict[str, Any]) -> WidgetConfig:
    fields["assistant"] = referenced_assistant(principal.org_id, fields.pop("assistant_id"))
    return create_owned(WidgetConfig, principal.org_id, fields)


def update_config(
    principal: Principal, config_id: uuid.UUID, fields: dict[str, Any]
) -> WidgetConfig:
    config = get_config(principal, config_id)
    if "assistant_id" in fields:
        fields["assistant"] = referenced_assistant(principal.org_id, fields.pop("assistant_id"))
    return update_row(config, fields)


def delete_config(principal: Principal, config_id: uuid.UUID) -> None:
    delete_row(get_config(principal, config_id))
