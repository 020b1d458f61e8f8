"""One log line per request: method, path, status, time and request id.

The query string and headers are left out: they are where credentials would travel.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from .request_id import current_request_id

log = logging.getLogger("companin.access")


def _start() -> None:
    g.started_at = time.perf_counter()


def _record(response: Response) -> Response:
    elapsed_ms = (time.perf_counter() - g.get("started_at", time.perf_counter())) * 1000
    log.info(
        "%s %s %s %.1fms id=%s",
        request.method,
        request.path,
        response.status_code,
        elapsed_ms,
        current_request_id(),
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_record)
