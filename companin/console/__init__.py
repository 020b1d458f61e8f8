"""The team's console: server-rendered pages for the organization's people, at /console/.

Each section of the navigation is a module here (inbox, assistants, knowledge, widgets,
insights, settings); `views` signs people in and out. Pages guard themselves with
`console_requires`, act through the same services as the API with `console_principal()`,
and render templates in templates/console/ framed by `layout`. The console signs people
in with its own cookie (`cookies.py`), never with API keys, and its errors are pages, not
the API's JSON envelope (`pages.py`).
"""

from . import (
    assistants,
    inbox,
    insights,
    invitations,  # noqa: F401 (imported for its routes)
    knowledge,
    layout,
    pages,
    settings,
    views,
    widgets,
)
from .blueprint import blp
from .guard import console_principal, console_requires

__all__ = [
    "assistants",
    "blp",
    "console_principal",
    "console_requires",
    "inbox",
    "insights",
    "knowledge",
    "layout",
    "pages",
    "settings",
    "views",
    "widgets",
]
