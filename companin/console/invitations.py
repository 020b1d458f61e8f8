"""Accepting an invitation to the team: a public page, for someone not signed in yet.

The link's token is the only credential: the page shows which organization and role it
is for, and asks for a name and a password. Like the sign-in form, the form carries a
CSRF token that is also a cookie (double submit), since there is no session yet; on
success the new person is signed in as signing in does.
"""

from __future__ import annotations

from flask import Response, request
from flask_limiter.util import get_remote_address

from ..errors import CompaninError
from ..extensions import limiter
from ..passwords import MIN_PASSWORD_LENGTH
from ..services import people
from . import csrf
from .blueprint import blp
from .cookies import SESSION_COOKIE, SIGN_IN_CSRF_COOKIE
from .limits import sign_in_limit
from .views import pre_session_form, signed_in_response

PASSWORDS_DIFFER = "The two passwords differ: type the same one twice."


@blp.get("/invitations/<token>")
@limiter.exempt
def invitation(token: str) -> Response:
    """Who invites you, as what; and the form to join."""
    return _invitation_page(token)


# Accepting hashes a password (slow on purpose): limited per IP as signing in is.
@blp.post("/invitations/<token>")
@limiter.limit(sign_in_limit, key_func=get_remote_address)
def invitation_accept(token: str) -> Response:
    """Create the invited person's account and sign them in."""
    csrf.check_form_token(request.cookies.get(SIGN_IN_CSRF_COOKIE))
    name = request.form.get("display_name", "")
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return _invitation_page(token, name=name, error=PASSWORDS_DIFFER, status=422)
    try:
        user = people.accept_invitation(token, name, password)
    except CompaninError as refused:
        if refused.code in (404, 410):  # the link itself is wrong: its error page
            raise
        return _invitation_page(token, name=name, error=str(refused.description), status=422)
    people.end_session(request.cookies.get(SESSION_COOKIE))  # whoever was signed in here
    return signed_in_response(user)


def _invitation_page(token: str, name: str = "", error: str | None = None, status: int = 200):
    invitation = people.invitation_for(token)  # unknown: 404; used or expired: 410
    return pre_session_form(
        "console/invitation.html",
        status,
        invitation=invitation,
        token=token,
        name=name,
        error=error,
        min_password=MIN_PASSWORD_LENGTH,
    )
