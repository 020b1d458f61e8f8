"""Who is calling this request, and the guard each view declares.

A request's credentials are read once, before the view and before the rate limiter
(which counts per organization), into `g.principal`. Views then declare with
`@requires(...)` which kinds of caller they accept. Checking a key or a token is
`identity.py`'s work; this module only knows where a request keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

from flask import g, request

from .errors import Forbidden, Unauthorized
from .identity import Principal, server_principal, widget_principal_from_token
from .services import origins
from .state import app_state

# OpenAPI security requirements: both server headers together, or a widget token.
SERVER_SECURITY = {"ServerKey": [], "ServerSecret": []}
WIDGET_SECURITY = {"WidgetToken": []}
SECURITY_SCHEMES = {
    "ServerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "ServerSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
    "WidgetToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}


# Where the team's console lives (companin/console). It signs people in with a cookie of
# its own and is not the API: API credentials are not read there, so that a reverse proxy's
# Basic auth in front of it, say, cannot turn a page into a JSON 401.
CONSOLE_PREFIX = "/console"


def is_console_path(path: str) -> bool:
    """Is `path` one of the console's, whether a route matches it or not?"""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def authenticate() -> None:
    """Read the request's credentials into `g.principal` (None when it sent none)."""
    g.principal = None
    if is_console_path(request.path):
        return
    client_id = request.headers.get("X-API-Key")
    secret = request.headers.get("X-API-Secret")
    authorization = request.headers.get("Authorization", "")
    if client_id is not None or secret is not None:
        if not client_id or not secret:
            raise Unauthorized("Send both X-API-Key and X-API-Secret")
        g.principal = server_principal(client_id, secret)
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <widget token>'")
        principal = widget_principal_from_token(app_state().signing_key, token.strip())
        origin = origins.as_sent(request.headers.get("Origin"), request.host_url)
        if not origins.is_allowed(principal.org_id, origin):
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


def is_poll() -> bool:
    """Is this a read of a chat's newest messages (`GET .../messages?after=`), which an
    open widget repeats every few seconds? Those are limited per chat, not counted
    against the organization's budget, which they would soon use up."""
    return (
        request.method == "GET" and "after" in request.args and request.path.endswith("/messages")
    )


def spends_no_budget() -> bool:
    """Not counted against an organization's budget: anonymous calls and polls."""
    return is_anonymous() or is_poll()


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
