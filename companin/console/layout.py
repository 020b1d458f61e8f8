"""What every signed-in page's frame needs: the navigation, who is signed in, the token."""

from __future__ import annotations

from typing import Any

from flask import Response, g, redirect, request, url_for

from .blueprint import blp
from .guard import may

# (label, the section's page, the role that opens it, the prefix of its pages' endpoints),
# in the navigation's order. A section's pages are named after it: console.knowledge_qa is
# a page of Knowledge.
SECTIONS = (
    ("Inbox", "console.home", "agent", ("console.home", "console.chat")),
    ("Assistants", "console.assistants", "agent", ("console.assistant",)),
    ("Knowledge", "console.knowledge", "agent", ("console.knowledge",)),
    ("Widget", "console.widgets", "agent", ("console.widget",)),
    ("Insights", "console.insights", "agent", ("console.insights",)),
    ("Settings", "console.settings", "agent", ("console.settings",)),
)


# What a page may say after a change, by key: `?notice=<key>` picks one, so that a link
# cannot make the console say words of someone else's choosing.
NOTICES: dict[str, str] = {}


def notices(**texts: str) -> None:
    """Declare a module's notices (key=text)."""
    NOTICES.update(texts)


def done(endpoint: str, notice: str, **values: Any) -> Response:
    """After a change: back to a page (303, so that reloading it changes nothing again),
    which says `notice`."""
    if notice not in NOTICES:
        raise KeyError(f"undeclared notice {notice!r}")
    return redirect(url_for(endpoint, notice=notice, **values), code=303)


@blp.app_template_global()
def console_may(role: str) -> bool:
    return may(role)


@blp.context_processor
def frame() -> dict[str, Any]:
    """The signed-in person, their session's CSRF token, the sections they may open and
    what the last change did."""
    user = g.get("console_user")
    if user is None:
        return {}
    endpoint = request.endpoint or ""
    sections = [
        {"endpoint": page, "label": label, "current": endpoint.startswith(prefixes)}
        for label, page, role, prefixes in SECTIONS
        if may(role)
    ]
    return {
        "user": user,
        "organization": user.organization,
        "csrf_token": g.console_session.csrf_token,
        "sections": sections,
        "notice": NOTICES.get(request.args.get("notice", "")),
    }
