"""The console's two cookies, and the one way they are set.

Both are HttpOnly (no script reads them), SameSite=Strict (another site's form or link
never sends them), limited to the console's path, and Secure over HTTPS.
"""

from __future__ import annotations

from flask import Response, request

from ..auth import CONSOLE_PREFIX

# The signed-in person's session id (the server keeps only its hash).
SESSION_COOKIE = "companin_console"
# Before there is a session, the sign-in form's CSRF token (a double-submit cookie).
SIGN_IN_CSRF_COOKIE = "companin_csrf"


def set_console_cookie(
    response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=CONSOLE_PREFIX,
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def clear_console_cookie(response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=CONSOLE_PREFIX, secure=request.is_secure, httponly=True, samesite="Strict"
    )
