"""What every console response shares: error pages instead of the API's JSON envelope,
and headers that keep its pages out of frames, caches and other sites' reach."""

from __future__ import annotations

from flask import Response, make_response, render_template, request
from peewee import IntegrityError, InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from ..auth import is_console_path
from ..errors import (
    DATABASE_UNREACHABLE,
    RACE_LOST,
    RATE_LIMITS_UNREACHABLE,
    ServiceUnavailable,
    database_unavailable,
    error_body,
    handle_http_error,
)
from .blueprint import blp

# Scripts and styles from the console's own static files only (inline styles too: the
# widget draws itself with them in the preview); requests to this server only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

TOO_MANY = "Too many sign-in attempts ({limit}). Wait a minute, then try again."


@blp.after_request
def protect(response: Response) -> Response:
    # A page that must be framed by the console itself (the widget preview) sets its own.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Pages show who is signed in and, soon, customers' messages: never from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(HTTPException)
def http_error_page(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    """A 403, a 429 and the like as a page a person can read."""
    if error.code is None or (error.code >= 500 and not isinstance(error, ServiceUnavailable)):
        return unexpected_error_page(error)
    if error.code == 429:
        message = TOO_MANY.format(limit=error.description)
    else:
        message = str(error.description)
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    return _page(error.code, error.name, message), error.code, headers


@blp.errorhandler(IntegrityError)
def race_lost_page(error: IntegrityError) -> tuple[str, int, dict[str, str]]:
    """A unique key taken by a concurrent request (see errors.RACE_LOST)."""
    return http_error_page(RACE_LOST)


@blp.errorhandler(OperationalError)
@blp.errorhandler(InterfaceError)
def database_error_page(error: OperationalError | InterfaceError):
    """The database down or locked too long: a 503 page that says so (errors.py)."""
    if not database_unavailable(error):
        return unexpected_error_page(error)
    return http_error_page(DATABASE_UNREACHABLE)


@blp.errorhandler(RedisConnectionError)
@blp.errorhandler(RedisTimeoutError)
def rate_limit_store_error_page(error: RedisConnectionError | RedisTimeoutError):
    """Redis down, where sign-in attempts are counted: a 503 page that says so."""
    return http_error_page(RATE_LIMITS_UNREACHABLE)


@blp.errorhandler(InternalServerError)
@blp.errorhandler(Exception)
def unexpected_error_page(error: Exception) -> tuple[str, int]:
    """A failure of ours: logged by request id (the envelope's logging), never shown."""
    detail = error_body(error)["detail"]
    return _page(500, "Something went wrong", detail), 500


@blp.app_errorhandler(NotFound)
@blp.app_errorhandler(MethodNotAllowed)
def routing_error(error: HTTPException):
    """A 404 or 405 of routing belongs to no blueprint, so it reaches the app: a console
    address gets a page (with the console's headers), any other the API's envelope."""
    if not is_console_path(request.path):
        return handle_http_error(error)
    return protect(make_response(http_error_page(error)))


def _page(status: int, title: str, message: str) -> str:
    return render_template("console/error.html", status=status, title=title, message=message)
