"""CORS for the widget routes only: browsers may call them, never the server-key routes.

Preflights carry no credentials, so they are answered from the origins any organization
accepts; each real request is then checked against its own organization (`auth`).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from .errors import Forbidden
from .services import origins

ALLOWED_HEADERS = "Authorization, Content-Type, Accept, X-Request-ID, Idempotency-Key"
EXPOSED_HEADERS = (
    "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    "Retry-After, X-Pagination"
)


def is_widget_route(method: str) -> bool:
    """Does the matched route accept widget tokens (or issue them) for `method`?"""
    rule = request.url_rule
    if rule is None or method not in rule.methods:
        return False
    view = current_app.view_functions.get(rule.endpoint)
    handler = getattr(getattr(view, "view_class", None), method.lower(), view)
    return bool(getattr(handler, "widget_access", False))


def answer_preflight() -> Response | None:
    """Answer a browser's preflight; anything else goes on to the view."""
    wanted = request.headers.get("Access-Control-Request-Method")
    if request.method != "OPTIONS" or not wanted:
        return None
    origin = request.headers.get("Origin")
    if not is_widget_route(wanted.upper()) or not origins.allowed_by_any_organization(origin):
        raise Forbidden("Cross-origin requests are not allowed here")
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = wanted.upper()
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def add_cors_headers(response: Response) -> Response:
    """Let a browser read a widget route's answer (errors included) from an accepted origin."""
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method") or request.method
    if not origin or not is_widget_route(method.upper()):
        return response
    response.vary.add("Origin")  # the answer depends on the origin, allowed or not
    if origins.allowed_by_any_organization(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def init_app(app: Flask) -> None:
    app.before_request(answer_preflight)
    app.after_request(add_cors_headers)
