"""CSRF tokens of the console's forms: every POST carries one in a hidden field.

Signed in, the token is the session's. Signing in, there is no session yet: the token is
also in a cookie (double submit), which another site can neither read nor set.
"""

from __future__ import annotations

import hmac
import re
import secrets

from flask import request

from ..errors import Forbidden

FIELD = "csrf_token"
REFUSED = (
    "This form did not come from this console, or it is too old. "
    "Go back, reload the page and try again."
)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what new_token makes


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_token(value: str | None) -> bool:
    """Does `value` look like a token we made (a cookie may hold anything)?"""
    return bool(value and _TOKEN.match(value))


def check_form_token(expected: str | None) -> None:
    """The POSTed form's token must be `expected`; otherwise 403, before anything changes."""
    sent = request.form.get(FIELD, "")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(REFUSED)
