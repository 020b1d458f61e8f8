"""Organizations and their server keys (used by the command line)."""

from __future__ import annotations

from dataclasses import dataclass

from ..db import write_transaction
from ..errors import NotFound
from ..identity import SERVER, Principal, hash_secret, new_client_id, new_client_secret
from ..models import ApiKey, Organization


@dataclass(frozen=True)
class Credentials:
    organization_id: str
    client_id: str
    client_secret: str


def create_organization(name: str) -> Credentials:
    """A new organization with its first server key; the secret is only in the result."""
    secret = new_client_secret()
    with write_transaction():
        org = Organization.create(name=name)
        key = ApiKey.create(
            organization=org, client_id=new_client_id(), secret_hash=hash_secret(secret)
        )
    return Credentials(str(org.id), key.client_id, secret)


def rotate_secret(client_id: str) -> Credentials:
    """Replace a key's secret; the old one stops working at once."""
    key = _key(client_id)
    secret = new_client_secret()
    with write_transaction():
        key.secret_hash = hash_secret(secret)
        key.save()
    return Credentials(str(key.organization_id), key.client_id, secret)


def principal_for(client_id: str) -> Principal:
    """Act as the organization of a server key (for the command line)."""
    return Principal(kind=SERVER, org_id=_key(client_id).organization_id)


def _key(client_id: str) -> ApiKey:
    key = ApiKey.get_or_none(ApiKey.client_id == client_id)
    if key is None:
        raise NotFound(f"No API key with client id {client_id}")
    return key
