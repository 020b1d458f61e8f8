"""The error hierarchy services raise, and the one handler that writes every error envelope."""

from __future__ import annotations

import logging
import sqlite3
import traceback
from typing import Any

from flask import Flask, g, jsonify
from peewee import IntegrityError, InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from .llm.errors import ProviderError
from .request_id import current_request_id

log = logging.getLogger(__name__)


class CompaninError(HTTPException):
    """An error a client can act on. `data` goes into the envelope's `data`."""

    code = 400
    description = "Bad request"

    def __init__(self, detail: str | None = None, *, data: Any = None) -> None:
        super().__init__(detail or self.description)
        self.data = {"messages": data} if data is not None else None


class Unauthorized(CompaninError):
    code = 401
    description = "Authentication required - send X-API-Key and X-API-Secret, or a Bearer token"


class Forbidden(CompaninError):
    code = 403
    description = "Not allowed with these credentials"


class NotFound(CompaninError):
    code = 404
    description = "Not found"


class Conflict(CompaninError):
    code = 409
    description = "Conflict with the current state"


class ServiceUnavailable(CompaninError):
    code = 503
    description = "A part of the service is unavailable - try again shortly"


class PayloadTooLarge(CompaninError):
    code = 413
    description = "Request body too large"


class ValidationFailed(CompaninError):
    """A body that parsed but refers to something that does not exist or cannot be used."""

    code = 422
    description = "Validation failed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"Invalid value for {field}: {message}", data={"json": {field: [message]}})


def envelope(status_code: int, detail: str, data: Any = None) -> dict[str, Any]:
    """The body shape every JSON response shares."""
    status = "success" if status_code < 400 else "error"
    return {"status": status, "status_code": status_code, "detail": detail, "data": data}


def error_body(error: BaseException) -> dict[str, Any]:
    """The envelope of any exception, logged as its kind needs: the one mapping that the
    JSON error handlers and a stream's `error` event share."""
    if isinstance(error, ProviderError):
        log.warning("model provider failed: %s", error)
        return envelope(error.status, f"{error.title}: {error}")
    if isinstance(error, ServiceUnavailable):  # an engine is down: say which, as a warning
        log.warning("unavailable: %s", error.description)
        return envelope(503, str(error.description))
    if isinstance(error, HTTPException) and error.code is not None and error.code < 500:
        extra = getattr(error, "data", None) or {}
        return envelope(error.code, _detail(error), extra.get("messages"))
    original = getattr(error, "original_exception", None) or error
    request_id = current_request_id()
    frame = traceback.extract_tb(original.__traceback__)[-1:] if original.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    # The class and the place are enough to find it; the message may carry SQL or data.
    log.error("request %s failed: %s%s", request_id, type(original).__name__, where)
    return envelope(500, f"Internal server error - request id {request_id}")


def handle_http_error(error: HTTPException):
    """Write any HTTP error (ours, werkzeug's, webargs', the limiter's) as the envelope.
    A 5xx is shown only when it is ours and says what is down (ServiceUnavailable)."""
    if error.code is None or (error.code >= 500 and not isinstance(error, ServiceUnavailable)):
        return handle_unexpected(error)
    extra = getattr(error, "data", None) or {}
    headers = dict(extra.get("headers") or {})
    # Keep the headers werkzeug computes (Allow on 405, for instance), not its HTML body.
    for name, value in error.get_headers():
        if name.lower() not in {"content-type", "content-length"}:
            headers[name] = value
    return jsonify(error_body(error)), error.code, headers


def handle_provider_error(error: ProviderError):
    """A model provider's failure: 502, 503 or 504, with its (key-free) reason."""
    g.provider_retry_after = error.retry_after  # sent by extensions.keep_retry_after_for_429
    return jsonify(error_body(error)), error.status


# Two requests that create the same unique thing at once (a user context's reference,
# say): on SQLite the write lock orders them and the second sees the first; on PostgreSQL
# both may pass the check, and the database refuses the second.
RACE_LOST = Conflict("Another request made the same change at the same moment - retry")


def handle_integrity_error(error: IntegrityError):
    """A unique key taken by a concurrent request: 409, not 500."""
    return handle_http_error(RACE_LOST)


DATABASE_UNREACHABLE = ServiceUnavailable(
    "The database cannot be reached or is busy - try again shortly"
)


# What SQLite says when it is busy or its file cannot be reached. It raises the same
# OperationalError for a mistake in a query ("no such column"), which stays a 500.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "readonly")


def database_unavailable(error: OperationalError | InterfaceError) -> bool:
    """Is the database down, unreachable or locked too long (rather than a query wrong)?"""
    if not isinstance(error.__context__, sqlite3.Error):
        return True  # PostgreSQL reports a wrong query as a ProgrammingError
    message = str(error).lower()
    return any(sign in message for sign in _SQLITE_UNAVAILABLE)


def handle_database_error(error: OperationalError | InterfaceError):
    """The database is down, unreachable or locked too long: 503, and the next request
    connects again (each request opens its own connection)."""
    if not database_unavailable(error):
        return handle_unexpected(error)
    return handle_http_error(DATABASE_UNREACHABLE)


RATE_LIMITS_UNREACHABLE = ServiceUnavailable(
    "The rate-limit store (Redis) cannot be reached - try again shortly"
)


def handle_rate_limit_store_error(error: RedisConnectionError | RedisTimeoutError):
    """Redis, where every process counts its requests, is down: 503 for what it counts,
    until it is back (the client connects again by itself)."""
    return handle_http_error(RATE_LIMITS_UNREACHABLE)


def handle_unexpected(error: Exception):
    """Log an unexpected failure by request id, never show its internals."""
    return jsonify(error_body(error)), 500


def _detail(error: HTTPException) -> str:
    if isinstance(error, CompaninError):
        return str(error.description)
    if error.code == 422:
        return "Validation failed - see data for each field"
    if error.code == 429:
        return f"Rate limit exceeded ({error.description})"
    if error.code == 413:
        return "Request body too large"
    if error.code == 400 and getattr(error, "data", None):
        return "Bad request - see data"
    return f"{error.name} - {error.description}" if error.description else error.name


def register_error_handlers(app: Flask) -> None:
    """Route every exception through the envelope writers (replaces flask-smorest's own)."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ProviderError, handle_provider_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(OperationalError, handle_database_error)
    app.register_error_handler(InterfaceError, handle_database_error)
    app.register_error_handler(RedisConnectionError, handle_rate_limit_store_error)
    app.register_error_handler(RedisTimeoutError, handle_rate_limit_store_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
