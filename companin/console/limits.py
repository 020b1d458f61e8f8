"""How signing in to the console is rate limited: what is counted, and how much."""

from __future__ import annotations

import hashlib

from flask import current_app, request

from ..services.people import normalize_email


def sign_in_limit() -> str:
    """Sign-in attempts allowed per client IP, and again per email address."""
    return current_app.config["CONSOLE_SIGN_IN_RATE_LIMIT"]


def submitted_email() -> str:
    """The address a sign-in is for, as a counter's key. Hashed: the counters may live
    in a shared store (Redis), which has no need to hold people's addresses."""
    address = normalize_email(request.form.get("email", ""))
    return "console-sign-in:" + hashlib.sha256(address.encode()).hexdigest()
