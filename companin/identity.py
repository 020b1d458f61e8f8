"""Who a caller is, without a request: principals, server keys and widget tokens.

Services act for a `Principal` and the command line makes keys, neither with a request
at hand, so all of this lives here, free of Flask. `auth.py` reads a request's headers
and hands them to `server_principal` or `widget_principal_from_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from .errors import Unauthorized
from .models import ApiKey

TOKEN_ISSUER = "companin"
TOKEN_AUDIENCE = "companin-widget"
TOKEN_ALGORITHM = "HS256"
SIGNING_KEY_FILE = "widget_token.key"

SERVER = "server"
WIDGET = "widget"
CONSOLE = "console"  # a person of the team, signed in to the console


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. Widget callers carry their token's bindings."""

    kind: str
    org_id: uuid.UUID
    assistant_id: uuid.UUID | None = None
    config_id: uuid.UUID | None = None
    subject: str | None = None

    @property
    def is_widget(self) -> bool:
        return self.kind == WIDGET


# --- server keys -------------------------------------------------------------------------


def new_client_id() -> str:
    """A public, unguessable client id."""
    return "cmp_" + secrets.token_hex(12)


def new_client_secret() -> str:
    """A secret with 256 bits of entropy, shown to its owner once."""
    return "cms_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256 is enough here: the secrets are random, not passwords, so nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


def server_principal(client_id: str, secret: str) -> Principal:
    """The organization whose server key this is, or Unauthorized."""
    key = ApiKey.get_or_none(ApiKey.client_id == client_id)
    # Compare against a dummy hash for unknown ids too, so timing says nothing about them.
    expected = key.secret_hash if key else hash_secret(secrets.token_hex(8))
    if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
        raise Unauthorized("Invalid API key or secret")
    return Principal(kind=SERVER, org_id=key.organization_id)


# --- widget tokens -----------------------------------------------------------------------


def load_signing_key(instance_path: str) -> bytes:
    """The instance's token key, created on first use, readable by its owner only."""
    path = os.path.join(instance_path, SIGNING_KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as handle:
            return bytes.fromhex(handle.read().decode().strip())
    key = secrets.token_bytes(64)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key


def issue_widget_token(key: bytes, principal: Principal, ttl: int) -> str:
    """Sign a widget token carrying the principal's organization and bindings."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "sub": principal.subject,
        "org": str(principal.org_id),
    }
    if principal.assistant_id:
        claims["ast"] = str(principal.assistant_id)
    if principal.config_id:
        claims["cfg"] = str(principal.config_id)
    return jwt.encode(claims, key, algorithm=TOKEN_ALGORITHM)


def widget_principal_from_token(key: bytes, token: str) -> Principal:
    """The principal a widget token carries, or Unauthorized (saying so when it expired)."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[TOKEN_ALGORITHM],  # pinned: "none" and RS/HS confusion are refused
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "jti", "sub", "org"]},
        )
        return Principal(
            kind=WIDGET,
            org_id=uuid.UUID(claims["org"]),
            assistant_id=uuid.UUID(claims["ast"]) if claims.get("ast") else None,
            config_id=uuid.UUID(claims["cfg"]) if claims.get("cfg") else None,
            subject=str(claims["sub"]),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Widget token expired - request a new one") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("Invalid widget token") from None
