"""User contexts: what a business knows about its customers, keyed by its own reference."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import ModelSelect

from ..db import write_transaction
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity import Principal
from ..models import UserContext
from .records import create_owned, delete_row, owned, update_row

MAX_REFERENCE_LENGTH = UserContext.user_reference.max_length


def list_contexts(principal: Principal) -> ModelSelect:
    """The organization's user contexts, oldest first."""
    return owned(UserContext, principal.org_id)


def find_context(org_id: uuid.UUID, key: str) -> UserContext | None:
    """A context by its id or, failing that, by its user_reference."""
    query = owned(UserContext, org_id)
    try:
        by_id = query.where(UserContext.id == uuid.UUID(key)).first()
    except ValueError:
        by_id = None
    return by_id or query.where(UserContext.user_reference == key).first()


def get_context(principal: Principal, key: str) -> UserContext:
    context = find_context(principal.org_id, key)
    if context is None:
        raise NotFound("User context not found")
    return context


def create_context(principal: Principal, fields: dict[str, Any]) -> UserContext:
    """A new context; its user_reference must be new to the organization."""
    with write_transaction():
        taken = owned(UserContext, principal.org_id).where(
            UserContext.user_reference == fields["user_reference"]
        )
        if taken.exists():
            raise Conflict("A user context with this user_reference exists - use PUT to replace it")
        return create_owned(UserContext, principal.org_id, fields)


def put_context(principal: Principal, key: str, traits: dict[str, Any]) -> UserContext:
    """Replace the traits of the context `key` names (its id or user_reference), or create
    the context of user_reference `key`."""
    if len(key) > MAX_REFERENCE_LENGTH:
        raise ValidationFailed("user_reference", f"Longer than {MAX_REFERENCE_LENGTH} characters.")
    with write_transaction():
        context = find_context(principal.org_id, key)
        if context is None:
            fields = {"user_reference": key, "traits": traits}
            return create_owned(UserContext, principal.org_id, fields)
        return update_row(context, {"traits": traits})


def patch_context(principal: Principal, key: str, traits: dict[str, Any]) -> UserContext:
    """Merge `traits` into the context's (RFC 7396: nested objects merge, null removes)."""
    with write_transaction():
        context = get_context(principal, key)
        return update_row(context, {"traits": merge_patch(context.traits, traits)})


def delete_context(principal: Principal, key: str) -> None:
    """Delete it; conversations that used it keep going without one."""
    delete_row(get_context(principal, key))


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7396)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
