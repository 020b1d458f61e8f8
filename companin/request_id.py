"""Every response carries an X-Request-ID: the client's own when it sent a sane one."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str:
    """This request's id, chosen on first use."""
    if not has_request_context():
        return "-"
    if "request_id" not in g:
        sent = request.headers.get("X-Request-ID", "")
        g.request_id = sent if _SANE.match(sent) else uuid.uuid4().hex
    return g.request_id


def _send(response: Response) -> Response:
    response.headers["X-Request-ID"] = current_request_id()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_send)
