"""Who is calling: server keys, widget tokens, and the guard each view declares.

A request's credentials are read once, before the view and before the rate limiter
(which counts per organization), into `g.principal`. Views then declare with
`@requires(...)` which kinds of caller they accept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from functools import wraps
from typing import Any

import jwt
from flask import current_app, g, request

from .errors import Forbidden, Unauthorized
from .models import ApiKey
from .services import origins

TOKEN_ISSUER = "companin"
TOKEN_AUDIENCE = "companin-widget"
TOKEN_ALGORITHM = "HS256"
SIGNING_KEY_FILE = "widget_token.key"

SERVER = "server"
WIDGET = "widget"

# OpenAPI security requirements: both server headers together, or a widget token.
SERVER_SECURITY = {"ServerKey": [], "ServerSecret": []}
WIDGET_SECURITY = {"WidgetToken": []}
SECURITY_SCHEMES = {
    "ServerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "ServerSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
    "WidgetToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}


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


def _server_principal(client_id: str, secret: str) -> Principal:
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


def _widget_principal(key: bytes, token: str) -> Principal:
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


# --- per request -------------------------------------------------------------------------


def authenticate() -> None:
    """Read the request's credentials into `g.principal` (None when it sent none)."""
    g.principal = None
    client_id = request.headers.get("X-API-Key")
    secret = request.headers.get("X-API-Secret")
    authorization = request.headers.get("Authorization", "")
    if client_id is not None or secret is not None:
        if not client_id or not secret:
            raise Unauthorized("Send both X-API-Key and X-API-Secret")
        g.principal = _server_principal(client_id, secret)
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <widget token>'")
        principal = _widget_principal(current_app.extensions["companin"].signing_key, token.strip())
        if not origins.is_allowed(principal.org_id, request.headers.get("Origin")):
            raise Forbidden("Origin not allowed for this organization's widgets")
        g.principal = principal


def current_principal() -> Principal:
    """The caller of a view guarded by `@requires`."""
    return g.principal


def rate_limit_key() -> str:
    """Rate limits count per organization, whichever way it authenticated."""
    principal = g.get("principal")
    return f"org:{principal.org_id}" if principal else "anonymous"


def is_anonymous() -> bool:
    return g.get("principal") is None


def requires(*, widget: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a view: a server key always passes; a widget token only where `widget` is true."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = g.get("principal")
            if principal is None:
                raise Unauthorized()
            if principal.is_widget and not widget:
                raise Forbidden("This route needs a server key (X-API-Key and X-API-Secret)")
            return func(*args, **kwargs)

        security = [SERVER_SECURITY, WIDGET_SECURITY] if widget else [SERVER_SECURITY]
        guarded._apidoc = deepcopy(getattr(func, "_apidoc", {}))
        guarded._apidoc.setdefault("manual_doc", {})["security"] = security
        guarded.widget_access = widget
        return guarded

    return decorator
