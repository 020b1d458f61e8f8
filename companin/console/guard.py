"""Who is signed in to the console, and the guard each console page declares.

`@console_requires("admin")` lets in an admin or an owner: roles rank as
`enums.USER_ROLES` lists them, the most trusted first. Signed out, the page redirects
to the sign-in form; a POST must also carry the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, redirect, request, url_for

from ..enums import USER_ROLES
from ..errors import Forbidden
from ..identity import CONSOLE, Principal
from ..models import ConsoleSession, User
from ..services import people
from .cookies import SESSION_COOKIE, clear_console_cookie
from .csrf import check_form_token

# owner 3, admin 2, agent 1: a role may do all that a lower one may.
ROLE_RANK = {role: len(USER_ROLES) - index for index, role in enumerate(USER_ROLES)}


def signed_in() -> tuple[User, ConsoleSession] | None:
    """The person this request's cookie signs in, and their session, or None."""
    return people.session_user(request.cookies.get(SESSION_COOKIE))


def console_requires(role: str = "agent") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a console page: signed in, with `role` or a higher one. The person and their
    session are in `g.console_user` and `g.console_session` for the view."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(USER_ROLES)}")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            found = signed_in()
            if found is None:
                response = redirect(url_for("console.sign_in_form"))
                if SESSION_COOKIE in request.cookies:  # expired or signed out elsewhere
                    clear_console_cookie(response, SESSION_COOKIE)
                return response
            user, session = found
            if request.method == "POST":
                check_form_token(session.csrf_token)
            if ROLE_RANK[user.role] < ROLE_RANK[role]:
                raise Forbidden(f"Your role ({user.role}) does not open this page.")
            g.console_user, g.console_session = user, session
            return view(*args, **kwargs)

        return guarded

    return decorator


def may(role: str) -> bool:
    """Has the signed-in person `role` or a higher one? (For what a page offers; the
    routes that change things check again with `console_requires`.)"""
    user = g.get("console_user")
    return user is not None and ROLE_RANK[user.role] >= ROLE_RANK[role]


def console_principal() -> Principal:
    """The signed-in person's organization, as the services take it: a console page
    calls the same services as the API, scoped the same way."""
    return Principal(kind=CONSOLE, org_id=g.console_user.organization_id)
