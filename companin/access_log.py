"""One log line per request: method, path, status, time and request id.

The query string and headers are left out: they are where credentials would travel. So
is the one credential that travels in a path, an invitation link's token.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request

from .request_id import current_request_id

log = logging.getLogger("companin.access")

# /console/invitations/<token>: whoever reads the log must not be able to accept it.
_SECRET_IN_PATH = re.compile(r"^(/console/invitations/)[^/]+")


def logged_path(path: str) -> str:
    return _SECRET_IN_PATH.sub(r"\1…", path)


def _start() -> None:
    g.started_at = time.perf_counter()


def _record(response: Response) -> Response:
    elapsed_ms = (time.perf_counter() - g.get("started_at", time.perf_counter())) * 1000
    log.info(
        "%s %s %s %.1fms id=%s",
        request.method,
        logged_path(request.path),
        response.status_code,
        elapsed_ms,
        current_request_id(),
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_record)
