"""Signing in to the console and out of it.

Neither the API's authentication nor its per-organization budget applies here (no caller
of the console is an organization's key); signing in has limits of its own instead.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address

from ..errors import Unauthorized
from ..extensions import limiter
from ..models import User
from ..services import people
from . import csrf
from .blueprint import blp
from .cookies import (
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    clear_console_cookie,
    set_console_cookie,
)
from .guard import console_requires, signed_in
from .limits import sign_in_limit, submitted_email


@blp.get("/sign-in")
@limiter.exempt
def sign_in_form() -> Response:
    """The sign-in form (or home, for someone signed in already)."""
    if signed_in() is not None:
        return redirect(url_for(".home"))
    return _sign_in_page()


# Per IP, and per address from however many IPs: guessing one person's password is
# slowed down as much as trying a few passwords against everybody.
@blp.post("/sign-in")
@limiter.limit(sign_in_limit, key_func=get_remote_address)
@limiter.limit(sign_in_limit, key_func=submitted_email)
def sign_in() -> Response:
    """Check the email address and password; on success, start a session."""
    csrf.check_form_token(request.cookies.get(SIGN_IN_CSRF_COOKIE))
    email = request.form.get("email", "")
    try:
        user = people.authenticate(email, request.form.get("password", ""))
    except Unauthorized as refused:
        return _sign_in_page(email=email, error=str(refused.description), status=401)
    return signed_in_response(user)


@blp.post("/sign-out")
@limiter.exempt
@console_requires("agent")
def sign_out() -> Response:
    """End the session on the server, then forget the cookie."""
    people.end_session(request.cookies.get(SESSION_COOKIE))
    response = redirect(url_for(".sign_in_form"), code=303)
    clear_console_cookie(response, SESSION_COOKIE)
    return response


def signed_in_response(user: User) -> Response:
    """Start `user`'s session and go home: the cookie set, the pre-session token dropped.
    (Accepting an invitation ends the same way.)"""
    hours = current_app.config["CONSOLE_SESSION_HOURS"]
    session_id, _ = people.start_session(user, timedelta(hours=hours))
    response = redirect(url_for(".home"), code=303)
    set_console_cookie(response, SESSION_COOKIE, session_id, max_age=hours * 3600)
    clear_console_cookie(response, SIGN_IN_CSRF_COOKIE)  # the session has its own token now
    return response


def pre_session_form(template: str, status: int = 200, **context: object) -> Response:
    """A form for someone not signed in (signing in, accepting an invitation), with the
    CSRF token its POST must bring back, also set as a cookie."""
    token = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not csrf.is_token(token):
        token = csrf.new_token()
    page = render_template(template, csrf_token=token, **context)
    response = current_app.make_response((page, status))
    set_console_cookie(response, SIGN_IN_CSRF_COOKIE, token)
    return response


def _sign_in_page(email: str = "", error: str | None = None, status: int = 200) -> Response:
    return pre_session_form("console/sign_in.html", status, email=email, error=error)
